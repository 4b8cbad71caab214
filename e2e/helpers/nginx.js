'use strict';
// Runs a real nginx in front of reverbd with the shipped site file,
// deployment/nginx/reverbd.conf, read from the repository and changed only mechanically:
//
//   server 127.0.0.1:8080;        -> the test's reverbd port
//   listen 443 ssl; [::]:443 ssl; -> a free port on 127.0.0.1 (and [::1] when IPv6 works)
//   listen 80; [::]:80;           -> another free port on 127.0.0.1 (and [::1])
//   ssl_certificate(_key)         -> a self-signed certificate made here with openssl
//   location /app/, /apps/, = /up -> prefixed with REVERB_SERVER_PATH (only when asked)
//
// Every target must appear exactly as often as the shipped file has it today; if the file
// changes shape, rewriteSite throws instead of running nginx on a config that is not it.
// The file is wrapped in a minimal main config (pid, logs, temp paths in a temp dir) and
// nginx runs in the foreground as a child process: nginx -p <tmp> -c <tmp>/nginx.conf.

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { REPO_ROOT, freePort } = require('./server');

const SITE_FILE = path.join(REPO_ROOT, 'deployment', 'nginx', 'reverbd.conf');

// executable returns file when it is an executable regular file, otherwise null.
function executable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile() ? file : null;
  } catch (e) {
    return null;
  }
}

// which returns the absolute path of an executable, looking in PATH and the sbin
// directories (Debian's nginx is /usr/sbin/nginx, often not in a user's PATH), or null.
function which(name, extraDirs = ['/usr/sbin', '/usr/local/sbin', '/sbin']) {
  const dirs = (process.env.PATH || '').split(path.delimiter).filter(Boolean).concat(extraDirs);
  for (const dir of dirs) {
    const file = executable(path.join(dir, name));
    if (file) return file;
  }
  return null;
}

// findTools returns {nginx, openssl} (paths; NGINX_BIN overrides the nginx lookup) and
// missing, a message naming what is not installed ('' when both are).
function findTools() {
  const nginx = process.env.NGINX_BIN ? executable(path.resolve(process.env.NGINX_BIN)) : which('nginx');
  const openssl = which('openssl');
  const lack = [];
  if (!nginx) lack.push('nginx');
  if (!openssl) lack.push('openssl');
  const missing = lack.length ? `${lack.join(' and ')} not found (Debian: apt-get install -y ${lack.join(' ')})` : '';
  return { nginx, openssl, missing };
}

// ipv6Loopback resolves true when a socket can listen on [::1].
function ipv6Loopback() {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', () => resolve(false));
    srv.listen(0, '::1', () => srv.close(() => resolve(true)));
  });
}

// replaceExactly replaces every match of re in text, failing unless there are exactly
// `count` of them.
function replaceExactly(text, re, count, replacement, what) {
  const hits = text.match(re) || [];
  if (hits.length !== count) {
    throw new Error(
      `${SITE_FILE}: expected ${count} ${what} (${re}), found ${hits.length}; ` +
        'the nginx test rewrites this file mechanically: bring helpers/nginx.js in step with it',
    );
  }
  return text.replace(re, replacement);
}

// rewriteSite returns the site file with the mechanical substitutions made.
//   upstreamPort  reverbd's port
//   httpsPort     replaces 443, httpPort replaces 80 (both bound on loopback only)
//   cert, key     certificate and key files
//   ipv6          keep the [::] listens (on [::1]); false drops them
//   prefix        REVERB_SERVER_PATH ('' or '/ws'), added in front of the locations
function rewriteSite(text, { upstreamPort, httpsPort, httpPort, cert, key, ipv6 = true, prefix = '' }) {
  const v6 = (port, rest) => (ipv6 ? `listen [::1]:${port}${rest};` : `# listen [::] dropped: no IPv6`);
  let out = text;
  out = replaceExactly(out, /\bserver 127\.0\.0\.1:8080;/g, 1, `server 127.0.0.1:${upstreamPort};`, 'upstream servers');
  out = replaceExactly(out, /\blisten 443 ssl;/g, 1, `listen 127.0.0.1:${httpsPort} ssl;`, '"listen 443 ssl;"');
  out = replaceExactly(out, /\blisten \[::\]:443 ssl;/g, 1, v6(httpsPort, ' ssl'), '"listen [::]:443 ssl;"');
  out = replaceExactly(out, /\blisten 80;/g, 1, `listen 127.0.0.1:${httpPort};`, '"listen 80;"');
  out = replaceExactly(out, /\blisten \[::\]:80;/g, 1, v6(httpPort, ''), '"listen [::]:80;"');
  out = replaceExactly(out, /^(\s*ssl_certificate\s+)\S+;/gm, 1, `$1${cert};`, 'ssl_certificate lines');
  out = replaceExactly(out, /^(\s*ssl_certificate_key\s+)\S+;/gm, 1, `$1${key};`, 'ssl_certificate_key lines');
  if (prefix) {
    out = replaceExactly(out, /^(\s*location\s+)\/app\/ \{/gm, 1, `$1${prefix}/app/ {`, 'location /app/');
    out = replaceExactly(out, /^(\s*location\s+)\/apps\/ \{/gm, 1, `$1${prefix}/apps/ {`, 'location /apps/');
    out = replaceExactly(out, /^(\s*location\s+)= \/up \{/gm, 1, `$1= ${prefix}/up {`, 'location = /up');
  }
  // Anything still pointing at a fixed port or address would be a target the file gained
  // since this helper was written.
  for (const line of out.split('\n')) {
    const code = line.replace(/#.*/, '');
    const listen = /^\s*listen\s+([^\s;]+)/.exec(code);
    if (listen && !new RegExp(`:(${httpsPort}|${httpPort})$`).test(listen[1])) {
      throw new Error(`${SITE_FILE}: listen directive not rewritten: ${line.trim()}`);
    }
    const server = /^\s*server\s+(\S+);/.exec(code);
    if (server && server[1] !== `127.0.0.1:${upstreamPort}`) {
      throw new Error(`${SITE_FILE}: upstream server not rewritten: ${line.trim()}`);
    }
  }
  return out;
}

// selfSignedCert writes cert.pem (CN and SAN ws.example.com, 127.0.0.1, ::1) and key.pem
// into dir and returns their paths and the certificate text (the CA clients trust).
function selfSignedCert(openssl, dir) {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync(
    openssl,
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-days', '2', '-subj', '/CN=ws.example.com',
      '-addext', 'subjectAltName=DNS:ws.example.com,IP:127.0.0.1,IP:::1',
      '-keyout', key, '-out', cert,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return { cert, key, ca: fs.readFileSync(cert, 'utf8') };
}

function delay(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// canConnect resolves true when a TCP connection to host:port opens.
function canConnect(host, port) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

// startNginx writes the configs, starts nginx and resolves once both ports accept
// connections. It returns {host, httpsPort, httpPort, ca, ipv6, site, logs(), stop()}.
//   tools         findTools() result
//   upstreamPort  reverbd's port
//   prefix        REVERB_SERVER_PATH the locations get (default none)
async function startNginx({ tools, upstreamPort, prefix = '' }) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reverbd-nginx-'));
  try {
    return await launch(tmp, tools, upstreamPort, prefix);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

// launch is startNginx inside its temp dir tmp.
async function launch(tmp, tools, upstreamPort, prefix) {
  // nginx started as root runs its workers as nobody: they must reach the temp paths.
  fs.chmodSync(tmp, 0o755);
  const { cert, key, ca } = selfSignedCert(tools.openssl, tmp);
  const ipv6 = await ipv6Loopback();
  const httpsPort = await freePort();
  let httpPort = await freePort();
  while (httpPort === httpsPort) httpPort = await freePort();

  const site = rewriteSite(fs.readFileSync(SITE_FILE, 'utf8'), {
    upstreamPort,
    httpsPort,
    httpPort,
    cert,
    key,
    ipv6,
    prefix,
  });
  const sitePath = path.join(tmp, 'reverbd.conf');
  fs.writeFileSync(sitePath, site);
  const errorLog = path.join(tmp, 'error.log');
  // One worker: every request goes through the same upstream keepalive cache, so an
  // upgrade after an API call reuses that call's upstream connection every time.
  const main = [
    `pid ${path.join(tmp, 'nginx.pid')};`,
    `error_log ${errorLog} notice;`,
    'worker_processes 1;',
    'events { worker_connections 1024; }',
    'http {',
    '    access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
      (t) => `    ${t}_temp_path ${path.join(tmp, `${t}_temp`)};`,
    ),
    `    include ${sitePath};`,
    '}',
    '',
  ].join('\n');
  const mainPath = path.join(tmp, 'nginx.conf');
  fs.writeFileSync(mainPath, main);

  const args = ['-e', errorLog, '-p', tmp, '-c', mainPath];
  try {
    execFileSync(tools.nginx, [...args, '-t', '-q'], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`nginx -t rejected the rewritten site file:\n${e.stderr}\n--- site ---\n${site}`);
  }
  const child = spawn(tools.nginx, [...args, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c) => (output += c));
  child.stderr.on('data', (c) => (output += c));
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });
  const logs = () => {
    let log = '';
    try {
      log = fs.readFileSync(errorLog, 'utf8');
    } catch (e) {
      // not written yet
    }
    return `${output}${log}`;
  };

  const deadline = Date.now() + 10000;
  while (!((await canConnect('127.0.0.1', httpsPort)) && (await canConnect('127.0.0.1', httpPort)))) {
    if (exited || Date.now() > deadline) {
      const log = logs();
      child.kill('SIGKILL');
      await exitPromise;
      throw new Error(`nginx did not start (exit ${JSON.stringify(exited)}):\n${log}`);
    }
    await delay(25);
  }

  return {
    host: '127.0.0.1',
    httpsPort,
    httpPort,
    ca,
    ipv6,
    site,
    logs,
    // stop asks nginx for a fast shutdown (SIGTERM), kills it after 5 s, removes the
    // temp dir and resolves with {code, signal}.
    async stop() {
      if (!exited) child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (!exited) child.kill('SIGKILL');
      }, 5000);
      const result = await exitPromise;
      clearTimeout(timer);
      fs.rmSync(tmp, { recursive: true, force: true });
      return result;
    },
  };
}

// trustInPusherJS makes pusher-js's Node transport (faye-websocket, which pusher-js gives
// no TLS options) verify wss:// against ca, and counts the sockets it opens, so a test can
// tell a first-attempt connection from one that needed a retry. It returns
// {sockets(), restore()}; it changes pusher-js for the whole process until restore().
function trustInPusherJS(PusherJS, ca) {
  const runtime = PusherJS.Runtime;
  const original = runtime.getWebSocketAPI;
  const Base = original.call(runtime);
  let opened = 0;
  class TrustingClient extends Base {
    constructor(url, protocols, options) {
      super(url, protocols, { ...(options || {}), ca });
      opened++;
    }
  }
  runtime.getWebSocketAPI = () => TrustingClient;
  return {
    sockets: () => opened,
    restore() {
      runtime.getWebSocketAPI = original;
    },
  };
}

module.exports = { SITE_FILE, findTools, rewriteSite, selfSignedCert, startNginx, trustInPusherJS };
