'use strict';
// Presence churn (subscribe, unsubscribe, reconnect) over three nodes while Redis stops for 3 s
// and starts again empty: the nodes write their state back, and max_connections holds.
//
// Case 17, fault injection: Redis stops during presence churn and starts again empty.
// helpers/faults.js starts a private redis-server and reverbd nodes against it (lease 2 s) and
// checks the invariant with real pusher-js clients (settle). They run in the redis pass only
// (e2e/README.md).

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { faultsSkip, startFaultCluster, settle, checkQuota, delay, rng, pick } = require('../helpers/faults');

describe('cluster under faults: Redis stops during presence churn and starts again empty', { skip: faultsSkip() }, () => {
  it('Redis stops for 3 s during presence churn over three nodes and starts again empty', async (t) => {
    const MAX = 40;
    const c = await startFaultCluster(t, { nodes: 3, env: { REVERB_APP_MAX_CONNECTIONS: String(MAX) } });
    const chans = ['presence-churn.1', 'presence-churn.2'];
    const socks = [];
    for (let k = 0; k < 15; k++) socks.push(await c.join(k % 3, `u${k % 10}`, chans));
    await settle(c);

    const rand = rng(t);
    let churning = true;
    let ops = 0;
    const churn = (async () => {
      while (churning) {
        const s = pick(rand, socks);
        if (rand() < 0.15) {
          s.p.disconnect();
          setTimeout(() => s.p.connect(), 10);
        } else if (s.open()) {
          const name = pick(rand, chans);
          const ch = s.channel(name);
          if (ch && (ch.subscribed || ch.subscriptionPending)) s.p.unsubscribe(name);
          else s.p.subscribe(name);
        }
        ops++;
        await delay(40);
      }
    })();
    await delay(1000);
    await c.stopRedis();
    await delay(3000);
    await c.startRedis();
    await delay(500);
    churning = false;
    await churn;
    t.diagnostic(`${ops} churn operations`);

    const problems = [];
    try {
      const { ms } = await settle(c);
      t.diagnostic(`settled ${ms} ms after Redis came back`);
    } catch (e) {
      problems.push(e.message);
    }
    const quota = await checkQuota(c, MAX);
    if (quota.length) problems.push(`max_connections ${MAX} across the cluster:\n  ${quota.join('\n  ')}`);
    if (problems.length) assert.fail(problems.join('\n\n'));
  });
});
