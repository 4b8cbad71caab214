'use strict';
// Case 19: subscription counting (REVERB_APP_SUBSCRIPTION_COUNT=true) with pusher-js clients
// split over two cluster nodes: the `pusher:subscription_count` binding gets the channel's
// count across the cluster ({subscription_count: n}, pusher-js channel.subscriptionCount
// follows it), and a presence channel gets none. Like case 14 it always starts its own two
// nodes sharing a Redis.

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { useCluster } = require('../helpers/lifecycle');
const { client, connected, subscribe, Recorder } = require('../helpers/clients');

describe('subscription_count across two cluster nodes', () => {
  const ctx = useCluster(2, { env: { REVERB_APP_SUBSCRIPTION_COUNT: 'true' } });
  const A = () => ctx.servers[0];
  const B = () => ctx.servers[1];

  // watch connects a pusher-js client to `server` and subscribes to `name`, recording its
  // subscription counts and markers from before the subscribe.
  async function watch(server, name, opts = {}) {
    const p = client(server, opts);
    await connected(p);
    const ch = p.subscribe(name);
    const rec = Recorder.named(ch, ['pusher:subscription_count', 'marker']);
    await subscribe(p, name);
    return { p, ch, rec };
  }

  // counted waits until rec has been told `n` (`count` times).
  const counted = (rec, n, count = 1) =>
    rec.waitFor('pusher:subscription_count', { count, where: (e) => e.data.subscription_count === n });

  it('pusher-js: every subscriber on either node is told the cluster-wide count', async () => {
    const name = 'private-room.1';
    const a = await watch(A(), name);
    await counted(a.rec, 1);
    const b = await watch(B(), name);
    await counted(b.rec, 2);
    await counted(a.rec, 2);
    assert.equal(a.ch.subscriptionCount, 2, 'channel.subscriptionCount follows the event');

    const c = await watch(B(), name);
    for (const w of [a, b, c]) await counted(w.rec, 3);

    // Two leave on node B: the one left on node A is told 1 (the second change at most a
    // second after the first). It may have been told 1 twice when it joined (the count its
    // own subscribe caused, and the latest count a new subscriber gets), so the ones before
    // the leaves are counted first.
    const ones = a.rec.named('pusher:subscription_count').filter((e) => e.data.subscription_count === 1).length;
    b.p.disconnect();
    c.p.disconnect();
    await counted(a.rec, 1, ones + 1);
    assert.equal(a.ch.subscriptionCount, 1);
  });

  it('pusher-js: a presence channel gets member events, no count', async () => {
    const name = 'presence-room.2';
    const a = await watch(A(), name, { user: { user_id: '7' } });
    const b = await watch(B(), name, { user: { user_id: '9' } });
    await ctx.apis[0].trigger(name, 'marker', '{}');
    await a.rec.waitFor('marker');
    await b.rec.waitFor('marker');
    assert.deepEqual(a.rec.named('pusher:subscription_count'), []);
    assert.deepEqual(b.rec.named('pusher:subscription_count'), []);
  });
});
