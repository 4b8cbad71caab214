'use strict';
// Case 8: batch trigger with and without info; multi-channel trigger; trigger
// responses with info.

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { useServer } = require('../helpers/lifecycle');
const { client, raw, connected, subscribe, once, Recorder } = require('../helpers/clients');

describe('batch and multi-channel triggers', () => {
  const ctx = useServer();

  it('triggerBatch without info delivers every item and answers exactly {}', async () => {
    const p = client(ctx.server);
    await connected(p);
    const b1 = await subscribe(p, 'batch-1');
    const b2 = await subscribe(p, 'private-batch-2');
    const g1 = once(b1, 'order.paid');
    const g2 = once(b2, 'order.shipped');
    const res = await ctx.api.triggerBatch([
      { channel: 'batch-1', name: 'order.paid', data: { id: 1 } },
      { channel: 'private-batch-2', name: 'order.shipped', data: '"hi"' },
    ]);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '{}');
    assert.deepEqual((await g1).data, { id: 1 });
    assert.equal((await g2).data, 'hi');
  });

  it('triggerBatch with info answers {"batch":[...]} in request order, {} for items without info', async () => {
    const u1 = client(ctx.server, { user: { user_id: 'u1' } });
    const u2 = client(ctx.server, { user: { user_id: 'u2' } });
    const u1b = client(ctx.server, { user: { user_id: 'u1' } });
    await Promise.all([connected(u1), connected(u2), connected(u1b)]);
    await subscribe(u1, 'presence-batch');
    await subscribe(u2, 'presence-batch');
    await subscribe(u1b, 'presence-batch');
    const pub = await subscribe(u1, 'batch-info');

    const g = once(pub, 'note');
    const res = await ctx.api.triggerBatch([
      { channel: 'batch-info', name: 'note', data: '{}' },
      { channel: 'presence-batch', name: 'note', data: '{}', info: 'user_count,subscription_count' },
      { channel: 'batch-info', name: 'note2', data: '{}', info: 'subscription_count' },
    ]);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      batch: [{}, { user_count: 2, subscription_count: 3 }, { subscription_count: 1 }],
    });
    await g;
  });

  it('a batch with one invalid item is refused whole (400) and nothing is sent', async () => {
    const r = raw(ctx.server);
    await r.connected();
    await r.subscribe('batch-allornothing');
    let status = null;
    try {
      await ctx.api.post({
        path: '/batch_events',
        body: {
          batch: [
            { channel: 'batch-allornothing', name: 'good', data: '{}' },
            { channel: 'batch-allornothing', name: 'bad' }, // no data
          ],
        },
      });
    } catch (e) {
      status = e.status;
    }
    assert.equal(status, 400);
    await ctx.api.trigger('batch-allornothing', 'marker', '{}');
    await r.event('marker', 'batch-allornothing');
    assert.equal(r.frames.filter((f) => f.msg && f.msg.event === 'good').length, 0);
  });

  it('more than 10 batch items → 400', async () => {
    const batch = Array.from({ length: 11 }, (_, i) => ({ channel: 'batch-big', name: `e${i}`, data: '{}' }));
    await assert.rejects(ctx.api.triggerBatch(batch), (e) => e.status === 400);
  });

  it('multi-channel trigger: one frame per subscribed channel, exact data', async () => {
    const p = client(ctx.server);
    await connected(p);
    const seen = [];
    p.connection.bind('message', (m) => {
      if (m.event === 'fanout') seen.push(m.channel);
    });
    const m1 = await subscribe(p, 'multi-1');
    const m3 = await subscribe(p, 'private-multi-3');
    const rec1 = Recorder.named(m1, ['fanout', 'marker']);
    const rec3 = Recorder.named(m3, ['fanout', 'marker']);
    const res = await ctx.api.trigger(['multi-1', 'multi-2', 'private-multi-3'], 'fanout', { x: 'y' });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {});
    await Promise.all([rec1.waitFor('fanout'), rec3.waitFor('fanout')]);
    assert.deepEqual(rec1.named('fanout')[0].data, { x: 'y' });
    assert.deepEqual(rec3.named('fanout')[0].data, { x: 'y' });

    await ctx.api.trigger(['multi-1', 'private-multi-3'], 'marker', '{}');
    await Promise.all([rec1.waitFor('marker'), rec3.waitFor('marker')]);
    assert.deepEqual(seen.sort(), ['multi-1', 'private-multi-3'], 'exactly one frame per subscribed channel');
  });

  it('trigger with info returns counts per requested channel, zeros when empty', async () => {
    const a = client(ctx.server, { user: { user_id: 'x1' } });
    const b = client(ctx.server, { user: { user_id: 'x2' } });
    await Promise.all([connected(a), connected(b)]);
    await subscribe(a, 'presence-info-room');
    await subscribe(b, 'presence-info-room');
    await subscribe(a, 'info-news');
    const res = await ctx.api.trigger(['presence-info-room', 'info-news', 'info-nobody'], 'x', '{}', {
      info: 'user_count,subscription_count',
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      channels: {
        'presence-info-room': { user_count: 2, subscription_count: 2 },
        'info-news': { subscription_count: 1 },
        'info-nobody': { subscription_count: 0 },
      },
    });
  });
});
