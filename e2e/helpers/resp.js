'use strict';
// A minimal Redis client (RESP2 over one TCP connection), enough for the fault tests to
// control their private redis-server (PING, FLUSHALL, CLIENT PAUSE, SHUTDOWN, KEYS) without
// a client library. Commands are pipelined: replies resolve in the order they were sent.
// https://redis.io/docs/latest/develop/reference/protocol-spec/

const net = require('node:net');

class RedisError extends Error {}

// parse reads one reply from buf at off; it returns {value, end} or null when incomplete.
function parse(buf, off) {
  const nl = buf.indexOf('\r\n', off);
  if (nl < 0) return null;
  const type = String.fromCharCode(buf[off]);
  const line = buf.toString('utf8', off + 1, nl);
  const next = nl + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new RedisError(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      if (buf.length < next + n + 2) return null;
      return { value: buf.toString('utf8', next, next + n), end: next + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const out = [];
      let at = next;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, at);
        if (!r) return null;
        out.push(r.value);
        at = r.end;
      }
      return { value: out, end: at };
    }
    default:
      throw new Error(`resp: unexpected reply type ${JSON.stringify(type)}`);
  }
}

function encode(args) {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) {
    const s = String(a);
    parts.push(`$${Buffer.byteLength(s)}\r\n${s}\r\n`);
  }
  return parts.join('');
}

class RespConnection {
  constructor(socket) {
    this.socket = socket;
    this.buf = Buffer.alloc(0);
    this.pending = [];
    this.closedErr = null;
    socket.setNoDelay(true);
    socket.on('data', (d) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.drain();
    });
    const fail = (err) => {
      if (this.closedErr) return;
      this.closedErr = err || new Error('resp: connection closed');
      for (const p of this.pending.splice(0)) p.reject(this.closedErr);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(null));
  }

  // connect resolves with a connection to host:port.
  static connect(port, host = '127.0.0.1') {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host });
      s.once('connect', () => {
        s.removeListener('error', reject);
        resolve(new RespConnection(s));
      });
      s.once('error', reject);
    });
  }

  drain() {
    while (this.pending.length) {
      const r = parse(this.buf, 0);
      if (!r) return;
      this.buf = this.buf.subarray(r.end);
      const p = this.pending.shift();
      if (r.value instanceof RedisError) p.reject(r.value);
      else p.resolve(r.value);
    }
  }

  // command sends one command and resolves with its reply (rejects with a RedisError reply).
  command(...args) {
    if (this.closedErr) return Promise.reject(this.closedErr);
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.socket.write(encode(args));
    });
  }

  close() {
    this.socket.destroy();
  }
}

// once runs one command on a fresh connection to port and closes it.
async function once(port, ...args) {
  const c = await RespConnection.connect(port);
  try {
    return await c.command(...args);
  } finally {
    c.close();
  }
}

module.exports = { RespConnection, RedisError, once };
