'use strict';
// A node stopped with SIGSTOP for longer than its lease is presumed dead: the others reap its
// sockets and announce its users gone. Once it runs again (SIGCONT) its sockets are still open, so
// its users must come back everywhere.
//
// Case 17, fault injection: SIGSTOP a node for longer than its lease, then SIGCONT.
// helpers/faults.js starts a private redis-server and reverbd nodes against it (lease 2 s) and
// checks the invariant with real pusher-js clients (settle). They run in the redis pass only
// (e2e/README.md).

const { describe, it } = require('node:test');
const { waitUntil } = require('../helpers/clients');
const { faultsSkip, startFaultCluster, settle, delay, usersVia } = require('../helpers/faults');

describe('cluster under faults: SIGSTOP a node for longer than its lease, then SIGCONT', { skip: faultsSkip() }, () => {
  it('a node paused (SIGSTOP) for longer than its lease, then resumed: its users are back everywhere', async (t) => {
    const c = await startFaultCluster(t, { nodes: 3 });
    const room = 'presence-stop.1';
    const side = 'presence-stop.2';
    await c.join(0, 'a1', [room, side]);
    await c.join(0, 'both', [room]);
    await c.join(1, 'b1', [room, side]);
    await c.join(2, 'c1', [room, side]);
    await c.join(2, 'c2', [room]);
    await c.join(2, 'both', [room]);
    await settle(c);

    c.pause(2);
    // The fault took effect: node 2's lease expired and the others reaped its users.
    await waitUntil(
      async () => {
        const ids = await usersVia(c.node(0), room);
        return !ids.includes('c1') && !ids.includes('c2');
      },
      "node 2's users reaped through node 0",
      c.leaseMs + 5000,
      100,
    );
    await delay(500);
    c.resume(2);
    const { ms } = await settle(c);
    t.diagnostic(`settled ${ms} ms after SIGCONT`);
  });
});
