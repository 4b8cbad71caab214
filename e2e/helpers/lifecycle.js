'use strict';
// useServer registers before/afterEach/after hooks that start one reverbd per
// test file, close the clients each test made, and stop the server at the end,
// checking that it exits 0 on SIGTERM.

const assert = require('node:assert/strict');
const { before, after, afterEach } = require('node:test');
const crypto = require('node:crypto');
const { startServer } = require('./server');
const { sdk, closeAll } = require('./clients');

// opts.keepClients: do not close clients between tests (the file closes them).
function useServer(options, opts = {}) {
  const ctx = { server: null, api: null };
  before(
    async () => {
      ctx.server = await startServer(options);
      ctx.api = sdk(ctx.server);
    },
    { timeout: 300000 },
  );
  if (!opts.keepClients) afterEach(() => closeAll());
  after(
    async () => {
      closeAll();
      if (!ctx.server) return;
      const { code, signal } = await ctx.server.stop();
      assert.equal(
        code,
        0,
        `reverbd should exit 0 on SIGTERM (got code ${code}, signal ${signal}); output:\n${ctx.server.logs().slice(-4000)}`,
      );
    },
    { timeout: 30000 },
  );
  return ctx;
}

// clusterEnv returns the environment that makes a node one of a cluster: scaling on, the
// redis queue, and a prefix/queue name unique to this run, so files and runs sharing one
// Redis do not see each other. It is the same for every node started with it.
function clusterEnv(name = `e2e-${crypto.randomBytes(6).toString('hex')}`) {
  return {
    REVERB_SCALING_ENABLED: 'true',
    REVERB_SCALING_PREFIX: name,
    REVERB_SCALING_LEASE: '2s',
    REVERB_QUEUE_CONNECTION: 'redis',
    REVERB_QUEUE_NAME: name,
    REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379/9',
  };
}

// useCluster is useServer for `nodes` servers sharing one Redis (clusterEnv): ctx.servers[i]
// and ctx.apis[i] (an SDK pointed at node i). Every node must exit 0 on SIGTERM.
function useCluster(nodes = 2, options = {}, opts = {}) {
  const env = clusterEnv();
  const ctx = { servers: [], apis: [], env };
  before(
    async () => {
      for (let i = 0; i < nodes; i++) {
        const server = await startServer({ ...options, env: { ...env, ...(options.env || {}) } });
        ctx.servers.push(server);
        ctx.apis.push(sdk(server));
      }
    },
    { timeout: 300000 },
  );
  if (!opts.keepClients) afterEach(() => closeAll());
  after(
    async () => {
      closeAll();
      const results = await Promise.all(ctx.servers.map((s) => s.stop()));
      results.forEach(({ code, signal }, i) => {
        assert.equal(
          code,
          0,
          `reverbd node ${i} should exit 0 on SIGTERM (got code ${code}, signal ${signal}); output:\n${ctx.servers[i].logs().slice(-4000)}`,
        );
      });
    },
    { timeout: 30000 },
  );
  return ctx;
}

module.exports = { useServer, useCluster, clusterEnv };
