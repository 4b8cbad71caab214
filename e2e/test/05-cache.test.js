'use strict';
// Case 5: cache channels. The last HTTP-triggered event is kept even when
// nobody is subscribed and is sent right after subscription_succeeded; an empty
// cache channel answers pusher:cache_miss.

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { useServer } = require('../helpers/lifecycle');
const { client, raw, connected, once, waitUntil, Recorder, closeAll } = require('../helpers/clients');

// subscribeAndFirst opens a fresh raw socket, subscribes and returns the
// frames for `channel` from subscription_succeeded to the first frame after it.
async function subscribeAndFirst(ctx, channel) {
  const r = raw(ctx.server);
  await r.connected();
  const ok = await r.subscribe(channel, { signer: ctx.api, user: { user_id: 'c1' } });
  const idx = r.frames.indexOf(ok);
  const next = await r.next(
    (m, f) => r.frames.indexOf(f) > idx && m.channel === channel,
    `first frame after subscription_succeeded on ${channel}`,
  );
  const between = r.frames.slice(idx + 1, r.frames.indexOf(next)).filter((f) => f.msg && f.msg.channel === channel);
  r.close();
  return { next, between };
}

// The HTTP API answers before delivery, so the cache may be filled a moment
// after the response: retry with new subscribers until the expected event is
// the one replayed (or fail after the timeout).
async function expectReplay(ctx, channel, event, data) {
  let last = null;
  await waitUntil(async () => {
    const got = await subscribeAndFirst(ctx, channel);
    last = got;
    return got.next.msg.event === event && got.next.msg.data === data;
  }, `${event} replayed on ${channel} (last saw ${last && last.next.raw})`);
  assert.deepEqual(last.between, [], 'the cached event must come right after subscription_succeeded');
  assert.equal(last.next.msg.channel, channel);
  assert.equal(last.next.msg.data, data, 'the cached data must be byte-identical');
}

describe('cache channels', () => {
  const ctx = useServer();

  it('an empty cache channel answers pusher:cache_miss (wire and pusher-js)', async () => {
    const { next, between } = await subscribeAndFirst(ctx, 'cache-empty');
    assert.deepEqual(between, []);
    assert.equal(next.msg.event, 'pusher:cache_miss');
    assert.equal(next.msg.channel, 'cache-empty');

    const p = client(ctx.server);
    await connected(p);
    const ch = p.subscribe('cache-empty-2');
    const rec = Recorder.channel(ch);
    await rec.waitFor('pusher:cache_miss');
    assert.deepEqual(rec.names(), ['pusher:subscription_succeeded', 'pusher:cache_miss']);
  });

  it('the last event triggered with nobody subscribed is replayed right after subscribing', async () => {
    await ctx.api.trigger('cache-prices', 'price.updated', '{"eur":1.05}');
    await ctx.api.trigger('cache-prices', 'price.updated', '{"eur":1.07}');
    await expectReplay(ctx, 'cache-prices', 'price.updated', '{"eur":1.07}');

    // pusher-js sees it as an ordinary event after subscription_succeeded.
    const p = client(ctx.server);
    await connected(p);
    const ch = p.subscribe('cache-prices');
    const rec = Recorder.channel(ch);
    const got = await rec.waitFor('price.updated');
    assert.deepEqual(got.data, { eur: 1.07 });
    assert.deepEqual(rec.names(), ['pusher:subscription_succeeded', 'price.updated']);
  });

  it('private-cache-: replay after an authorised subscription', async () => {
    await ctx.api.trigger('private-cache-orders.9', 'order.status', '{"status":"shipped"}');
    await expectReplay(ctx, 'private-cache-orders.9', 'order.status', '{"status":"shipped"}');

    const p = client(ctx.server);
    await connected(p);
    const ch = p.subscribe('private-cache-orders.9');
    const rec = Recorder.channel(ch);
    const got = await rec.waitFor('order.status');
    assert.deepEqual(got.data, { status: 'shipped' });
    assert.deepEqual(rec.names(), ['pusher:subscription_succeeded', 'order.status']);

    const empty = p.subscribe('private-cache-nothing');
    const recEmpty = Recorder.channel(empty);
    await recEmpty.waitFor('pusher:cache_miss');
    assert.deepEqual(recEmpty.names(), ['pusher:subscription_succeeded', 'pusher:cache_miss']);
  });

  it('presence-cache-: replay after the presence subscription', async () => {
    await ctx.api.trigger('presence-cache-room', 'topic', '{"t":"hello"}');
    await expectReplay(ctx, 'presence-cache-room', 'topic', '{"t":"hello"}');
  });

  it('an event delivered live to a subscriber is also replayed to a later subscriber', async () => {
    const p = client(ctx.server);
    await connected(p);
    const ch = p.subscribe('cache-live');
    const rec = Recorder.channel(ch);
    await rec.waitFor('pusher:cache_miss');
    const live = once(ch, 'tick');
    await ctx.api.trigger('cache-live', 'tick', '{"n":1}');
    assert.deepEqual((await live).data, { n: 1 });
    // Delivered, hence cached: a new subscriber gets it at once.
    const { next, between } = await subscribeAndFirst(ctx, 'cache-live');
    assert.deepEqual(between, []);
    assert.equal(next.msg.event, 'tick');
    assert.equal(next.msg.data, '{"n":1}');
    closeAll();
  });

  it('a non-cache channel sends neither cache_miss nor a replay', async () => {
    const r = raw(ctx.server);
    await r.connected();
    await r.subscribe('plain-nocache');
    await ctx.api.trigger('plain-nocache', 'marker', '{}');
    await r.event('marker', 'plain-nocache');
    const onChannel = r.frames.filter((f) => f.msg && f.msg.channel === 'plain-nocache').map((f) => f.msg.event);
    assert.deepEqual(onChannel, ['pusher_internal:subscription_succeeded', 'marker']);
  });
});
