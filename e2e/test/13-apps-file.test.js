'use strict';
// Extra: a second server configured through REVERB_APPS_FILE with several
// apps: isolation between apps, origin allow-list, connection quota and
// accept_client_events_from.

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { useServer } = require('../helpers/lifecycle');
const { sdk, raw, withTimeout } = require('../helpers/clients');

const APPS = [
  { app_id: 'app-a', key: 'key-a', secret: 'secret-a', accept_client_events_from: 'members' },
  { app_id: 'app-b', key: 'key-b', secret: 'secret-b', accept_client_events_from: 'members' },
  { app_id: 'app-origin', key: 'key-origin', secret: 'secret-origin', allowed_origins: ['*.example.com'] },
  { app_id: 'app-quota', key: 'key-quota', secret: 'secret-quota', max_connections: 1 },
  { app_id: 'app-noclient', key: 'key-noclient', secret: 'secret-noclient', accept_client_events_from: 'none' },
];

function errData(frame) {
  return typeof frame.msg.data === 'string' ? JSON.parse(frame.msg.data) : frame.msg.data;
}

function appSdk(server, app) {
  return sdk(server, { appId: app.app_id, key: app.key, secret: app.secret });
}

describe('apps file', () => {
  const ctx = useServer({ apps: APPS, noDefaultApp: true });

  it('events stay within their app', async () => {
    const ra = raw(ctx.server, { key: 'key-a' });
    const rb = raw(ctx.server, { key: 'key-b' });
    await Promise.all([ra.connected(), rb.connected()]);
    await ra.subscribe('shared-name');
    await rb.subscribe('shared-name');
    await appSdk(ctx.server, APPS[0]).trigger('shared-name', 'for-a', '{}');
    await ra.event('for-a', 'shared-name');
    await appSdk(ctx.server, APPS[1]).trigger('shared-name', 'marker', '{}');
    await rb.event('marker', 'shared-name');
    assert.equal(rb.frames.filter((f) => f.msg && f.msg.event === 'for-a').length, 0);
  });

  it('a private-channel signature from another app is refused', async () => {
    const r = raw(ctx.server, { key: 'key-a' });
    const socketId = await r.connected();
    const wrongApp = appSdk(ctx.server, APPS[1]).authorizeChannel(socketId, 'private-x');
    r.send({ event: 'pusher:subscribe', data: { auth: wrongApp.auth, channel: 'private-x' } });
    await r.event('pusher:subscription_error', 'private-x');
  });

  it('origin allow-list: matching host glob connects, others get 4009 then close', async () => {
    const ok = raw(ctx.server, { key: 'key-origin', headers: { Origin: 'https://app.example.com' } });
    await ok.connected();
    const bad = raw(ctx.server, { key: 'key-origin', headers: { Origin: 'https://evil.test' } });
    const closed = await withTimeout(bad.closed, 'close after origin refusal');
    assert.equal(closed.code, 4009);
    assert.equal(bad.frames[0].msg.event, 'pusher:error');
    assert.equal(errData(bad.frames[0]).code, 4009);
    assert.equal(bad.frames.filter((f) => f.msg && f.msg.event === 'pusher:connection_established').length, 0);
  });

  it('max_connections: the connection over quota gets 4004 then close', async () => {
    const first = raw(ctx.server, { key: 'key-quota' });
    await first.connected();
    const second = raw(ctx.server, { key: 'key-quota' });
    const closed = await withTimeout(second.closed, 'close after quota refusal');
    assert.equal(closed.code, 4004);
    assert.equal(second.frames[0].msg.event, 'pusher:error');
    assert.equal(errData(second.frames[0]).code, 4004);
    assert.equal(first.closeInfo, null);
  });

  it('accept_client_events_from=none: client events get 4301, not relayed', async () => {
    const app = APPS[4];
    const api = appSdk(ctx.server, app);
    const s = raw(ctx.server, { key: app.key });
    const r = raw(ctx.server, { key: app.key });
    await Promise.all([s.connected(), r.connected()]);
    await s.subscribe('private-room', { signer: api });
    await r.subscribe('private-room', { signer: api });
    s.send({ event: 'client-hi', channel: 'private-room', data: {} });
    const f = await s.event('pusher:error');
    assert.equal(errData(f).code, 4301);
    await api.trigger('private-room', 'marker', '{}');
    await r.event('marker', 'private-room');
    assert.equal(r.frames.filter((x) => x.msg && x.msg.event === 'client-hi').length, 0);
    assert.equal(s.closeInfo, null);
  });
});
