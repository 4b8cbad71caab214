'use strict';
// Client factories and waiting helpers shared by the test files.
//
// - sdk(server)            the `pusher` Node server SDK pointed at reverbd
// - client(server, opts)   a pusher-js client whose auth handlers sign with the SDK
//                          (they play the Laravel app's /broadcasting/auth)
// - echo(server, opts)     a Laravel Echo instance on top of pusher-js
// - raw(server, opts)      a bare `ws` client that records every frame as sent
//
// Every client made here is remembered and closed by closeAll().

const PusherJS = require('pusher-js');
const PusherSDK = require('pusher');
// laravel-echo 2.x declares "type":"module", so its CommonJS build does not load
// through require() on Node 20; import the ES module instead.
const echoModule = import('laravel-echo');
const WebSocket = require('ws');
const { APP } = require('./server');

const DEFAULT_TIMEOUT = 5000;
const open = new Set();

// withTimeout rejects with a clear message when promise does not settle in
// time. It is only used to fail a test, never to wait for something.
function withTimeout(promise, what, ms = DEFAULT_TIMEOUT) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// waitUntil polls an (async) condition until it returns a truthy value.
// Used only to wait for a state the test then relies on.
async function waitUntil(fn, what, ms = DEFAULT_TIMEOUT, every = 25) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, every));
  }
}

function sdk(server, extra = {}) {
  return new PusherSDK({
    appId: APP.id,
    key: APP.key,
    secret: APP.secret,
    host: server.host,
    port: String(server.port),
    useTLS: false,
    ...extra,
  });
}

// client makes a pusher-js client.
//   opts.key          app key (default e2e-key)
//   opts.signer       SDK used to sign auth (default sdk(server))
//   opts.user         {user_id, user_info} for presence channel_data
//   opts.signinUser   {id, user_info, ...} for userAuthentication
//   opts.badAuth      (channelName) => bool: answer with a wrong signature
//   opts.pusher       extra pusher-js options
function client(server, opts = {}) {
  const signer = opts.signer || sdk(server);
  const key = opts.key || APP.key;
  const p = new PusherJS(key, {
    wsHost: server.host,
    wsPort: server.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    cluster: 'mt1',
    channelAuthorization: {
      customHandler: authHandler(signer, opts),
    },
    userAuthentication: {
      customHandler: userAuthHandler(signer, opts),
    },
    ...(opts.pusher || {}),
  });
  open.add({ close: () => p.disconnect() });
  return p;
}

function authHandler(signer, opts) {
  return (params, callback) => {
    try {
      const { socketId, channelName } = params;
      const presence = channelName.startsWith('presence-');
      const auth = signer.authorizeChannel(
        socketId,
        channelName,
        presence ? opts.user || { user_id: 'anon' } : undefined,
      );
      if (opts.badAuth && opts.badAuth(channelName)) {
        // A well-formed but wrong signature, as a misconfigured app would send.
        auth.auth = `${APP.key}:${'0'.repeat(64)}`;
      }
      callback(null, auth);
    } catch (e) {
      callback(e, null);
    }
  };
}

function userAuthHandler(signer, opts) {
  return (params, callback) => {
    try {
      callback(null, signer.authenticateUser(params.socketId, opts.signinUser || { id: 'anon' }));
    } catch (e) {
      callback(e, null);
    }
  };
}

// echo resolves with a Laravel Echo instance the way a Laravel app's bootstrap/echo.js does
// for Reverb, with the auth endpoint replaced by a custom handler signing with the SDK.
async function echo(server, opts = {}) {
  const Echo = (await echoModule).default;
  const signer = opts.signer || sdk(server);
  const e = new Echo({
    broadcaster: opts.broadcaster || 'reverb',
    key: APP.key,
    wsHost: server.host,
    wsPort: server.port,
    wssPort: server.port,
    forceTLS: false,
    enabledTransports: ['ws', 'wss'],
    cluster: 'mt1', // required by pusher-js; Echo's 'reverb' broadcaster blanks it
    Pusher: PusherJS,
    channelAuthorization: { customHandler: authHandler(signer, opts) },
    userAuthentication: { customHandler: userAuthHandler(signer, opts) },
  });
  open.add({ close: () => e.disconnect() });
  return e;
}

// connected resolves with the socket id once the pusher-js client is connected.
function connected(p, ms) {
  if (p.connection.state === 'connected') return Promise.resolve(p.connection.socket_id);
  return withTimeout(
    new Promise((resolve) => {
      const cb = () => {
        p.connection.unbind('connected', cb);
        resolve(p.connection.socket_id);
      };
      p.connection.bind('connected', cb);
    }),
    'pusher-js connection',
    ms,
  );
}

// stateIs waits for a pusher-js connection state.
function stateIs(p, state, ms) {
  if (p.connection.state === state) return Promise.resolve(state);
  return withTimeout(
    new Promise((resolve) => {
      const cb = ({ current }) => {
        if (current === state) {
          p.connection.unbind('state_change', cb);
          resolve(current);
        }
      };
      p.connection.bind('state_change', cb);
    }),
    `pusher-js state ${state}`,
    ms,
  );
}

// once resolves with {data, metadata} the next time `bindable` emits `event`.
// bindable is anything with bind/unbind (channel, pusher, pusher.connection,
// pusher.user).
function once(bindable, event, ms, what) {
  return withTimeout(
    new Promise((resolve) => {
      const cb = (data, metadata) => {
        bindable.unbind(event, cb);
        resolve({ data, metadata });
      };
      bindable.bind(event, cb);
    }),
    what || `event ${event}`,
    ms,
  );
}

// subscribe subscribes and waits for pusher:subscription_succeeded.
async function subscribe(p, name, ms) {
  const ch = p.subscribe(name);
  if (ch.subscribed) return ch;
  await once(ch, 'pusher:subscription_succeeded', ms, `subscription_succeeded on ${name}`);
  return ch;
}

// Recorder keeps every event a channel (or other bindable) emits, in order,
// and lets a test wait for the n-th occurrence of a name.
class Recorder {
  constructor() {
    this.events = [];
    this.waiters = [];
  }

  // attach records every event of a pusher-js channel (bind_global) or a
  // list of named events of any bindable.
  static channel(ch) {
    const r = new Recorder();
    ch.bind_global((event, data) => r.push(event, data, undefined));
    return r;
  }

  static named(bindable, names) {
    const r = new Recorder();
    for (const n of names) bindable.bind(n, (data, metadata) => r.push(n, data, metadata));
    return r;
  }

  push(event, data, metadata) {
    this.events.push({ event, data, metadata });
    for (const w of [...this.waiters]) w();
  }

  named(event) {
    return this.events.filter((e) => e.event === event);
  }

  names() {
    return this.events.map((e) => e.event);
  }

  // waitFor resolves with the entry once `event` has been seen `count` times
  // (predicate optional).
  waitFor(event, { count = 1, where = () => true, ms } = {}) {
    const find = () => {
      const hits = this.events.filter((e) => e.event === event && where(e));
      return hits.length >= count ? hits[count - 1] : null;
    };
    const hit = find();
    if (hit) return Promise.resolve(hit);
    return withTimeout(
      new Promise((resolve) => {
        const w = () => {
          const h = find();
          if (h) {
            this.waiters = this.waiters.filter((x) => x !== w);
            resolve(h);
          }
        };
        this.waiters.push(w);
      }),
      `${event} #${count}`,
      ms,
    );
  }
}

// RawClient: a bare WebSocket speaking the Pusher protocol, recording frames
// exactly as the server sent them (frame.raw is the text, frame.msg the parsed
// envelope). opts.tls (options for `ws`, e.g. {ca}) makes it connect with wss://;
// opts.path is a route prefix (REVERB_SERVER_PATH).
class RawClient {
  constructor(server, { key = APP.key, headers, tls, path = '' } = {}) {
    const scheme = tls ? 'wss' : 'ws';
    this.url = `${scheme}://${server.host}:${server.port}${path}/app/${key}?protocol=7&client=js&version=8.6.0&flash=false`;
    this.frames = [];
    this.waiters = [];
    this.closeInfo = null;
    this.ws = new WebSocket(this.url, { headers, ...(tls || {}) });
    this.ws.on('message', (buf, isBinary) => {
      const raw = buf.toString('utf8');
      let msg = null;
      try {
        msg = JSON.parse(raw);
      } catch (e) {
        msg = null;
      }
      this.frames.push({ raw, msg, isBinary });
      this.notify();
    });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        this.notify();
        resolve(this.closeInfo);
      });
    });
    this.ws.on('error', () => {});
    open.add({ close: () => this.close() });
  }

  notify() {
    for (const w of [...this.waiters]) w();
  }

  // next resolves with the first recorded frame (from index `from`) matching pred.
  next(pred, what = 'frame', ms) {
    const find = () => this.frames.find((f, i) => i >= (this.from || 0) && f.msg && pred(f.msg, f));
    const hit = find();
    if (hit) return Promise.resolve(hit);
    return withTimeout(
      new Promise((resolve, reject) => {
        const w = () => {
          const h = find();
          if (h) {
            this.waiters = this.waiters.filter((x) => x !== w);
            resolve(h);
          } else if (this.closeInfo) {
            this.waiters = this.waiters.filter((x) => x !== w);
            reject(new Error(`socket closed (${this.closeInfo.code} ${this.closeInfo.reason}) before ${what}`));
          }
        };
        this.waiters.push(w);
      }),
      what,
      ms,
    );
  }

  event(name, channel, ms) {
    return this.next(
      (m) => m.event === name && (channel === undefined || m.channel === channel),
      `${name}${channel ? ` on ${channel}` : ''}`,
      ms,
    );
  }

  async connected(ms) {
    const f = await this.event('pusher:connection_established', undefined, ms);
    this.socketId = JSON.parse(f.msg.data).socket_id;
    return this.socketId;
  }

  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  // subscribe signs like the Laravel app would (signer = SDK) and waits for
  // pusher_internal:subscription_succeeded.
  async subscribe(channel, { signer, user } = {}) {
    const data = { auth: '', channel };
    if (signer && !isPublic(channel)) {
      const a = signer.authorizeChannel(
        this.socketId,
        channel,
        channel.startsWith('presence-') ? user : undefined,
      );
      data.auth = a.auth;
      if (a.channel_data) data.channel_data = a.channel_data;
    }
    this.send({ event: 'pusher:subscribe', data });
    return this.event('pusher_internal:subscription_succeeded', channel);
  }

  close() {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.terminate();
    }
  }
}

function isPublic(channel) {
  return !channel.startsWith('private-') && !channel.startsWith('presence-') && !channel.startsWith('#');
}

function raw(server, opts) {
  return new RawClient(server, opts);
}

// closeAll disconnects every client made since the last call.
function closeAll() {
  for (const c of open) {
    try {
      c.close();
    } catch (e) {
      // already closed
    }
  }
  open.clear();
}

// channelInfo reads GET /channels/{name} through the SDK.
async function getJSON(api, path, params) {
  const res = await api.get({ path, params });
  return { status: res.status, body: await res.json() };
}

// collector returns a callback (for Echo's fluent API) that records every call and lets the
// test await the n-th call.
function collector() {
  const calls = [];
  let waiters = [];
  const fn = (arg) => {
    calls.push(arg);
    waiters = waiters.filter((w) => !w());
  };
  fn.calls = calls;
  fn.nth = (n, what) =>
    withTimeout(
      new Promise((resolve) => {
        const w = () => {
          if (calls.length >= n) {
            resolve(calls[n - 1]);
            return true;
          }
          return false;
        };
        if (!w()) waiters.push(w);
      }),
      what || `call #${n}`,
    );
  return fn;
}

module.exports = {
  collector,
  APP,
  DEFAULT_TIMEOUT,
  PusherJS,
  PusherSDK,
  Recorder,
  RawClient,
  withTimeout,
  waitUntil,
  sdk,
  client,
  echo,
  raw,
  connected,
  stateIs,
  once,
  subscribe,
  closeAll,
  getJSON,
};
