'use strict';
// Case 7: socket_id exclusion (Laravel's ->toOthers()).

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { useServer } = require('../helpers/lifecycle');
const { client, connected, subscribe, once, Recorder } = require('../helpers/clients');

describe('socket_id exclusion', () => {
  const ctx = useServer();

  async function pair(channel) {
    const a = client(ctx.server);
    const b = client(ctx.server);
    const [sa] = await Promise.all([connected(a), connected(b)]);
    const chA = await subscribe(a, channel);
    const chB = await subscribe(b, channel);
    return { a, b, sa, chA, chB };
  }

  it('trigger with socket_id skips that connection, others get it', async () => {
    const channel = 'private-tenant.7';
    const { sa, chA, chB } = await pair(channel);
    const recA = Recorder.named(chA, ['order.shipped', 'marker']);
    const gotB = once(chB, 'order.shipped');
    const res = await ctx.api.trigger(channel, 'order.shipped', '{"id":1}', { socket_id: sa });
    assert.equal(res.status, 200);
    assert.deepEqual((await gotB).data, { id: 1 });

    await ctx.api.trigger(channel, 'marker', '{}');
    await recA.waitFor('marker');
    assert.deepEqual(recA.named('order.shipped'), [], 'the excluded socket must not get the event');
  });

  it('Laravel PHP body shape: single "channel" key plus socket_id', async () => {
    const channel = 'private-tenant.8';
    const { sa, chA, chB } = await pair(channel);
    const recA = Recorder.named(chA, ['App\\Events\\OrderShipped', 'marker']);
    const gotB = once(chB, 'App\\Events\\OrderShipped');
    await ctx.api.post({
      path: '/events',
      body: { name: 'App\\Events\\OrderShipped', data: '{"order":{"id":1}}', channel, socket_id: sa },
    });
    assert.deepEqual((await gotB).data, { order: { id: 1 } });
    await ctx.api.trigger(channel, 'marker', '{}');
    await recA.waitFor('marker');
    assert.deepEqual(recA.named('App\\Events\\OrderShipped'), []);
  });

  it('socket_id exclusion applies to every channel of a multi-channel trigger and to batch items', async () => {
    const a = client(ctx.server);
    const b = client(ctx.server);
    const [sa] = await Promise.all([connected(a), connected(b)]);
    const a1 = await subscribe(a, 'multi-x1');
    const a2 = await subscribe(a, 'multi-x2');
    const b1 = await subscribe(b, 'multi-x1');
    const b2 = await subscribe(b, 'multi-x2');
    const rec1 = Recorder.named(a1, ['e', 'batched', 'marker']);
    const rec2 = Recorder.named(a2, ['e', 'batched', 'marker']);
    const gb1 = once(b1, 'e');
    const gb2 = once(b2, 'e');
    await ctx.api.trigger(['multi-x1', 'multi-x2'], 'e', '{"m":1}', { socket_id: sa });
    await Promise.all([gb1, gb2]);

    const bb = once(b1, 'batched');
    await ctx.api.triggerBatch([{ channel: 'multi-x1', name: 'batched', data: '{"k":1}', socket_id: sa }]);
    await bb;

    await ctx.api.trigger(['multi-x1', 'multi-x2'], 'marker', '{}');
    await Promise.all([rec1.waitFor('marker'), rec2.waitFor('marker')]);
    assert.deepEqual(rec1.names(), ['marker']);
    assert.deepEqual(rec2.names(), ['marker']);
  });

  it('an unknown socket_id excludes nobody', async () => {
    const channel = 'excl-unknown';
    const { chA, chB } = await pair(channel);
    const ga = once(chA, 'x');
    const gb = once(chB, 'x');
    await ctx.api.trigger(channel, 'x', '{}', { socket_id: '123.456' });
    await Promise.all([ga, gb]);
  });
});
