'use strict';
// Case 18: built-in TLS. reverbd serves wss:// and https:// on its own port with
// REVERB_SERVER_TLS_CERT/REVERB_SERVER_TLS_KEY (a self-signed certificate made with openssl),
// with no proxy in front: pusher-js with forceTLS, as a page of the Laravel app configured with
// REVERB_SCHEME=https would be, and the `pusher` SDK over https, as Laravel's broadcaster.
// Requires openssl: skipped when missing, a failure under CI=true.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const { describe, it, before, after } = require('node:test');
const { useServer } = require('../helpers/lifecycle');
const { PusherJS, sdk, client, raw, connected, subscribe, once, Recorder, getJSON } = require('../helpers/clients');
const { findTools, selfSignedCert, trustInPusherJS } = require('../helpers/nginx');

const { openssl } = findTools();
const CI = process.env.CI === 'true';
const missing = openssl ? '' : 'openssl not found (Debian: apt-get install -y openssl)';

// get resolves with {status, body} of a plain http GET.
function get(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      })
      .on('error', reject);
  });
}

describe('built-in TLS (REVERB_SERVER_TLS_CERT, REVERB_SERVER_TLS_KEY)', { skip: missing && !CI ? `${missing}; under CI=true this fails` : false }, () => {
  if (missing) {
    it('openssl is installed', () => assert.fail(missing));
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverbd-tls-'));
  const { cert, key, ca } = selfSignedCert(openssl, dir);
  const ctx = useServer({ env: { REVERB_SERVER_TLS_CERT: cert, REVERB_SERVER_TLS_KEY: key }, ca });
  const t = {};
  before(() => {
    // The `pusher` SDK as Laravel's broadcaster uses it with REVERB_SCHEME=https.
    t.api = sdk(ctx.server, { useTLS: true, agent: new https.Agent({ ca, keepAlive: true }) });
    t.trust = trustInPusherJS(PusherJS, ca);
  });
  after(() => {
    if (t.trust) t.trust.restore();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // A pusher-js client as Echo builds it from VITE_REVERB_* with REVERB_SCHEME=https.
  function tlsClient(opts = {}) {
    return client(ctx.server, {
      signer: t.api,
      ...opts,
      pusher: {
        wsHost: ctx.server.host,
        wsPort: ctx.server.port,
        wssPort: ctx.server.port,
        forceTLS: true,
        enabledTransports: ['ws', 'wss'],
      },
    });
  }

  it('pusher-js with forceTLS connects over wss:// on the first attempt and receives a private event triggered over https', async () => {
    const before = t.trust.sockets();
    const p = tlsClient();
    await connected(p);
    assert.equal(t.trust.sockets() - before, 1, 'one socket, no retry');
    const ch = await subscribe(p, 'private-orders.1');
    const got = once(ch, 'order.shipped');
    const res = await t.api.trigger('private-orders.1', 'order.shipped', JSON.stringify({ id: 1, url: 'https://x.test/1' }));
    assert.equal(res.status, 200);
    assert.deepEqual((await got).data, { id: 1, url: 'https://x.test/1' });
  });

  it('presence and client events between two pusher-js clients over wss://', async () => {
    const a = tlsClient({ user: { user_id: '1', user_info: { name: 'Ada' } } });
    const b = tlsClient({ user: { user_id: '2', user_info: { name: 'Lin' } } });
    await Promise.all([connected(a), connected(b)]);
    const chA = await subscribe(a, 'presence-room');
    const joined = once(chA, 'pusher:member_added');
    const chB = await subscribe(b, 'presence-room');
    assert.equal((await joined).data.id, '2');
    assert.equal(chB.members.count, 2);
    const typing = once(chA, 'client-typing');
    chB.trigger('client-typing', { user: 'Lin' });
    assert.deepEqual((await typing).data, { user: 'Lin' });
  });

  it('the SDK over https: a batch, channel info, and a 9 KB payload byte for byte on a raw wss:// socket', async () => {
    const r = raw(ctx.server, { tls: { ca } });
    await r.connected();
    await r.subscribe('tls-bytes');
    const payload = JSON.stringify({ pad: 'é'.repeat(4000), n: 1 });
    const batch = await t.api.triggerBatch([
      { channel: 'tls-bytes', name: 'big', data: payload },
      { channel: 'tls-bytes', name: 'small', data: '{"n":2}' },
    ]);
    assert.equal(batch.status, 200);
    assert.equal((await r.event('big', 'tls-bytes')).msg.data, payload);
    assert.equal((await r.event('small', 'tls-bytes')).msg.data, '{"n":2}');
    const info = await getJSON(t.api, '/channels/tls-bytes', { info: 'subscription_count' });
    assert.equal(info.status, 200);
    assert.equal(info.body.subscription_count, 1);
  });

  it('a burst of events reaches every pusher-js client in order over wss://', async () => {
    const clients = Array.from({ length: 20 }, () => tlsClient());
    await Promise.all(clients.map((p) => connected(p)));
    const recorders = [];
    for (const p of clients) recorders.push(Recorder.channel(await subscribe(p, 'tls-burst')));
    for (let i = 0; i < 50; i++) {
      const res = await t.api.trigger('tls-burst', 'tick', JSON.stringify({ i }));
      assert.equal(res.status, 200);
    }
    for (const rec of recorders) {
      await rec.waitFor('tick', { count: 50 });
      assert.deepEqual(
        rec.named('tick').map((e) => e.data.i),
        Array.from({ length: 50 }, (_, i) => i),
      );
    }
  });

  it('plain http:// to the TLS port is answered 400 naming https://; a plain ws:// client never connects', async () => {
    const res = await get(`http://127.0.0.1:${ctx.server.port}/up`);
    assert.equal(res.status, 400);
    assert.match(res.body, /https:\/\//);
    const r = raw(ctx.server);
    const closed = await r.closed;
    assert.equal(r.frames.length, 0);
    assert.notEqual(closed.code, 1000);
  });
});
