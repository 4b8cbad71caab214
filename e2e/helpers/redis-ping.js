'use strict';
// A separate client that PINGs a Redis in a loop and reports how long each reply took. It runs
// as its own process (helpers/faults.js pingMonitor forks it), so the test process's own work
// (thousands of sockets) does not inflate the numbers.
//
//   node redis-ping.js <port> <interval ms>
//
// It answers the IPC message 'stop' with {count, maxMs, over: [{at, ms}], errors: [...]}
// (over: the PINGs slower than the threshold sent with 'stop') and exits.

const { RespConnection } = require('./resp');

const port = Number(process.argv[2]);
const every = Number(process.argv[3] || 10);

const samples = [];
const errors = [];
let inflight = null; // {at} of the PING waiting for its reply
let stopping = false;

async function loop() {
  let conn = null;
  while (!stopping) {
    try {
      if (!conn) conn = await RespConnection.connect(port);
      inflight = { at: Date.now() };
      const reply = await conn.command('PING');
      const ms = Date.now() - inflight.at;
      if (reply !== 'PONG') errors.push(`PING answered ${JSON.stringify(reply)}`);
      samples.push({ at: inflight.at, ms });
      inflight = null;
      if (samples.length === 1) process.send({ type: 'ready' });
    } catch (e) {
      errors.push(String(e.message || e));
      inflight = null;
      if (conn) conn.close();
      conn = null;
    }
    await new Promise((r) => setTimeout(r, every));
  }
  if (conn) conn.close();
}

process.on('message', (msg) => {
  if (!msg || msg.type !== 'stop') return;
  stopping = true;
  const threshold = Number(msg.thresholdMs || 0);
  const all = samples.slice();
  // A PING still unanswered counts with the time it has waited so far.
  if (inflight) all.push({ at: inflight.at, ms: Date.now() - inflight.at, unanswered: true });
  const maxMs = all.reduce((m, s) => Math.max(m, s.ms), 0);
  process.send(
    { count: all.length, maxMs, over: all.filter((s) => s.ms > threshold), errors: errors.slice(0, 20) },
    () => process.exit(0),
  );
});

loop();
