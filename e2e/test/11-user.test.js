'use strict';
// Case 11: user authentication (pusher:signin), server-to-user events and
// terminate_connections.

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { useServer } = require('../helpers/lifecycle');
const {
  APP, client, raw, connected, once, stateIs, waitUntil, Recorder,
} = require('../helpers/clients');

function errData(frame) {
  return typeof frame.msg.data === 'string' ? JSON.parse(frame.msg.data) : frame.msg.data;
}

// signedIn signs a pusher-js client in and waits for the server's
// subscription_succeeded on its #server-to-user channel.
async function signedIn(p) {
  await connected(p);
  const ok = once(p, 'pusher:signin_success', undefined, 'pusher:signin_success');
  p.signin();
  const { data } = await ok;
  await waitUntil(
    () => p.user.serverToUserChannel && p.user.serverToUserChannel.subscribed,
    '#server-to-user subscription',
  );
  return data;
}

describe('user authentication', () => {
  const ctx = useServer();

  it('pusher.signin() succeeds; user_data is the signed string', async () => {
    const user = { id: '77', user_info: { name: 'Ada' } };
    const p = client(ctx.server, { signinUser: user });
    const data = await signedIn(p);
    assert.equal(typeof data.user_data, 'string');
    assert.deepEqual(JSON.parse(data.user_data), user);
    assert.deepEqual(p.user.user_data, user);
    assert.equal(p.connection.state, 'connected');
  });

  it('sendToUser reaches every connection signed in as that user, and nobody else', async () => {
    const u1 = client(ctx.server, { signinUser: { id: 'u-1' } });
    const u1b = client(ctx.server, { signinUser: { id: 'u-1' } });
    const u2 = client(ctx.server, { signinUser: { id: 'u-2' } });
    await Promise.all([signedIn(u1), signedIn(u1b), signedIn(u2)]);
    const rec2 = Recorder.named(u2.user, ['notice', 'marker']);
    const g1 = once(u1.user, 'notice', undefined, 'notice on u1');
    const g1b = once(u1b.user, 'notice', undefined, 'notice on u1 (second connection)');
    const res = await ctx.api.sendToUser('u-1', 'notice', { text: 'Your export is ready', url: 'https://x.test/e/1' });
    assert.equal(res.status, 200);
    const expected = { text: 'Your export is ready', url: 'https://x.test/e/1' };
    assert.deepEqual((await g1).data, expected);
    assert.deepEqual((await g1b).data, expected);

    await ctx.api.sendToUser('u-2', 'marker', {});
    await rec2.waitFor('marker');
    assert.deepEqual(rec2.named('notice'), []);
  });

  it('wire: signin_success data carries user_data as a string; #server-to-user frames', async () => {
    const r = raw(ctx.server);
    const socketId = await r.connected();
    const userData = { id: '9', user_info: { name: 'Lin' } };
    const signed = ctx.api.authenticateUser(socketId, userData);
    r.send({ event: 'pusher:signin', data: signed });
    const ok = await r.event('pusher:signin_success');
    const data = typeof ok.msg.data === 'string' ? JSON.parse(ok.msg.data) : ok.msg.data;
    assert.equal(data.user_data, signed.user_data);

    await ctx.api.sendToUser('9', 'hello', '{"a":1}');
    const f = await r.event('hello', '#server-to-user-9');
    assert.equal(f.msg.data, '{"a":1}');

    // Own user channel: subscription succeeds; somebody else's is refused.
    r.send({ event: 'pusher:subscribe', data: { auth: '', channel: '#server-to-user-9' } });
    await r.event('pusher_internal:subscription_succeeded', '#server-to-user-9');
    r.send({ event: 'pusher:subscribe', data: { auth: '', channel: '#server-to-user-10' } });
    await r.event('pusher:subscription_error', '#server-to-user-10');
    assert.equal(r.closeInfo, null);
  });

  it('a bad signin signature → pusher:error 4009 then close 4009', async () => {
    const r = raw(ctx.server);
    await r.connected();
    r.send({
      event: 'pusher:signin',
      data: { auth: `${APP.key}:${'0'.repeat(64)}`, user_data: '{"id":"5"}' },
    });
    const f = await r.event('pusher:error');
    assert.equal(errData(f).code, 4009);
    const closed = await r.closed;
    assert.equal(closed.code, 4009);
  });

  it('terminateUserConnections closes the signed-in user connections with 4009; pusher-js stays disconnected', async () => {
    const victim = client(ctx.server, { signinUser: { id: 'bad-user' } });
    const bystander = client(ctx.server, { signinUser: { id: 'good-user' } });
    await Promise.all([signedIn(victim), signedIn(bystander)]);
    const errors = Recorder.named(victim.connection, ['error']);
    const states = [];
    victim.connection.bind('state_change', ({ current }) => states.push(current));

    const res = await ctx.api.terminateUserConnections('bad-user');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {});
    await stateIs(victim, 'disconnected');
    // The close code 4009 is reported by pusher-js as an error with that code.
    await errors.waitFor('error', { where: (e) => e.data && e.data.data && e.data.data.code === 4009 });
    assert.ok(!states.includes('connecting'), `must not reconnect, states: ${states.join(',')}`);

    // The bystander is unaffected.
    const g = once(bystander.user, 'still-here');
    await ctx.api.sendToUser('good-user', 'still-here', {});
    await g;
    assert.equal(bystander.connection.state, 'connected');
    assert.ok(!states.includes('connecting'), `must not reconnect, states: ${states.join(',')}`);
  });

  it('wire: terminate → pusher:error 4009 frame then close 4009', async () => {
    const r = raw(ctx.server);
    const socketId = await r.connected();
    r.send({ event: 'pusher:signin', data: ctx.api.authenticateUser(socketId, { id: 'term-wire' }) });
    await r.event('pusher:signin_success');
    await ctx.api.terminateUserConnections('term-wire');
    const f = await r.event('pusher:error');
    assert.equal(errData(f).code, 4009);
    assert.equal((await r.closed).code, 4009);
  });

  it('terminate also closes connections identified only by a presence user_id', async () => {
    const r = raw(ctx.server);
    await r.connected();
    await r.subscribe('presence-term', { signer: ctx.api, user: { user_id: 'presence-only' } });
    const other = raw(ctx.server);
    await other.connected();
    await other.subscribe('presence-term', { signer: ctx.api, user: { user_id: 'stays' } });

    await ctx.api.terminateUserConnections('presence-only');
    assert.equal((await r.closed).code, 4009);
    const removed = await other.event('pusher_internal:member_removed', 'presence-term');
    assert.equal(JSON.parse(removed.msg.data).user_id, 'presence-only');
    assert.equal(other.closeInfo, null);
  });
});
