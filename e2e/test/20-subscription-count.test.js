'use strict';
// Case 19: subscription counting (REVERB_APP_SUBSCRIPTION_COUNT=true) with pusher-js clients
// split over two cluster nodes: the `pusher:subscription_count` binding gets the channel's
// count across the cluster ({subscription_count: n}, pusher-js channel.subscriptionCount
// follows it), and a presence channel gets none. Like case 14 it always starts its own two
// nodes sharing a Redis.

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { useCluster } = require('../helpers/lifecycle');
const { useServer } = require('../helpers/lifecycle');
const { client, connected, subscribe, Recorder } = require('../helpers/clients');

// checkCacheOrder subscribes pusher-js clients to the cache channel `name`: one on `first`
// while nothing is cached, one on `second` after `api` triggered an event there. Each must
// see subscription_succeeded, then pusher:cache_miss or the cached event, then its first
// count.
async function checkCacheOrder(name, first, second, api) {
  // join records every event of a new subscriber on `server` until its first count.
  async function join(server) {
    const p = client(server);
    await connected(p);
    const rec = Recorder.channel(p.subscribe(name));
    await rec.waitFor('pusher:subscription_count');
    return rec;
  }
  const a = await join(first);
  assert.deepEqual(a.names().slice(0, 3), ['pusher:subscription_succeeded', 'pusher:cache_miss', 'pusher:subscription_count']);
  await api.trigger(name, 'price', { eur: 1.07 });
  await a.waitFor('price'); // stored in the cache before it was delivered
  const b = await join(second);
  assert.deepEqual(b.names().slice(0, 3), ['pusher:subscription_succeeded', 'price', 'pusher:subscription_count']);
  assert.deepEqual(b.named('price')[0].data, { eur: 1.07 });
  await b.waitFor('pusher:subscription_count', { where: (e) => e.data.subscription_count === 2 });
}

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

  it('pusher-js: on a cache channel the cached event or pusher:cache_miss comes right after subscription_succeeded, then the count', async () => {
    await checkCacheOrder('cache-prices.3', A(), B(), ctx.apis[0]);
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

describe('subscription_count on one node', () => {
  const ctx = useServer({ env: { REVERB_APP_SUBSCRIPTION_COUNT: 'true' } });

  it('pusher-js: on a cache channel the cached event or pusher:cache_miss comes right after subscription_succeeded, then the count', async () => {
    await checkCacheOrder('cache-prices.1', ctx.server, ctx.server, ctx.api);
  });
});
