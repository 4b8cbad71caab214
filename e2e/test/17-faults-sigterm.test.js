'use strict';
// A node with 300 members stopped with SIGTERM announces them gone (member_removed on the other
// nodes) within 3 s, and keeps a user that still has a socket on another node.
//
// Case 17, fault injection: SIGTERM a node. helpers/faults.js starts a private redis-server and
// reverbd nodes against it (lease 2 s) and checks the invariant with real pusher-js clients
// (settle). They run in the redis pass only (e2e/README.md).

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { waitUntil } = require('../helpers/clients');
const { faultsSkip, startFaultCluster, settle } = require('../helpers/faults');

describe('cluster under faults: SIGTERM a node', { skip: faultsSkip() }, () => {
  it('SIGTERM a node: its members are announced gone within 3 s', async (t) => {
    const c = await startFaultCluster(t, { nodes: 3 });
    const rooms = ['presence-term.1', 'presence-term.2'];
    const watchers = [await c.join(0, 'w0', rooms), await c.join(1, 'w1', rooms)];
    // 300 members on the node that stops: ten pusher-js clients and 290 bare sockets.
    const leaving = [];
    for (let k = 0; k < 10; k++) {
      leaving.push(`t${k}`);
      await c.join(2, `t${k}`, rooms);
    }
    for (let k = 10; k < 300; k += 29) {
      const batch = Array.from({ length: 29 }, (_, j) => `t${k + j}`);
      leaving.push(...batch);
      await Promise.all(batch.map((u) => c.connectBare(2, u, rooms)));
    }
    await c.join(0, 'both', rooms);
    await c.join(2, 'both', rooms);
    await settle(c);

    const removed = new Map(); // "watcher room user" → ms after SIGTERM
    let t0 = 0;
    for (const w of watchers) {
      for (const room of rooms) {
        w.channel(room).bind('pusher:member_removed', (m) => removed.set(`${w.userId} ${room} ${m.id}`, Date.now() - t0));
      }
    }
    t0 = Date.now();
    const exit = c.terminate(2);
    const expected = [];
    for (const w of watchers) for (const room of rooms) for (const u of leaving) expected.push(`${w.userId} ${room} ${u}`);
    await waitUntil(() => expected.every((k) => removed.has(k)), 'member_removed', 3000 - (Date.now() - t0), 20).catch(() => {});
    const missing = expected.filter((k) => !removed.has(k) || removed.get(k) > 3000);
    const slowest = Math.max(0, ...removed.values());
    t.diagnostic(`${removed.size} member_removed, the last ${slowest} ms after SIGTERM`);
    assert.deepEqual(missing, [], 'member_removed within 3 s of SIGTERM (watcher room user)');
    assert.equal([...removed.keys()].filter((k) => k.endsWith(' both')).length, 0, '"both" still has a socket on node 0');
    const { code, signal } = await exit;
    assert.equal(code, 0, `the terminated node exits 0 (signal ${signal})`);

    const { ms } = await settle(c);
    t.diagnostic(`settled ${ms} ms after SIGTERM`);
  });
});
