'use strict';
// Starts and stops a reverbd process for one test file.
//
// The binary is REVERBD_BIN when set, otherwise it is built once with
// `go build -o ../bin/reverbd ./cmd/reverbd` from the repository root.

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const DEFAULT_BIN = path.join(REPO_ROOT, 'bin', 'reverbd');

const APP = Object.freeze({
  id: 'e2e-app',
  key: 'e2e-key',
  secret: 'e2e-secret',
});

let builtBin = null;

// ensureBinary returns the path of the reverbd binary, building it if needed.
function ensureBinary() {
  if (process.env.REVERBD_BIN) return path.resolve(process.env.REVERBD_BIN);
  if (builtBin) return builtBin;
  fs.mkdirSync(path.dirname(DEFAULT_BIN), { recursive: true });
  execFileSync('go', ['build', '-o', DEFAULT_BIN, './cmd/reverbd'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  builtBin = DEFAULT_BIN;
  return builtBin;
}

// freePort asks the kernel for an unused TCP port on 127.0.0.1.
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// getUp resolves with {status, body} of a GET over http, or over https trusting ca.
function getUp(url, ca) {
  const mod = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.get(url, ca ? { ca } : {}, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.setTimeout(2000, () => req.destroy(new Error('GET /up timed out')));
  });
}

function delay(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// startServer launches reverbd on a free port and resolves once GET /up
// answers 200 {"health":"OK"}.
//
// options.env   extra environment variables (override the defaults)
// options.apps  array of app objects, written to a REVERB_APPS_FILE
// options.noDefaultApp  do not set REVERB_APP_* (only the apps file)
// options.ca    with REVERB_SERVER_TLS_CERT/KEY in options.env: the certificate GET /up over
//               https trusts (the server then has tls: true and an https base)
async function startServer(options = {}) {
  const bin = ensureBinary();
  const port = await freePort();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reverbd-e2e-'));
  const envFile = path.join(tmp, 'empty.env');
  fs.writeFileSync(envFile, '');

  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME || tmp,
    REVERB_QUEUE_CONNECTION: process.env.E2E_QUEUE_CONNECTION || 'memory',
  };
  if (process.env.REDIS_URL) env.REDIS_URL = process.env.REDIS_URL;
  if (!options.noDefaultApp) {
    Object.assign(env, {
      REVERB_APP_ID: APP.id,
      REVERB_APP_KEY: APP.key,
      REVERB_APP_SECRET: APP.secret,
      REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM: 'members',
    });
  }
  if (options.apps) {
    const appsFile = path.join(tmp, 'apps.json');
    fs.writeFileSync(appsFile, JSON.stringify(options.apps, null, 2));
    env.REVERB_APPS_FILE = appsFile;
  }
  Object.assign(env, options.env || {});

  const args = ['start', '--env-file', envFile, '--host', '127.0.0.1', '--port', String(port)];
  if (process.env.E2E_DEBUG) args.push('--debug');
  const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });

  let output = '';
  const keep = (chunk) => {
    output += chunk.toString();
    if (output.length > 200000) output = output.slice(-100000);
    if (process.env.E2E_DEBUG) process.stderr.write(chunk);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);

  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });

  const tls = Boolean(env.REVERB_SERVER_TLS_CERT);
  const base = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  // With REVERB_SERVER_PATH every route, /up included, is under that prefix.
  const prefix = (env.REVERB_SERVER_PATH || '').replace(/\/+$/, '').replace(/^(?=[^/])/, '/');
  const deadline = Date.now() + 15000;
  let lastErr = null;
  for (;;) {
    if (exited) {
      throw new Error(
        `reverbd exited before it was ready (code ${exited.code}, signal ${exited.signal}):\n${output}`,
      );
    }
    try {
      const res = await getUp(`${base}${prefix}/up`, options.ca);
      const body = res.body;
      if (res.status === 200) {
        let parsed;
        try {
          parsed = JSON.parse(body);
        } catch (e) {
          parsed = null;
        }
        if (!parsed || parsed.health !== 'OK') {
          child.kill('SIGKILL');
          throw new Error(`GET /up answered 200 with unexpected body ${body}`);
        }
        break;
      }
      lastErr = new Error(`GET /up answered ${res.status} ${body}`);
    } catch (e) {
      if (e.message && e.message.startsWith('GET /up answered 200')) throw e;
      lastErr = e;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`reverbd did not become ready on ${base}: ${lastErr}\n${output}`);
    }
    await delay(50);
  }

  return {
    port,
    host: '127.0.0.1',
    base,
    tls,
    process: child,
    logs: () => output,
    // stop sends SIGTERM and resolves with {code, signal}; it kills the
    // process after 10 s if it has not exited by then.
    async stop() {
      if (!exited) child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (!exited) child.kill('SIGKILL');
      }, 10000);
      const result = await exitPromise;
      clearTimeout(timer);
      fs.rmSync(tmp, { recursive: true, force: true });
      return result;
    },
  };
}

module.exports = { APP, REPO_ROOT, ensureBinary, startServer, freePort };
