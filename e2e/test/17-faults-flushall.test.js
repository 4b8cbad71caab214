'use strict';
// FLUSHALL with 4,000 connections over two nodes: the nodes notice that their state is gone and
// write it back, without blocking Redis: a separate client's PING never waits more than 250 ms
// meanwhile (measured from its own process, helpers/redis-ping.js).
//
// Case 17, fault injection: FLUSHALL with 4,000 connections. helpers/faults.js starts a private
// redis-server and reverbd nodes against it (lease 2 s) and checks the invariant with real pusher-
// js clients (settle). They run in the redis pass only (e2e/README.md).

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { faultsSkip, startFaultCluster, settle, checkQuota, pingMonitor } = require('../helpers/faults');

describe('cluster under faults: FLUSHALL with 4,000 connections', { skip: faultsSkip() }, () => {
  it('FLUSHALL with 4,000 connections: they are re-asserted, and a PING to Redis never waits more than 250 ms meanwhile', async (t) => {
    const BULK = 4000;
    const CHANNELS = 40;
    const MAX = BULK + 2 + 3;
    const c = await startFaultCluster(t, { nodes: 2, env: { REVERB_APP_MAX_CONNECTIONS: String(MAX) } });
    const names = Array.from({ length: CHANNELS }, (_, k) => `presence-bulk.${k}`);
    const started = Date.now();
    for (let j = 0; j < BULK; j += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, BULK - j) }, (_, k) => c.connectBare((j + k) % 2, `b${j + k}`, [names[(j + k) % CHANNELS]])),
      );
    }
    await c.join(0, 'watcher0', names);
    await c.join(1, 'watcher1', names);
    t.diagnostic(`${BULK + 2} sockets open in ${Date.now() - started} ms`);
    await settle(c, 30000);

    const mon = await pingMonitor(c.redis, 10);
    const problems = [];
    try {
      await c.flushRedis();
      const { ms } = await settle(c);
      t.diagnostic(`settled ${ms} ms after FLUSHALL`);
    } catch (e) {
      problems.push(e.message);
    }
    const ping = await mon.stop(250);
    t.diagnostic(`PING: ${ping.count} samples, slowest ${ping.maxMs} ms${ping.errors.length ? `, errors ${ping.errors.join('; ')}` : ''}`);
    if (ping.maxMs > 250 || ping.errors.length) {
      problems.push(
        `a PING to Redis waited ${ping.maxMs} ms (at most 250 ms) while the state was re-asserted: ${JSON.stringify(ping.over.slice(0, 10))} ${ping.errors.join('; ')}`,
      );
    }
    const quota = await checkQuota(c, MAX);
    if (quota.length) problems.push(`max_connections ${MAX} across the cluster:\n  ${quota.join('\n  ')}`);
    if (problems.length) assert.fail(problems.join('\n\n'));
  });
});
