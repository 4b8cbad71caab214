'use strict';
// Case 1: public channel, SDK trigger, payload bytes relayed untouched.

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { useServer } = require('../helpers/lifecycle');
const { client, raw, connected, subscribe, once, Recorder, waitUntil, getJSON } = require('../helpers/clients');

describe('public channel', () => {
  const ctx = useServer();

  // What Laravel's PHP encoder produces: "\/" escapes and \u escapes for non-ASCII.
  const PHP_JSON =
    '{"url":"https:\\/\\/example.com\\/orders\\/1","name":"Zo\\u00eb \\u2713","emoji":"\\ud83d\\ude80","nested":{"a":[1,2.5,null,true]}}';

  it('connection_established is the first frame, with a valid socket_id and non-zero activity_timeout', async () => {
    const r = raw(ctx.server);
    const f = await r.event('pusher:connection_established');
    assert.equal(r.frames[0], f, 'connection_established must be the first frame');
    assert.equal(typeof f.msg.data, 'string', 'data must be a JSON string');
    const data = JSON.parse(f.msg.data);
    assert.match(data.socket_id, /^\d+\.\d+$/);
    assert.equal(Number.isInteger(data.activity_timeout), true);
    assert.ok(data.activity_timeout > 0);
  });

  it('pusher-js receives an SDK-triggered event with the payload parsed', async () => {
    const p = client(ctx.server);
    await connected(p);
    const ch = await subscribe(p, 'orders');
    const got = once(ch, 'order.created');
    const res = await ctx.api.trigger('orders', 'order.created', PHP_JSON);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {});
    const { data } = await got;
    assert.deepEqual(data, {
      url: 'https://example.com/orders/1',
      name: 'Zoë ✓',
      emoji: '🚀',
      nested: { a: [1, 2.5, null, true] },
    });
  });

  it('the data string is relayed byte-for-byte (escapes, unicode, key order kept)', async () => {
    const r = raw(ctx.server);
    await r.connected();
    await r.subscribe('raw-bytes');
    const sub = r.frames.find((f) => f.msg && f.msg.event === 'pusher_internal:subscription_succeeded');
    assert.equal(sub.msg.channel, 'raw-bytes');

    await ctx.api.trigger('raw-bytes', 'App\\Events\\OrderShipped', PHP_JSON);
    const f = await r.event('App\\Events\\OrderShipped', 'raw-bytes');
    assert.equal(typeof f.msg.data, 'string', 'server->client data must be a JSON string');
    assert.equal(f.msg.data, PHP_JSON, 'payload must be byte-identical to the triggered data');
    assert.equal(f.msg.channel, 'raw-bytes');
  });

  it('a non-JSON data string arrives as that string in pusher-js', async () => {
    const p = client(ctx.server);
    await connected(p);
    const ch = await subscribe(p, 'plain-text');
    const got = once(ch, 'note');
    await ctx.api.trigger('plain-text', 'note', 'hello / world \u00e9');
    assert.equal((await got).data, 'hello / world é');
  });

  it('events published one after another to a channel arrive in publish order', async () => {
    const p = client(ctx.server);
    await connected(p);
    const ch = await subscribe(p, 'ordered');
    const rec = Recorder.named(ch, ['step']);
    for (let i = 0; i < 20; i++) {
      await ctx.api.trigger('ordered', 'step', JSON.stringify({ i }));
    }
    await rec.waitFor('step', { count: 20 });
    assert.deepEqual(
      rec.named('step').map((e) => e.data.i),
      Array.from({ length: 20 }, (_, i) => i),
    );
  });

  it('unsubscribe stops delivery on that channel only', async () => {
    const p = client(ctx.server);
    await connected(p);
    await subscribe(p, 'unsub-a');
    const b = await subscribe(p, 'unsub-b');
    const seen = [];
    p.connection.bind('message', (m) => seen.push(m));
    // A witness that stays on unsub-a proves the event was fanned out.
    const witness = raw(ctx.server);
    await witness.connected();
    await witness.subscribe('unsub-a');

    p.unsubscribe('unsub-a');
    // pusher:unsubscribe has no reply: wait until the server counts one subscription left.
    await waitUntil(async () => {
      const { body } = await getJSON(ctx.api, '/channels/unsub-a', { info: 'subscription_count' });
      return body.subscription_count === 1;
    }, 'unsub-a to drop to one subscription');

    await ctx.api.trigger('unsub-a', 'x', '{"n":1}');
    await witness.event('x', 'unsub-a');
    const marker = once(b, 'marker');
    await ctx.api.trigger('unsub-b', 'marker', '{"n":2}');
    assert.deepEqual((await marker).data, { n: 2 });
    assert.deepEqual(
      seen.filter((m) => m.channel === 'unsub-a' && m.event === 'x'),
      [],
      'no event may arrive on an unsubscribed channel',
    );
  });
});
