'use strict';
// Redis is paused (CLIENT PAUSE 3000 ALL) while two members on one node exchange client events
// every 50 ms and most of the channel's other local subscribers disconnect: client events between
// sockets of one node never wait for Redis.
//
// Case 17, fault injection: CLIENT PAUSE while local members exchange client events.
// helpers/faults.js starts a private redis-server and reverbd nodes against it (lease 2 s) and
// checks the invariant with real pusher-js clients (settle). They run in the redis pass only
// (e2e/README.md).

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { waitUntil } = require('../helpers/clients');
const { faultsSkip, startFaultCluster, settle, delay } = require('../helpers/faults');

describe('cluster under faults: CLIENT PAUSE while local members exchange client events', { skip: faultsSkip() }, () => {
  it('CLIENT PAUSE 3 s while two local members exchange client events every 50 ms and most local subscribers leave: every client event within 300 ms', async (t) => {
    const c = await startFaultCluster(t, { nodes: 2, env: { REVERB_APP_MAX_CLIENT_EVENTS_PER_SECOND: '0' } });
    const room = 'presence-pause';
    const m1 = await c.join(0, 'm1', [room]);
    const m2 = await c.join(0, 'm2', [room]);
    const crowd = [];
    for (let k = 0; k < 18; k++) crowd.push(await c.join(0, `crowd${k}`, [room]));
    await c.join(1, 'remote', [room]);
    await settle(c);

    // m1 and m2 take turns: one client event every 50 ms on the channel.
    const sent = new Map(); // seq → {at, from}
    const arrived = new Map(); // seq → latency
    for (const [me, other] of [[m1, m2], [m2, m1]]) {
      me.channel(room).bind('client-tick', (d, meta) => {
        if (meta.user_id === other.userId) arrived.set(d.seq, Date.now() - d.t);
      });
    }
    let seq = 0;
    const firstAt = Date.now();
    const ticker = setInterval(() => {
      seq++;
      const from = seq % 2 ? m1 : m2;
      const now = Date.now();
      sent.set(seq, { at: now, from: from.userId });
      from.channel(room).trigger('client-tick', { seq, t: now });
    }, 50);
    try {
      await delay(1000);
      await c.pauseRedis(3000);
      for (const s of crowd.slice(0, 15)) s.close();
      await delay(4000);
    } finally {
      clearInterval(ticker);
    }
    await waitUntil(() => arrived.size >= sent.size, 'the last client events', 1000).catch(() => {});

    const late = [];
    for (const [n, s] of sent) {
      const ms = arrived.get(n);
      if (ms === undefined) late.push(`#${n} from ${s.from} (sent at +${s.at - firstAt} ms) never arrived`);
      else if (ms > 300) late.push(`#${n} from ${s.from} took ${ms} ms`);
    }
    const max = Math.max(0, ...arrived.values());
    t.diagnostic(`${sent.size} client events, ${arrived.size} arrived, slowest ${max} ms`);
    const problems = [];
    if (late.length) {
      problems.push(
        `client events between two members of one node must arrive within 300 ms: ${late.length} of ${sent.size} did not (slowest ${max} ms); the first: ${late.slice(0, 5).join('; ')}`,
      );
    }
    try {
      const { ms } = await settle(c);
      t.diagnostic(`settled ${ms} ms after the pause ended`);
    } catch (e) {
      problems.push(e.message);
    }
    if (problems.length) assert.fail(problems.join('\n\n'));
  });
});
