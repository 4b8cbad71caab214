'use strict';
// Drives a headless Chromium (Debian's `chromium` package) over the Chrome DevTools Protocol
// (https://chromedevtools.github.io/devtools-protocol/), with the `ws` package as the
// WebSocket client and nothing else: the browser is started with --remote-debugging-port=0,
// its DevTools address read from its stderr, and one page target attached to in flat mode.
//
//   const browser = await launchChromium(bin);
//   const page = await browser.newPage();
//   await page.send('Page.navigate', { url });
//   await page.evaluate('document.title');
//   await browser.close();

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');

// findChromium returns {bin, missing}: the browser's path (CHROMIUM_BIN overrides the lookup
// of chromium and chromium-browser in PATH), or a message saying it is not installed.
function findChromium() {
  const candidates = process.env.CHROMIUM_BIN
    ? [path.resolve(process.env.CHROMIUM_BIN)]
    : (process.env.PATH || '')
        .split(path.delimiter)
        .filter(Boolean)
        .flatMap((dir) => ['chromium', 'chromium-browser'].map((name) => path.join(dir, name)));
  for (const file of candidates) {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return { bin: file, missing: '' };
    } catch (e) {
      // not this one
    }
  }
  return { bin: null, missing: 'chromium not found (Debian: apt-get install -y chromium)' };
}

// launchChromium starts the browser headless with a profile of its own and resolves once its
// DevTools endpoint answers.
async function launchChromium(bin) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'reverbd-chromium-'));
  const args = [
    '--headless',
    '--remote-debugging-address=127.0.0.1',
    '--remote-debugging-port=0',
    `--user-data-dir=${profile}`,
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--disable-extensions',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-features=Translate,MediaRouter,OptimizationHints',
    '--hide-scrollbars',
    '--mute-audio',
  ];
  // Chromium's sandbox refuses to run as root (a CI container's usual user).
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  args.push('about:blank');
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const endpoint = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chromium did not start in 15 s:\n${stderr}`)), 15000);
    child.stderr.on('data', (chunk) => {
      stderr += chunk.toString();
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`chromium exited (code ${code}, signal ${signal}):\n${stderr}`));
    });
  });
  child.stderr.resume();
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const conn = await Connection.open(endpoint);
  return {
    conn,
    // newPage opens a page target and returns a session attached to it.
    async newPage() {
      const { targetId } = await conn.send('Target.createTarget', { url: 'about:blank' });
      const { sessionId } = await conn.send('Target.attachToTarget', { targetId, flatten: true });
      return new Session(conn, sessionId);
    },
    // close ends the browser (SIGKILL after 5 s) and removes its profile.
    async close() {
      conn.close();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      // Chromium's helper processes can still write to the profile for a moment after the
      // browser exits: retry, and leave a temporary directory behind rather than fail a test.
      try {
        fs.rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
      } catch (err) {
        process.emitWarning(`chromium profile ${profile} not removed: ${err.message}`);
      }
    },
  };
}

// Connection is one DevTools WebSocket: commands by id, events to listeners.
class Connection {
  static open(url) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
      ws.once('open', () => resolve(new Connection(ws)));
      ws.once('error', reject);
    });
  }

  constructor(ws) {
    this.ws = ws;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = new Set();
    ws.on('message', (data) => this.receive(JSON.parse(data.toString())));
    ws.on('close', () => {
      for (const { reject, method } of this.pending.values()) reject(new Error(`${method}: DevTools connection closed`));
      this.pending.clear();
    });
  }

  receive(msg) {
    if (msg.id !== undefined) {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
      else p.resolve(msg.result);
      return;
    }
    for (const fn of this.listeners) fn(msg);
  }

  // send runs a command (on a session when sessionId is given) and resolves with its result.
  send(method, params = {}, sessionId) {
    const id = this.nextId++;
    const msg = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.ws.send(JSON.stringify(msg));
    });
  }

  close() {
    this.ws.close();
  }
}

// Session is one attached page.
class Session {
  constructor(conn, sessionId) {
    this.conn = conn;
    this.sessionId = sessionId;
  }

  send(method, params) {
    return this.conn.send(method, params, this.sessionId);
  }

  // on calls fn(params) for each event named method of this page.
  on(method, fn) {
    this.conn.listeners.add((msg) => {
      if (msg.sessionId === this.sessionId && msg.method === method) fn(msg.params);
    });
  }

  // evaluate resolves with the value of a JavaScript expression in the page (awaited when it
  // is a promise); a thrown exception rejects.
  async evaluate(expression) {
    const res = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (res.exceptionDetails) {
      const ex = res.exceptionDetails;
      throw new Error(`evaluate ${expression}: ${(ex.exception && ex.exception.description) || ex.text}`);
    }
    return res.result.value;
  }

  // screenshot saves a PNG of the page (its whole length) to file.
  async screenshot(file) {
    const { cssContentSize: size } = await this.send('Page.getLayoutMetrics');
    const clip = { x: 0, y: 0, width: Math.ceil(size.width), height: Math.ceil(size.height), scale: 1 };
    const { data } = await this.send('Page.captureScreenshot', { format: 'png', clip, captureBeyondViewport: true });
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, Buffer.from(data, 'base64'));
    return file;
  }
}

module.exports = { findChromium, launchChromium };
