'use strict';
// The reload pattern: one user's socket closes on one node while a new one opens on the next node,
// forty times, watched from three nodes. The first join and the last leave are decided once for
// the cluster, and every watcher sees the same alternating member_added and member_removed stream.
//
// Case 17, fault injection: the reload pattern across three nodes. helpers/faults.js starts a
// private redis-server and reverbd nodes against it (lease 2 s) and checks the invariant with real
// pusher-js clients (settle). They run in the redis pass only (e2e/README.md).

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { faultsSkip, startFaultCluster, settle, delay, rng } = require('../helpers/faults');

describe('cluster under faults: the reload pattern across three nodes', { skip: faultsSkip() }, () => {
  it('reload: a user\'s socket closes on one node and reopens on another within 20 ms, forty times, watched from three nodes', async (t) => {
    const c = await startFaultCluster(t, { nodes: 3 });
    const room = 'presence-reload';
    const watchers = [];
    for (let i = 0; i < 3; i++) watchers.push(await c.join(i, `watcher${i}`, [room]));
    // What each watcher gets on the wire about the reloading user: + member_added, - removed.
    const events = watchers.map(() => []);
    watchers.forEach((w, i) => {
      w.p.connection.bind('message', (ev) => {
        if (ev.channel !== room) return;
        const data = typeof ev.data === 'string' ? JSON.parse(ev.data) : ev.data;
        if (!data || data.user_id !== 'reloader') return;
        if (ev.event === 'pusher_internal:member_added') events[i].push('+');
        if (ev.event === 'pusher_internal:member_removed') events[i].push('-');
      });
    });
    let cur = await c.join(0, 'reloader', [room]);
    await settle(c);

    // As a page reload does, the new socket (on the next node) opens while the old one
    // closes: the old one closes 0-20 ms after the new one started, so the new subscription
    // lands sometimes before and sometimes after the server handles the close.
    const rand = rng(t);
    for (let k = 1; k <= 40; k++) {
      const next = c.join(k % 3, 'reloader', [room]);
      await delay(Math.floor(rand() * 20));
      cur.close();
      c.fault(`reload ${k}: reopened on node ${k % 3}`);
      cur = await next;
      await delay(Math.floor(rand() * 30));
    }
    const problems = [];
    try {
      const { ms } = await settle(c);
      t.diagnostic(`settled ${ms} ms after the last reopen`);
    } catch (e) {
      problems.push(e.message);
    }
    // Each first join and last leave is decided once for the cluster and reaches every
    // watcher: the three see the same stream, and it alternates (+-+-…+).
    const streams = events.map((e) => e.join(''));
    t.diagnostic(`member events for reloader per watcher: ${streams.join(' | ')}`);
    streams.forEach((st, i) => {
      if (!/^(\+-)*\+$/.test(st)) problems.push(`the watcher on node ${i} got member_added (+) and member_removed (-) out of turn: ${st}`);
    });
    if (!streams.every((st) => st === streams[0])) problems.push(`the watchers got different member event streams: ${streams.join(' | ')}`);
    if (problems.length) assert.fail(problems.join('\n\n'));
  });
});
