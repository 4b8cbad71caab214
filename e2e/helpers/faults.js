'use strict';
// Fault injection for the cluster tests (test/17-faults-*.test.js; e2e/README.md).
//
// - PrivateRedis: a redis-server of the test's own on a free port (no persistence), which the
//   test may stop (SHUTDOWN NOSAVE or SIGKILL), start again empty on the same port, CLIENT
//   PAUSE or FLUSHALL. The shared Redis of REDIS_URL is never touched.
// - startFaultCluster(t, opts): a private Redis and N reverbd nodes against it (scaling on, the
//   redis queue, a short lease, a prefix and queue name unique to the test), stopped by
//   t.after. A node can be paused (SIGSTOP), resumed (SIGCONT), terminated (SIGTERM) or
//   killed (SIGKILL).
// - The sockets the test opens through the cluster (pusher-js clients, or bare `ws` sockets
//   for bulk) are tracked, so the cluster knows the truth: which sockets are open and which
//   users are really subscribed to each channel.
// - settle(cluster, ms): polls until the invariant holds, or fails with the differences: for
//   every tracked channel, each pusher-js client's member list equals the users that really
//   have an open subscribed socket, and through every live node GET /channels/{ch}
//   (occupied, user_count, subscription_count), /channels/{ch}/users,
//   /channels?filter_by_prefix=presence-&info=user_count and /connections equal the truth.
// - checkQuota(cluster, max): max_connections holds across the cluster: exactly max minus the
//   open sockets can still connect, the next one gets 4004.
// - pingMonitor(redis): a separate process PINGs the Redis in a loop and reports the slowest.

const { spawn, fork, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');
const { startServer, freePort, APP } = require('./server');
const { client, connected, subscribe, sdk, closeAll, withTimeout } = require('./clients');
const resp = require('./resp');

// SETTLE_SLACK_MS is the "few seconds" the invariant may take beyond the lease after the
// last fault.
const SETTLE_SLACK_MS = 5000;

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

// children are the processes the fault tests started (redis-servers, nodes). They are killed
// when this process ends, even when the test runner stops it (SIGTERM on a timeout): a node
// left stopped by SIGSTOP or a private redis-server must not outlive the test.
const children = new Set();
let hooked = false;

function own(proc) {
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  if (hooked) return;
  hooked = true;
  const killAll = () => {
    for (const c of children) {
      try {
        c.kill('SIGKILL');
      } catch (e) {
        // already gone
      }
    }
  };
  process.once('exit', killAll);
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.once(sig, () => {
      killAll();
      process.exit(1);
    });
  }
}

function redisServerBin() {
  return process.env.REDIS_SERVER_BIN || 'redis-server';
}

// haveRedisServer reports whether the redis-server binary runs.
function haveRedisServer() {
  try {
    execFileSync(redisServerBin(), ['--version'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    return false;
  }
}

// PrivateRedis is a redis-server owned by one test.
class PrivateRedis {
  constructor(port) {
    this.port = port;
    this.proc = null;
    this.exited = null;
    this.output = '';
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverbd-faults-redis-'));
  }

  // start runs a private redis-server on a free port and resolves once it answers PING.
  static async start() {
    const r = new PrivateRedis(await freePort());
    await r.start();
    return r;
  }

  url(db = 0) {
    return `redis://127.0.0.1:${this.port}/${db}`;
  }

  get running() {
    return this.proc !== null;
  }

  // start (again) runs redis-server on this.port, empty: nothing is saved or loaded.
  async start() {
    if (this.proc) throw new Error('PrivateRedis: already running');
    const args = [
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', this.dir, '--loglevel', 'warning', '--maxclients', '10000',
    ];
    const proc = spawn(redisServerBin(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    own(proc);
    proc.on('error', (e) => {
      this.output += `${redisServerBin()}: ${e.message}\n`;
    });
    const keep = (d) => {
      this.output = (this.output + d.toString()).slice(-20000);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => resolve({ code, signal }));
      proc.on('error', (e) => resolve({ code: null, signal: null, error: e.message }));
    });
    this.proc = proc;
    let exit = null;
    this.exited.then((e) => {
      exit = e;
    });
    const deadline = Date.now() + 10000;
    for (;;) {
      if (exit) throw new Error(`redis-server exited at start (${JSON.stringify(exit)}):\n${this.output}`);
      try {
        if ((await resp.once(this.port, 'PING')) === 'PONG') return;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer: ${e.message}\n${this.output}`);
      }
      await delay(20);
    }
  }

  // command runs one command on a fresh connection.
  command(...args) {
    return resp.once(this.port, ...args);
  }

  // stop shuts the server down without saving and resolves once it has exited.
  async stop() {
    if (!this.proc) return;
    try {
      await this.command('SHUTDOWN', 'NOSAVE');
    } catch (e) {
      // the server closes the connection instead of answering
    }
    await this.waitExit();
  }

  // kill stops the server with SIGKILL.
  async kill() {
    if (!this.proc) return;
    this.proc.kill('SIGKILL');
    await this.waitExit();
  }

  async waitExit() {
    const proc = this.proc;
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
    this.proc = null;
  }

  // pause suspends every client's commands for ms (CLIENT PAUSE ms ALL).
  pause(ms) {
    return this.command('CLIENT', 'PAUSE', String(ms), 'ALL');
  }

  flushall() {
    return this.command('FLUSHALL');
  }

  async close() {
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// pingMonitor forks helpers/redis-ping.js, which PINGs redis every `every` ms on its own
// connection. stop(thresholdMs) resolves with {count, maxMs, over, errors}.
async function pingMonitor(redis, every = 10) {
  const child = fork(path.join(__dirname, 'redis-ping.js'), [String(redis.port), String(every)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  own(child);
  await withTimeout(
    new Promise((resolve) => child.on('message', (m) => m && m.type === 'ready' && resolve())),
    'the PING monitor to get its first PONG',
  );
  return {
    stop(thresholdMs = 0) {
      return withTimeout(
        new Promise((resolve) => {
          child.on('message', (m) => {
            if (m && m.type === undefined) resolve(m);
          });
          child.send({ type: 'stop', thresholdMs });
        }),
        'the PING monitor report',
      );
    },
    kill() {
      child.kill('SIGKILL');
    },
  };
}

// user normalizes a user id or {user_id, user_info} into presence channel_data.
function presenceUser(u) {
  if (typeof u === 'string') return { user_id: u, user_info: { name: u } };
  return u;
}

const isPresence = (name) => name.startsWith('presence-');

// PusherSocket is a pusher-js client the cluster tracks.
class PusherSocket {
  constructor(cluster, node, user, p, label) {
    this.kind = 'pusher-js';
    this.cluster = cluster;
    this.node = node;
    this.user = user;
    this.p = p;
    this.label = label;
    this.closed = false; // closed by the test on purpose
  }

  get userId() {
    return this.user.user_id;
  }

  open() {
    return this.p.connection.state === 'connected';
  }

  state() {
    return this.p.connection.state;
  }

  channel(name) {
    return this.p.channel(name);
  }

  subscribed(name) {
    const ch = this.p.channel(name);
    return Boolean(ch && ch.subscribed);
  }

  // members lists the user ids of the pusher-js member list of a presence channel.
  members(name) {
    const ids = [];
    this.p.channel(name).members.each((m) => ids.push(m.id));
    return ids.sort();
  }

  subscribe(name) {
    this.cluster.channels.add(name);
    return subscribe(this.p, name);
  }

  // close disconnects the client for good: it is no longer part of the truth.
  close() {
    this.closed = true;
    this.p.disconnect();
  }
}

// BulkSocket is a bare WebSocket speaking the Pusher protocol, for tests that need thousands
// of sockets: it keeps no frames, answers pusher:ping, and tracks its subscriptions.
class BulkSocket {
  constructor(cluster, node, user, label) {
    this.kind = 'ws';
    this.cluster = cluster;
    this.node = node;
    this.user = user;
    this.label = label;
    this.closed = false;
    this.subs = new Set();
    this.socketId = null;
    this.closeInfo = null;
    this.waiters = new Map(); // key → resolve
  }

  get userId() {
    return this.user.user_id;
  }

  connect(server) {
    const url = `ws://${server.host}:${server.port}/app/${APP.key}?protocol=7&client=js&version=8.6.0&flash=false`;
    this.ws = new WebSocket(url);
    this.ws.on('error', () => {});
    this.ws.on('close', (code) => {
      this.closeInfo = { code };
      for (const w of this.waiters.values()) w(new Error(`closed with ${code}`));
      this.waiters.clear();
    });
    this.ws.on('message', (buf) => {
      let msg;
      try {
        msg = JSON.parse(buf.toString());
      } catch (e) {
        return;
      }
      if (msg.event === 'pusher:ping') {
        this.ws.send('{"event":"pusher:pong","data":{}}');
        return;
      }
      const key =
        msg.event === 'pusher:connection_established' || msg.event === 'pusher:error'
          ? 'connect'
          : msg.event === 'pusher_internal:subscription_succeeded' || msg.event === 'pusher:subscription_error'
            ? `sub:${msg.channel}`
            : null;
      if (msg.event === 'pusher:connection_established') this.socketId = JSON.parse(msg.data).socket_id;
      const w = key && this.waiters.get(key);
      if (w) {
        this.waiters.delete(key);
        w(null, msg);
      }
    });
    return this.wait('connect');
  }

  wait(key) {
    return withTimeout(
      new Promise((resolve, reject) => {
        if (this.closeInfo) {
          reject(new Error(`closed with ${this.closeInfo.code}`));
          return;
        }
        this.waiters.set(key, (err, msg) => (err ? reject(err) : resolve(msg)));
      }),
      `${this.label} ${key}`,
      15000,
    );
  }

  async subscribe(name, signer) {
    const data = { channel: name, auth: '' };
    const a = signer.authorizeChannel(this.socketId, name, isPresence(name) ? this.user : undefined);
    data.auth = a.auth;
    if (a.channel_data) data.channel_data = a.channel_data;
    this.cluster.channels.add(name);
    const got = this.wait(`sub:${name}`);
    this.ws.send(JSON.stringify({ event: 'pusher:subscribe', data }));
    const msg = await got;
    if (msg.event !== 'pusher_internal:subscription_succeeded') {
      throw new Error(`${this.label}: ${name}: ${msg.event} ${msg.data}`);
    }
    this.subs.add(name);
  }

  open() {
    return this.socketId !== null && this.closeInfo === null && this.ws.readyState === WebSocket.OPEN;
  }

  state() {
    return this.closeInfo ? `closed (${this.closeInfo.code})` : this.ws.readyState === WebSocket.OPEN ? 'open' : 'opening';
  }

  subscribed(name) {
    return this.open() && this.subs.has(name);
  }

  close() {
    this.closed = true;
    this.ws.terminate();
  }
}

// FaultCluster is a private Redis and the reverbd nodes using it.
class FaultCluster {
  constructor({ redis, env, leaseMs }) {
    this.redis = redis;
    this.env = env;
    this.leaseMs = leaseMs;
    this.nodes = [];
    this.sockets = [];
    this.channels = new Set();
    this.lastFault = null; // {what, at}
    this.events = []; // fault log, for failure messages
  }

  // settleMs is the bound for settling: the lease plus a few seconds.
  get settleMs() {
    return this.leaseMs + SETTLE_SLACK_MS;
  }

  // addNode starts one more node (extraEnv on top of the cluster's environment).
  async addNode(extraEnv = {}) {
    const index = this.nodes.length;
    this.nodes.push(null); // the slot is taken at once, so nodes started together keep their order
    const server = await startServer({ env: { ...this.env, ...extraEnv } });
    own(server.process);
    const node = {
      index, server, api: sdk(server), state: 'running', exit: null, label: `node ${index} (:${server.port})`,
    };
    this.nodes[index] = node;
    return node;
  }

  node(i) {
    return this.nodes[i];
  }

  live() {
    return this.nodes.filter((n) => n.state === 'running');
  }

  fault(what) {
    const at = Date.now();
    this.lastFault = { what, at };
    this.events.push(`${new Date(at).toISOString()} ${what}`);
  }

  // pause stops node i with SIGSTOP: it holds its sockets but does nothing.
  pause(i) {
    const n = this.nodes[i];
    n.server.process.kill('SIGSTOP');
    n.state = 'stopped';
    this.fault(`SIGSTOP ${n.label}`);
  }

  resume(i) {
    const n = this.nodes[i];
    n.server.process.kill('SIGCONT');
    n.state = 'running';
    this.fault(`SIGCONT ${n.label}`);
  }

  // terminate sends SIGTERM to node i and returns its exit ({code, signal}) as a promise.
  terminate(i) {
    const n = this.nodes[i];
    n.state = 'gone';
    this.fault(`SIGTERM ${n.label}`);
    n.exit = n.server.stop();
    return n.exit;
  }

  // kill sends SIGKILL to node i and resolves once it has exited.
  kill(i) {
    const n = this.nodes[i];
    n.server.process.kill('SIGKILL');
    n.state = 'gone';
    this.fault(`SIGKILL ${n.label}`);
    n.exit = n.server.stop();
    return n.exit;
  }

  async stopRedis() {
    await this.redis.stop();
    this.fault('Redis stopped (SHUTDOWN NOSAVE)');
  }

  async startRedis() {
    await this.redis.start();
    this.fault('Redis started again, empty');
  }

  async pauseRedis(ms) {
    await this.redis.pause(ms);
    this.fault(`CLIENT PAUSE ${ms} ALL`);
    // The pause ends by itself; it counts as the last fault from then on.
    setTimeout(() => this.fault(`CLIENT PAUSE over`), ms).unref();
  }

  async flushRedis() {
    await this.redis.flushall();
    this.fault('FLUSHALL');
  }

  // join connects a pusher-js client for user to node i and subscribes it to channels.
  async join(i, user, channels = [], opts = {}) {
    const n = this.nodes[i];
    const u = presenceUser(user);
    const p = client(n.server, { user: u, pusher: opts.pusher });
    const s = new PusherSocket(this, i, u, p, `pusher-js #${this.sockets.length} (user ${u.user_id}, node ${i})`);
    this.sockets.push(s);
    await connected(p, opts.ms);
    for (const name of channels) await s.subscribe(name);
    return s;
  }

  // connectBare opens a bare socket for user on node i subscribed to channels.
  async connectBare(i, user, channels = []) {
    const n = this.nodes[i];
    const s = new BulkSocket(this, i, presenceUser(user), `ws #${this.sockets.length} (user ${presenceUser(user).user_id}, node ${i})`);
    this.sockets.push(s);
    const first = await s.connect(n.server);
    if (first.event !== 'pusher:connection_established') throw new Error(`${s.label}: ${first.event} ${first.data}`);
    for (const name of channels) await s.subscribe(name, n.api);
    return s;
  }

  // truth is what really is: the open sockets, and per tracked channel the subscribed
  // sockets and their users.
  truth() {
    const channels = new Map();
    for (const name of this.channels) channels.set(name, { users: new Set(), subscriptions: 0 });
    let connections = 0;
    for (const s of this.sockets) {
      if (!this.nodes[s.node] || this.nodes[s.node].state !== 'running' || !s.open()) continue;
      connections++;
      for (const [name, c] of channels) {
        if (s.subscribed(name)) {
          c.subscriptions++;
          if (isPresence(name)) c.users.add(s.userId);
        }
      }
    }
    return { connections, channels };
  }

  // differences compares every client and every live node with the truth.
  async differences() {
    const truth = this.truth();
    const diffs = [];
    for (const s of this.sockets) {
      if (s.closed || this.nodes[s.node].state !== 'running') continue;
      if (!s.open()) diffs.push({ kind: 'sockets not connected though their node is up', text: `${s.label}: ${s.state()}` });
    }
    for (const [name, c] of truth.channels) {
      if (!isPresence(name)) continue;
      const want = [...c.users].sort();
      for (const s of this.sockets) {
        if (s.kind !== 'pusher-js' || this.nodes[s.node].state !== 'running' || !s.subscribed(name)) continue;
        const d = setDiff(s.members(name), want);
        if (d) diffs.push({ kind: `pusher-js channel.members of ${name}`, text: `${s.label}: ${d}` });
      }
    }
    const perNode = await Promise.all(this.live().map((n) => this.nodeDifferences(n, truth)));
    for (const d of perNode) diffs.push(...d);
    return diffs;
  }

  async nodeDifferences(n, truth) {
    const diffs = [];
    const get = async (p, params) => {
      try {
        const res = await n.api.get({ path: p, params });
        const text = await res.text();
        if (res.status !== 200) {
          diffs.push({ kind: `${n.label} API errors`, text: `GET ${p}: HTTP ${res.status} ${text}` });
          return null;
        }
        return JSON.parse(text);
      } catch (e) {
        diffs.push({ kind: `${n.label} API errors`, text: `GET ${p}: ${e.message}` });
        return null;
      }
    };
    const checks = [];
    for (const [name, c] of truth.channels) {
      const presence = isPresence(name);
      const want = { occupied: c.subscriptions > 0, subscription_count: c.subscriptions };
      if (presence) want.user_count = c.users.size;
      checks.push(
        get(`/channels/${name}`, { info: presence ? 'user_count,subscription_count' : 'subscription_count' }).then((got) => {
          if (got && !sameJSON(got, want)) {
            diffs.push({ kind: `${n.label} GET /channels/{ch}`, text: `${name}: ${JSON.stringify(got)}, truth ${JSON.stringify(want)}` });
          }
        }),
      );
      if (presence) {
        checks.push(
          get(`/channels/${name}/users`).then((got) => {
            if (!got) return;
            const ids = (got.users || []).map((u) => u.id);
            const d = setDiff(ids, [...c.users].sort());
            if (d) diffs.push({ kind: `${n.label} GET /channels/{ch}/users`, text: `${name}: ${d}` });
            if (new Set(ids).size !== ids.length) {
              diffs.push({ kind: `${n.label} GET /channels/{ch}/users`, text: `${name}: duplicate ids ${JSON.stringify(ids)}` });
            }
          }),
        );
      }
    }
    checks.push(
      get('/channels', { filter_by_prefix: 'presence-', info: 'user_count' }).then((got) => {
        if (!got) return;
        const want = {};
        for (const [name, c] of truth.channels) {
          if (isPresence(name) && c.subscriptions > 0) want[name] = { user_count: c.users.size };
        }
        const have = got.channels || {};
        for (const name of new Set([...Object.keys(want), ...Object.keys(have)])) {
          if (!sameJSON(have[name], want[name])) {
            diffs.push({
              kind: `${n.label} GET /channels?filter_by_prefix=presence-&info=user_count`,
              text: `${name}: ${JSON.stringify(have[name])}, truth ${JSON.stringify(want[name])}`,
            });
          }
        }
      }),
    );
    checks.push(
      get('/connections').then((got) => {
        if (got && got.connections !== truth.connections) {
          diffs.push({ kind: `${n.label} GET /connections`, text: `${JSON.stringify(got)}, truth {"connections":${truth.connections}}` });
        }
      }),
    );
    await Promise.all(checks);
    return diffs;
  }

  // summary describes the truth in one line per channel, for failure messages.
  summary() {
    const t = this.truth();
    const lines = [`truth: ${t.connections} open sockets; nodes: ${this.nodes.map((n) => `${n.index}=${n.state}`).join(' ')}`];
    const channels = [...t.channels];
    for (const [name, c] of channels.slice(0, 8)) {
      lines.push(`  ${name}: ${c.subscriptions} subscriptions${isPresence(name) ? `, users ${fmt([...c.users].sort())}` : ''}`);
    }
    if (channels.length > 8) lines.push(`  … and ${channels.length - 8} more channels`);
    lines.push('faults:', ...this.events.slice(-12).map((e) => `  ${e}`));
    return lines.join('\n');
  }

  // nodeLogs writes every node's output to a file and returns, per node, the file and its
  // last warnings and errors, for failure messages.
  nodeLogs(lastLines = 6) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverbd-faults-logs-'));
    const out = [`node logs in ${dir}:`];
    for (const n of this.nodes) {
      if (!n) continue;
      const text = n.server.logs();
      fs.writeFileSync(path.join(dir, `node${n.index}.log`), text);
      const bad = text.split('\n').filter((l) => /level=(WARN|ERROR)/.test(l));
      out.push(`  ${n.label}: ${bad.length} warnings/errors${bad.length ? ', the last:' : ''}`);
      for (const l of bad.slice(-lastLines)) out.push(`    ${l.slice(0, 300)}`);
    }
    return out.join('\n');
  }

  // close disconnects every client, resumes paused nodes, stops the nodes that are still up
  // and the private Redis. It returns the nodes that did not exit 0 on SIGTERM.
  async close() {
    closeAll();
    for (const s of this.sockets) if (s.kind === 'ws') s.close();
    for (const n of this.nodes) if (n && n.state === 'stopped') n.server.process.kill('SIGCONT');
    const bad = [];
    await Promise.all(
      this.nodes.map(async (n) => {
        if (!n) return; // failed to start
        if (n.state === 'gone') {
          await n.exit;
          return;
        }
        const { code, signal } = await n.server.stop();
        if (code !== 0) bad.push(`${n.label} exited with code ${code}, signal ${signal}:\n${n.server.logs().slice(-3000)}`);
      }),
    );
    await this.redis.close();
    return bad;
  }
}

// startFaultCluster starts a private Redis and opts.nodes reverbd nodes (default 3) sharing it,
// and registers their shutdown with t.after (which fails the test when a node that was not
// killed or terminated by the test does not exit 0 on SIGTERM).
//   opts.lease    REVERB_SCALING_LEASE in ms (default 2000)
//   opts.env      extra environment for every node
//   opts.nodeEnv  [i] extra environment for node i
async function startFaultCluster(t, opts = {}) {
  const leaseMs = opts.lease || 2000;
  const redis = await PrivateRedis.start();
  const name = `faults-${crypto.randomBytes(6).toString('hex')}`;
  const env = {
    REVERB_SCALING_ENABLED: 'true',
    REVERB_SCALING_PREFIX: name,
    REVERB_SCALING_LEASE: `${leaseMs}ms`,
    REVERB_QUEUE_CONNECTION: 'redis',
    REVERB_QUEUE_NAME: name,
    REDIS_URL: redis.url(),
    ...(opts.env || {}),
  };
  const cluster = new FaultCluster({ redis, env, leaseMs });
  t.after(async () => {
    const bad = await cluster.close();
    if (bad.length) throw new Error(bad.join('\n'));
  });
  const nodes = opts.nodes || 3;
  await Promise.all(Array.from({ length: nodes }, (_, i) => cluster.addNode((opts.nodeEnv || [])[i])));
  return cluster;
}

// settle polls until the invariant holds on two checks confirmMs apart, within timeoutMs of
// the last fault (default: the lease plus a few seconds). It resolves with {ms}: how long
// after the last fault the invariant first held. Otherwise it fails with every difference of
// the last check and the truth.
async function settle(cluster, timeoutMs = cluster.settleMs, { confirmMs = 1000, every = 200 } = {}) {
  const from = cluster.lastFault ? cluster.lastFault.at : Date.now();
  const deadline = from + timeoutMs;
  let diffs;
  let note = '';
  for (;;) {
    diffs = await cluster.differences();
    note = '';
    if (diffs.length === 0) {
      const heldAt = Date.now();
      await delay(confirmMs);
      diffs = await cluster.differences();
      if (diffs.length === 0) return { ms: heldAt - from };
      note = ` (it held at +${heldAt - from} ms, then broke again ${confirmMs} ms later)`;
    }
    if (Date.now() >= deadline) break;
    await delay(every);
  }
  const what = cluster.lastFault ? `the last fault (${cluster.lastFault.what})` : 'the start of settle';
  throw new Error(
    `the cluster did not settle within ${timeoutMs} ms of ${what}${note}; at +${Date.now() - from} ms:\n` +
      `${formatDiffs(diffs)}\n${cluster.summary()}\n${cluster.nodeLogs()}`,
  );
}

// formatDiffs groups differences by kind: how many, and the first few of each.
function formatDiffs(diffs, perKind = 4) {
  const kinds = new Map();
  for (const d of diffs) {
    if (!kinds.has(d.kind)) kinds.set(d.kind, []);
    kinds.get(d.kind).push(d.text);
  }
  const out = [];
  for (const [kind, texts] of kinds) {
    out.push(`  - ${kind}: ${texts.length} wrong`);
    for (const t of texts.slice(0, perKind)) out.push(`      ${t}`);
    if (texts.length > perKind) out.push(`      … and ${texts.length - perKind} more`);
  }
  return out.join('\n');
}

// checkQuota checks that max_connections holds across the cluster: with the tracked sockets
// open, max minus their number can still connect (spread over the live nodes) and the next
// one is refused with 4004. The probe sockets are closed again. It returns the differences.
async function checkQuota(cluster, max) {
  const open = cluster.truth().connections;
  const diffs = [];
  if (open > max) return [`${open} sockets are open, more than max_connections ${max}`];
  const live = cluster.live();
  const probes = [];
  const probe = async (k) => {
    const n = live[k % live.length];
    const s = new BulkSocket(cluster, n.index, presenceUser('quota-probe'), `quota probe ${k} (node ${n.index})`);
    probes.push(s);
    try {
      const msg = await s.connect(n.server);
      return { n, msg };
    } catch (e) {
      return { n, msg: { event: 'error', data: e.message } };
    }
  };
  try {
    for (let k = 0; k < max - open; k++) {
      const { n, msg } = await probe(k);
      if (msg.event !== 'pusher:connection_established') {
        diffs.push(`connection ${open + k + 1} of max_connections ${max} refused by ${n.label}: ${msg.event} ${msg.data}`);
      }
    }
    const { n, msg } = await probe(max - open);
    const code = msg.event === 'pusher:error' ? JSON.parse(msg.data).code : null;
    if (code !== 4004) {
      diffs.push(`connection ${max + 1} (past max_connections ${max}) got ${msg.event} ${msg.data} from ${n.label}, expected pusher:error 4004`);
    }
  } finally {
    for (const s of probes) s.close();
  }
  return diffs;
}

function sameJSON(a, b) {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(v) {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return v;
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
}

function fmt(list, n = 12) {
  return `[${list.slice(0, n).join(',')}${list.length > n ? `,…(+${list.length - n})` : ''}]`;
}

// setDiff describes how got differs from want (both lists of ids), or returns ''.
function setDiff(got, want) {
  const g = new Set(got);
  const w = new Set(want);
  const missing = [...w].filter((x) => !g.has(x));
  const extra = [...g].filter((x) => !w.has(x));
  if (!missing.length && !extra.length) return '';
  return `has ${got.length} users: missing ${fmt(missing)}, extra ${fmt(extra)}`;
}

// faultsSkip is the skip reason of a fault test file, or false when it runs: the files run
// once, in the redis pass, each with its own redis-server (E2E_FAULTS=0 leaves them out).
// Under CI=true a missing redis-server fails the tests instead of skipping them.
function faultsSkip() {
  if (process.env.E2E_FAULTS === '0') return 'left out with E2E_FAULTS=0';
  if ((process.env.E2E_QUEUE_CONNECTION || 'memory') !== 'redis') {
    return 'the fault tests run once, in the redis pass (E2E_QUEUE_CONNECTION=redis)';
  }
  if (process.env.CI !== 'true' && !haveRedisServer()) return 'no redis-server binary (apt-get install -y redis-server)';
  return false;
}

// rng is a small seeded generator (E2E_FAULTS_SEED, else the clock), so a failing random
// sequence can be replayed: the test prints the seed.
function rng(t) {
  const seed = Number(process.env.E2E_FAULTS_SEED) || Date.now() % 1000000;
  t.diagnostic(`seed ${seed} (replay with E2E_FAULTS_SEED=${seed})`);
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const pick = (rand, list) => list[Math.floor(rand() * list.length)];

// usersVia lists the user ids of a presence channel through a node's HTTP API.
async function usersVia(node, channel) {
  const res = await node.api.get({ path: `/channels/${channel}/users` });
  return (await res.json()).users.map((u) => u.id).sort();
}

module.exports = {
  SETTLE_SLACK_MS,
  faultsSkip,
  rng,
  pick,
  usersVia,
  PrivateRedis,
  FaultCluster,
  haveRedisServer,
  startFaultCluster,
  settle,
  checkQuota,
  pingMonitor,
  delay,
};
