'use strict';
// Case 2: private channels with auth; a bad signature gives a channel-scoped
// pusher:subscription_error, nothing is delivered and the connection stays up.

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { useServer } = require('../helpers/lifecycle');
const { APP, client, raw, connected, subscribe, once, Recorder } = require('../helpers/clients');

describe('private channel', () => {
  const ctx = useServer();

  it('subscribes with a valid signature and receives SDK events', async () => {
    const p = client(ctx.server);
    await connected(p);
    const ch = await subscribe(p, 'private-tenant.42');
    assert.equal(ch.subscribed, true);
    const got = once(ch, 'order.paid');
    await ctx.api.trigger('private-tenant.42', 'order.paid', JSON.stringify({ id: 1, total: '9.99' }));
    assert.deepEqual((await got).data, { id: 1, total: '9.99' });
  });

  it('a wrong signature: pusher-js emits pusher:subscription_error {type AuthError, status 401}; connection stays; nothing delivered', async () => {
    const bad = client(ctx.server, { badAuth: (name) => name === 'private-secret' });
    await connected(bad);
    const errors = Recorder.named(bad.connection, ['error']);
    const seen = [];
    bad.connection.bind('message', (m) => seen.push(m));

    const ch = bad.subscribe('private-secret');
    const succeeded = Recorder.named(ch, ['pusher:subscription_succeeded']);
    const { data } = await once(ch, 'pusher:subscription_error', undefined, 'pusher:subscription_error on private-secret');
    assert.equal(data.type, 'AuthError');
    assert.equal(data.status, 401);
    assert.equal(typeof data.error, 'string');
    assert.ok(data.error.length > 0, 'error message must not be empty');
    assert.equal(ch.subscribed, false);

    // A properly authorised witness on the same channel proves the event fans out.
    const witness = raw(ctx.server);
    await witness.connected();
    await witness.subscribe('private-secret', { signer: ctx.api });
    await ctx.api.trigger('private-secret', 'leak', '{"secret":true}');
    await witness.event('leak', 'private-secret');

    // The rejected connection still works: it can subscribe elsewhere and receive.
    assert.equal(bad.connection.state, 'connected');
    const other = await subscribe(bad, 'private-open');
    const marker = once(other, 'marker');
    await ctx.api.trigger('private-open', 'marker', '{}');
    await marker;

    assert.equal(bad.connection.state, 'connected');
    assert.deepEqual(seen.filter((m) => m.channel === 'private-secret' && m.event === 'leak'), []);
    assert.deepEqual(succeeded.names(), []);
    // Errors reported on the connection (optional 4009 frame) must not be close errors.
    for (const e of errors.events) {
      assert.notEqual(e.data && e.data.type, 'WebSocketError', `unexpected connection error ${JSON.stringify(e.data)}`);
    }
  });

  it('wire format of the refusal: channel-scoped pusher:subscription_error, no close', async () => {
    const r = raw(ctx.server);
    const socketId = await r.connected();
    r.send({
      event: 'pusher:subscribe',
      data: { auth: `${APP.key}:${'ab'.repeat(32)}`, channel: 'private-wire' },
    });
    const f = await r.event('pusher:subscription_error', 'private-wire');
    const data = typeof f.msg.data === 'string' ? JSON.parse(f.msg.data) : f.msg.data;
    assert.equal(data.type, 'AuthError');
    assert.equal(data.status, 401);
    assert.equal(typeof data.error, 'string');

    // A missing auth is refused the same way.
    r.send({ event: 'pusher:subscribe', data: { channel: 'private-noauth' } });
    await r.event('pusher:subscription_error', 'private-noauth');

    // A signature for another socket id is refused.
    const other = ctx.api.authorizeChannel('1.1', 'private-stolen');
    r.send({ event: 'pusher:subscribe', data: { auth: other.auth, channel: 'private-stolen' } });
    await r.event('pusher:subscription_error', 'private-stolen');

    // The socket is still open and usable: a good subscription succeeds afterwards.
    const good = ctx.api.authorizeChannel(socketId, 'private-wire');
    r.send({ event: 'pusher:subscribe', data: { auth: good.auth, channel: 'private-wire' } });
    await r.event('pusher_internal:subscription_succeeded', 'private-wire');
    assert.equal(r.closeInfo, null);
    assert.equal(
      r.frames.filter(
        (fr) =>
          fr.msg &&
          fr.msg.event === 'pusher_internal:subscription_succeeded' &&
          ['private-noauth', 'private-stolen'].includes(fr.msg.channel),
      ).length,
      0,
    );
  });

  it('accepts client->server data as a JSON string too', async () => {
    const r = raw(ctx.server);
    const socketId = await r.connected();
    const a = ctx.api.authorizeChannel(socketId, 'private-stringdata');
    r.send({ event: 'pusher:subscribe', data: JSON.stringify({ auth: a.auth, channel: 'private-stringdata' }) });
    const f = await r.event('pusher_internal:subscription_succeeded', 'private-stringdata');
    assert.equal(f.msg.channel, 'private-stringdata');
  });
});
