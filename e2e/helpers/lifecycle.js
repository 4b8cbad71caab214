'use strict';
// useServer registers before/afterEach/after hooks that start one reverbd per
// test file, close the clients each test made, and stop the server at the end,
// checking that it exits 0 on SIGTERM.

const assert = require('node:assert/strict');
const { before, after, afterEach } = require('node:test');
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

module.exports = { useServer };
