'use strict';
// Case 19: Pusher's authorized connections
// (https://pusher.com/docs/channels/using_channels/authorized-connections/). With
// REVERB_APP_USER_AUTHENTICATION_TIMEOUT set, a connection that has neither signed in nor
// subscribed to a private or presence channel by then is closed with 4009, which pusher-js
// does not reconnect after; authorized connections stay.

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { useServer } = require('../helpers/lifecycle');
const {
  client, raw, connected, subscribe, once, stateIs, Recorder,
} = require('../helpers/clients');

function errData(frame) {
  return typeof frame.msg.data === 'string' ? JSON.parse(frame.msg.data) : frame.msg.data;
}

describe('authorized connections', () => {
  const ctx = useServer({ env: { REVERB_APP_USER_AUTHENTICATION_TIMEOUT: '1' } });

  it('signed-in and private subscribers stay; a public-only client gets 4009 and stays disconnected', async () => {
    const signedIn = client(ctx.server, { signinUser: { id: 'ac-1' } });
    await connected(signedIn);
    const ok = once(signedIn, 'pusher:signin_success', undefined, 'pusher:signin_success');
    signedIn.signin();
    await ok;
    const priv = client(ctx.server);
    const privCh = await subscribe(priv, 'private-ac');

    // Opened after the others: once it is closed, their time has passed too.
    const anon = client(ctx.server);
    await connected(anon);
    await subscribe(anon, 'ac-public');
    const errors = Recorder.named(anon.connection, ['error']);
    const states = [];
    anon.connection.bind('state_change', ({ current }) => states.push(current));
    const start = Date.now();
    await stateIs(anon, 'disconnected', 5000);
    assert.ok(Date.now() - start >= 500, 'closed before the timeout');
    await errors.waitFor('error', { where: (e) => e.data && e.data.data && e.data.data.code === 4009 });
    assert.ok(!states.includes('connecting'), `must not reconnect, states: ${states.join(',')}`);

    const got = once(privCh, 'still-here');
    await ctx.api.trigger('private-ac', 'still-here', { ok: true });
    assert.deepEqual((await got).data, { ok: true });
    assert.equal(priv.connection.state, 'connected');
    assert.equal(signedIn.connection.state, 'connected');
  });

  it('wire: pusher:error 4009 frame then close 4009', async () => {
    const r = raw(ctx.server);
    await r.connected();
    const f = await r.event('pusher:error');
    assert.deepEqual(errData(f), { code: 4009, message: 'Connection not authorized within timeout.' });
    assert.equal((await r.closed).code, 4009);
  });
});
