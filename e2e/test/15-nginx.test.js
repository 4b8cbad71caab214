'use strict';
// Case 15: behind a real nginx running deployment/nginx/reverbd.conf (read from the
// repository, changed only mechanically: see helpers/nginx.js). nginx keeps upstream
// connections alive (`keepalive 32`) for both /apps/ and /app/, so a WebSocket upgrade that
// follows an HTTP API call goes to reverbd on the connection that call used. Each round
// here is what a Laravel app and its pages do: a broadcast through the HTTP API, then a new
// wss:// connection, which must connect on its first attempt, subscribe and get the next
// broadcast. Requires nginx and openssl: skipped when missing, a failure under CI=true.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const https = require('node:https');
const http = require('node:http');
const { describe, it, before, after } = require('node:test');
const { useServer } = require('../helpers/lifecycle');
const { PusherJS, sdk, client, raw, connected, subscribe, once } = require('../helpers/clients');
const { SITE_FILE, findTools, rewriteSite, startNginx, trustInPusherJS } = require('../helpers/nginx');

const tools = findTools();
const CI = process.env.CI === 'true';

// get resolves with {status, headers, body} of a GET (https when ca is given).
function get(url, ca) {
  const mod = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.get(url, ca ? { ca } : {}, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

// behindNginx starts reverbd (with REVERB_SERVER_PATH=prefix when set) and nginx in front of
// it, and runs the rounds through nginx.
function behindNginx({ prefix = '', rounds, rawSockets }) {
  const ng = {};
  // Registered before useServer's hooks so that nginx stops before reverbd does.
  after(async () => {
    if (ng.trust) ng.trust.restore();
    if (ng.nginx) await ng.nginx.stop();
  });
  const ctx = useServer(prefix ? { env: { REVERB_SERVER_PATH: prefix } } : {});
  before(async () => {
    ng.nginx = await startNginx({ tools, upstreamPort: ctx.server.port, prefix });
    const { host, httpsPort, ca } = ng.nginx;
    ng.front = { host, port: httpsPort };
    ng.base = `https://${host}:${httpsPort}${prefix}`;
    // The Node SDK has no path option (pusher-http-php has one); it signs the path
    // without the prefix, which reverbd accepts, so the prefix rides on the port.
    ng.api = sdk(ng.front, {
      useTLS: true,
      port: `${httpsPort}${prefix}`,
      agent: new https.Agent({ ca, keepAlive: true }),
    });
    ng.trust = trustInPusherJS(PusherJS, ca);
  });

  // A pusher-js client configured as a page of the Laravel app would be with
  // REVERB_HOST/REVERB_PORT=the nginx host/port and REVERB_SCHEME=https.
  function pusherThroughNginx() {
    return client(ng.front, {
      signer: ng.api,
      pusher: {
        wsHost: ng.front.host,
        wsPort: ng.front.port,
        wssPort: ng.front.port,
        wsPath: prefix,
        forceTLS: true,
        enabledTransports: ['ws', 'wss'],
      },
    });
  }

  it(`GET ${prefix}/up through nginx answers reverbd's health`, async () => {
    const res = await get(`${ng.base}/up`, ng.nginx.ca);
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(JSON.parse(res.body), { health: 'OK' });
  });

  it(`${rounds} rounds: API trigger, then a new pusher-js wss:// connection connects on its first attempt, subscribes and receives`, async () => {
    for (let i = 0; i < rounds; i++) {
      const warm = await ng.api.trigger('nginx-warm', 'broadcast', JSON.stringify({ round: i }));
      assert.equal(warm.status, 200, `round ${i}: trigger through nginx`);

      const socketsBefore = ng.trust.sockets();
      const p = pusherThroughNginx();
      const states = [p.connection.state]; // pusher-js starts connecting in its constructor
      const errors = [];
      p.connection.bind('state_change', ({ current }) => states.push(current));
      p.connection.bind('error', (e) => errors.push(e));
      const why = () =>
        `round ${i}: states ${JSON.stringify(states)}, errors ${JSON.stringify(errors)}, ` +
        `sockets opened ${ng.trust.sockets() - socketsBefore}`;
      try {
        await connected(p);
      } catch (e) {
        assert.fail(`${e.message}; ${why()}`);
      }
      const channel = `private-nginx.${i}`;
      const ch = await subscribe(p, channel);
      const got = once(ch, 'round.done', undefined, `round.done on ${channel}`);
      const res = await ng.api.trigger(channel, 'round.done', JSON.stringify({ round: i }));
      assert.equal(res.status, 200);
      assert.deepEqual((await got).data, { round: i });

      assert.equal(ng.trust.sockets() - socketsBefore, 1, `one socket, no retry: ${why()}`);
      assert.deepEqual(states, ['connecting', 'connected'], why());
      assert.deepEqual(errors, [], why());
      p.disconnect();
    }
  });

  it(`${rawSockets} raw upgrades right after ${rawSockets} concurrent API calls all get connection_established, stay open and receive`, async () => {
    // Concurrent calls leave several idle kept-alive upstream connections; the upgrades
    // that follow take them over.
    const calls = await Promise.all(
      Array.from({ length: rawSockets }, (_, i) => ng.api.trigger('nginx-warm', 'broadcast', JSON.stringify({ i }))),
    );
    assert.deepEqual(
      calls.map((r) => r.status),
      calls.map(() => 200),
    );
    const sockets = Array.from({ length: rawSockets }, () =>
      raw(ng.front, { tls: { ca: ng.nginx.ca }, path: prefix }),
    );
    await Promise.all(sockets.map((r) => r.connected()));
    await Promise.all(sockets.map((r) => r.subscribe('nginx-raw')));
    for (const r of sockets) r.send({ event: 'pusher:ping', data: {} });
    await Promise.all(sockets.map((r) => r.event('pusher:pong')));
    const res = await ng.api.trigger('nginx-raw', 'fanout', '{"n":1}');
    assert.equal(res.status, 200);
    const frames = await Promise.all(sockets.map((r) => r.event('fanout', 'nginx-raw')));
    for (const f of frames) assert.equal(f.msg.data, '{"n":1}');
    for (const r of sockets) assert.equal(r.closeInfo, null, `${r.url} closed`);
  });

  return ng;
}

describe(
  'behind nginx with deployment/nginx/reverbd.conf',
  { skip: tools.missing && !CI ? `${tools.missing}; under CI=true this fails` : false },
  () => {
    if (tools.missing) {
      it('nginx and openssl are installed', () => assert.fail(tools.missing));
      return;
    }

    describe('the shipped file, rewritten mechanically', () => {
      const shipped = fs.readFileSync(SITE_FILE, 'utf8');
      const opts = { upstreamPort: 1001, httpsPort: 1002, httpPort: 1003, cert: '/c.pem', key: '/k.pem' };

      it('keeps everything but ports, addresses and certificate paths', () => {
        const site = rewriteSite(shipped, opts);
        assert.match(site, /^\s*keepalive 32;$/m);
        assert.match(site, /server 127\.0\.0\.1:1001;/);
        assert.match(site, /listen 127\.0\.0\.1:1002 ssl;/);
        assert.match(site, /ssl_certificate\s+\/c\.pem;/);
        const strip = (s) => s.split('\n').filter((l) => !/^\s*(listen|server 127|ssl_certificate)/.test(l));
        assert.deepEqual(strip(site), strip(shipped));
      });

      it('refuses a file whose targets moved, rather than test another config', () => {
        for (const [from, to] of [
          ['listen 443 ssl;', 'listen 8443 ssl;'],
          ['listen 80;', 'listen 80 default_server;'],
          ['server 127.0.0.1:8080;', 'server localhost:8080;'],
          ['ssl_certificate     /etc', 'ssl_certificate /etc/a.pem;\n    ssl_certificate     /etc'],
        ]) {
          assert.ok(shipped.includes(from), `test data: ${from}`);
          assert.throws(() => rewriteSite(shipped.replace(from, to), opts), /reverbd\.conf/, from);
        }
      });
    });

    describe('at the root', () => {
      const ng = behindNginx({ rounds: 40, rawSockets: 20 });

      it('plain http redirects to https; paths other than /app/, /apps/, /up are 404', async () => {
        const redirect = await get(`http://127.0.0.1:${ng.nginx.httpPort}/app/e2e-key?protocol=7`);
        assert.equal(redirect.status, 301);
        assert.match(redirect.headers.location, /^https:\/\/127\.0\.0\.1\/app\/e2e-key\?protocol=7$/);
        const other = await get(`https://127.0.0.1:${ng.nginx.httpsPort}/metrics`, ng.nginx.ca);
        assert.equal(other.status, 404);
      });

      it('the [::] listen serves too (skipped without IPv6)', async (t) => {
        if (!ng.nginx.ipv6) {
          t.skip('no IPv6 loopback: the [::] listens were dropped');
          return;
        }
        const res = await get(`https://[::1]:${ng.nginx.httpsPort}/up`, ng.nginx.ca);
        assert.equal(res.status, 200);
      });
    });

    describe('under REVERB_SERVER_PATH=/ws, locations prefixed', () => {
      behindNginx({ prefix: '/ws', rounds: 24, rawSockets: 10 });
    });
  },
);
