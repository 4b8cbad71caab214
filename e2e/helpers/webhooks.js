'use strict';
// A webhook receiver for the tests: an HTTP server on 127.0.0.1 that checks every request the
// way a Laravel app does, with the Pusher SDK's own validation (the `pusher` package's
// webhook(): Content-Type exactly application/json, X-Pusher-Key the app's key,
// X-Pusher-Signature the HMAC-SHA256 of the exact body with the app's secret).
//
// - receiver.requests: every request, in arrival order: {raw, signature, valid, status, data}.
// - receiver.events(): the events of the requests it accepted (answered 2xx), in order, each
//   with the batch's time_ms.
// - receiver.answer(fn): fn(request index) → the status to answer (default 200).
// - receiver.down() / receiver.up(): stop listening (connections refused) and listen again on
//   the same port.

const http = require('node:http');
const PusherSDK = require('pusher');
const { APP } = require('./server');
const { waitUntil } = require('./clients');

class Receiver {
  constructor() {
    this.requests = [];
    this.status = () => 200;
    this.sockets = new Set();
    this.validator = new PusherSDK({ appId: APP.id, key: APP.key, secret: APP.secret });
    this.server = null;
    this.port = 0;
  }

  get url() {
    return `http://127.0.0.1:${this.port}/pusher/webhooks`;
  }

  answer(fn) {
    this.status = fn;
  }

  handle(req, res) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const hook = this.validator.webhook({ headers: req.headers, rawBody: raw });
      const valid = hook.isValid();
      const index = this.requests.length;
      const status = valid ? this.status(index) : 401;
      this.requests.push({
        raw,
        signature: req.headers['x-pusher-signature'],
        valid,
        status,
        data: valid ? hook.getData() : null,
        headers: req.headers,
      });
      res.writeHead(status, { 'Content-Type': 'text/plain' });
      res.end(status < 300 ? 'ok' : 'no');
    });
  }

  async up() {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', resolve);
    });
    this.port = this.server.address().port;
  }

  async down() {
    const s = this.server;
    this.server = null;
    if (!s) return;
    for (const c of this.sockets) c.destroy();
    await new Promise((resolve) => s.close(resolve));
  }

  // events lists the events of the accepted requests, in arrival order.
  events() {
    const out = [];
    for (const r of this.requests) {
      if (!r.valid || r.status >= 300) continue;
      for (const e of r.data.events) out.push({ ...e, time_ms: r.data.time_ms });
    }
    return out;
  }

  // on lists the accepted events of one channel, as "name", or "name user_id" for member
  // events; subscription_count events are left out.
  on(channel) {
    return this.events()
      .filter((e) => e.channel === channel && e.name !== 'subscription_count')
      .map((e) => (e.name.startsWith('member_') ? `${e.name} ${e.user_id}` : e.name));
  }

  waitFor(fn, what, ms = 15000) {
    return waitUntil(fn, what, ms, 50);
  }
}

// startReceiver starts a receiver and registers its shutdown with t.after.
async function startReceiver(t) {
  const r = new Receiver();
  await r.up();
  t.after(() => r.down());
  return r;
}

module.exports = { startReceiver };
