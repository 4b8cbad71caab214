'use strict';
// Case 6: client events (whispers). Relayed to the other subscribers of
// private/presence channels, with user_id on presence, never echoed; refused
// with 4301 elsewhere; 4009 when the sender is not subscribed (members mode).

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { useServer } = require('../helpers/lifecycle');
const { client, raw, connected, subscribe, once, Recorder } = require('../helpers/clients');

function errData(frame) {
  return typeof frame.msg.data === 'string' ? JSON.parse(frame.msg.data) : frame.msg.data;
}

describe('client events', () => {
  const ctx = useServer();

  it('private channel: relayed to others, not echoed, no user_id', async () => {
    const a = client(ctx.server);
    const b = client(ctx.server);
    await Promise.all([connected(a), connected(b)]);
    const chA = await subscribe(a, 'private-chat.1');
    const chB = await subscribe(b, 'private-chat.1');
    const recA = Recorder.named(chA, ['client-typing', 'marker']);
    const got = once(chB, 'client-typing');
    assert.equal(chA.trigger('client-typing', { typing: true, who: 'a' }), true);
    const { data, metadata } = await got;
    assert.deepEqual(data, { typing: true, who: 'a' });
    assert.equal(metadata.user_id, undefined);

    await ctx.api.trigger('private-chat.1', 'marker', '{}');
    await recA.waitFor('marker');
    assert.deepEqual(recA.named('client-typing'), [], 'a client event must not be echoed to its sender');
  });

  it('presence channel: relayed with the sender user_id, not echoed', async () => {
    const a = client(ctx.server, { user: { user_id: '11', user_info: { name: 'Ada' } } });
    const b = client(ctx.server, { user: { user_id: '22', user_info: { name: 'Lin' } } });
    await Promise.all([connected(a), connected(b)]);
    const chA = await subscribe(a, 'presence-chat.1');
    const chB = await subscribe(b, 'presence-chat.1');
    const recA = Recorder.named(chA, ['client-typing', 'marker']);
    const got = once(chB, 'client-typing');
    chA.trigger('client-typing', { typing: true });
    const { data, metadata } = await got;
    assert.deepEqual(data, { typing: true });
    assert.equal(metadata.user_id, '11');

    // And the other way round.
    const back = once(chA, 'client-reply');
    chB.trigger('client-reply', { ok: 1 });
    const r = await back;
    assert.deepEqual(r.data, { ok: 1 });
    assert.equal(r.metadata.user_id, '22');

    await ctx.api.trigger('presence-chat.1', 'marker', '{}');
    await recA.waitFor('marker');
    assert.deepEqual(recA.named('client-typing'), []);
  });

  it('wire format: data relayed unchanged (object stays object, string stays string), user_id is a string', async () => {
    const channel = 'presence-wire-chat';
    const s = raw(ctx.server);
    const r = raw(ctx.server);
    await Promise.all([s.connected(), r.connected()]);
    await s.subscribe(channel, { signer: ctx.api, user: { user_id: 5 } });
    await r.subscribe(channel, { signer: ctx.api, user: { user_id: '6' } });

    s.send({ event: 'client-obj', channel, data: { a: [1, 'x'], b: null } });
    const f1 = await r.event('client-obj', channel);
    assert.deepEqual(f1.msg.data, { a: [1, 'x'], b: null });
    assert.equal(f1.msg.user_id, '5');

    s.send({ event: 'client-str', channel, data: 'just text' });
    const f2 = await r.event('client-str', channel);
    assert.equal(f2.msg.data, 'just text');
    assert.equal(f2.msg.user_id, '5');
  });

  it('public channel: pusher:error 4301, nothing relayed, connection kept', async () => {
    const a = client(ctx.server);
    const b = client(ctx.server);
    await Promise.all([connected(a), connected(b)]);
    const chA = await subscribe(a, 'public-chat');
    const chB = await subscribe(b, 'public-chat');
    const recB = Recorder.named(chB, ['client-typing', 'marker']);
    const errors = Recorder.named(a.connection, ['error']);

    const err = once(a, 'pusher:error');
    chA.trigger('client-typing', { typing: true });
    const { data } = await err;
    assert.equal(data.code, 4301);
    assert.equal(typeof data.message, 'string');
    // pusher-js reports the frame on the connection too.
    const connErr = await errors.waitFor('error');
    assert.equal(connErr.data.type, 'PusherError');
    assert.equal(connErr.data.data.code, 4301);

    await ctx.api.trigger('public-chat', 'marker', '{}');
    await recB.waitFor('marker');
    assert.deepEqual(recB.named('client-typing'), []);
    assert.equal(a.connection.state, 'connected');

    // Still usable afterwards.
    const again = once(chA, 'after');
    await ctx.api.trigger('public-chat', 'after', '{}');
    await again;
    assert.equal(a.connection.state, 'connected');
  });

  it('cache (public) channel: 4301 too', async () => {
    const s = raw(ctx.server);
    await s.connected();
    await s.subscribe('cache-chat');
    s.send({ event: 'client-x', channel: 'cache-chat', data: {} });
    const f = await s.event('pusher:error');
    assert.equal(errData(f).code, 4301);
    assert.equal(s.closeInfo, null);
  });

  it('sender not subscribed (members mode): 4009 frame, not relayed, connection kept', async () => {
    const channel = 'private-members-only';
    const member = raw(ctx.server);
    await member.connected();
    await member.subscribe(channel, { signer: ctx.api });
    const outsider = raw(ctx.server);
    await outsider.connected();

    outsider.send({ event: 'client-intrude', channel, data: { x: 1 } });
    const f = await outsider.event('pusher:error');
    assert.equal(errData(f).code, 4009);

    await ctx.api.trigger(channel, 'marker', '{}');
    await member.event('marker', channel);
    assert.equal(member.frames.filter((x) => x.msg && x.msg.event === 'client-intrude').length, 0);
    assert.equal(outsider.closeInfo, null);
  });
});
