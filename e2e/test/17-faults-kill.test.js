'use strict';
// kill -9 of a node whose own workers are taking deliveries while triggers flow. One try is the
// rule, so a delivery a dying worker held may be lost, at most one per worker; every other
// accepted trigger reaches the surviving node's clients, and a loss is logged by the survivor (a
// line with the word "lost"), never silent.
//
// Case 17, fault injection: kill -9 a node whose workers take deliveries. helpers/faults.js starts
// a private redis-server and reverbd nodes against it (lease 2 s) and checks the invariant with
// real pusher-js clients (settle). They run in the redis pass only (e2e/README.md).

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { waitUntil } = require('../helpers/clients');
const { faultsSkip, startFaultCluster, settle, delay } = require('../helpers/faults');

// LOST_REPORT_MS is how long after the kill the survivor may take to log a lost delivery (see
// the comment where it is used).
const LOST_REPORT_MS = 22000;

describe('cluster under faults: kill -9 a node whose workers take deliveries', { skip: faultsSkip() }, () => {
  it('kill -9 a node whose workers take deliveries while triggers flow: at most one loss per killed worker, counted and logged', async (t) => {
    // The victim runs 16 workers and 8 loops trigger batches of 10 events through the survivor,
    // so the victim's workers are busy when it is killed (one of them holds a delivery at that
    // instant in most runs).
    const VICTIM_WORKERS = 16;
    const c = await startFaultCluster(t, { nodes: 2, nodeEnv: [{}, { REVERB_QUEUE_CONCURRENCY: String(VICTIM_WORKERS) }] });
    const feed = 'kill-feed';
    const room = 'presence-kill';
    const readers = [await c.join(0, 'a1', [feed, room]), await c.join(0, 'a2', [feed])];
    await c.join(1, 'b1', [room]);
    await settle(c);

    const got = readers.map(() => []);
    readers.forEach((r, i) => r.channel(feed).bind('tick', (d) => got[i].push(d.seq)));
    // seq → whether its request was sent after the victim had died (then only the survivor's
    // workers can take it, so it must arrive).
    const accepted = new Map();
    let dead = false;
    let next = 0;
    let flowing = true;
    const api = c.node(0).api;
    const loops = Array.from({ length: 8 }, async () => {
      while (flowing) {
        const seqs = Array.from({ length: 10 }, () => ++next);
        const afterDeath = dead;
        try {
          await api.triggerBatch(seqs.map((seq) => ({ channel: feed, name: 'tick', data: JSON.stringify({ seq }) })));
          for (const seq of seqs) accepted.set(seq, afterDeath);
        } catch (e) {
          // refused: not accepted
        }
      }
    });
    await delay(1500);
    const killedAt = Date.now();
    await c.kill(1);
    dead = true;
    await delay(500);
    flowing = false;
    await Promise.all(loops);
    // The invariant must hold within the lease plus a few seconds of the kill, while the
    // survivor is still delivering the rest.
    const settled = settle(c).then((r) => ({ ms: r.ms }), (e) => ({ err: e }));

    const want = [...accepted.keys()];
    const missing = (i) => {
      const have = new Set(got[i]);
      return want.filter((s) => !have.has(s));
    };
    // The survivor delivers what is still queued; what the dead workers held never comes.
    await waitUntil(() => readers.every((_, i) => missing(i).length === 0), 'every accepted trigger', c.settleMs, 200).catch(() => {});
    const lost = readers.map((_, i) => missing(i));
    const dups = readers.map((_, i) => got[i].length - new Set(got[i]).size);
    const after = [...accepted.values()].filter(Boolean).length;
    t.diagnostic(`${accepted.size} triggers accepted (${after} sent after the victim died), lost per reader ${JSON.stringify(lost)}`);
    const problems = [];
    if (dups.some((n) => n > 0)) problems.push(`one try: no delivery may arrive twice, duplicates per reader ${JSON.stringify(dups)}`);
    if (JSON.stringify(lost[0]) !== JSON.stringify(lost[1])) {
      problems.push(`a lost delivery is lost for every subscriber (it is one publish): ${JSON.stringify(lost)}`);
    }
    const lostAfter = lost[0].filter((s) => accepted.get(s));
    if (lostAfter.length) problems.push(`triggers sent after the victim died never arrived: ${JSON.stringify(lostAfter.slice(0, 40))}`);
    if (lost[0].length > VICTIM_WORKERS) {
      problems.push(`at most one delivery may be lost per worker of the killed node (${VICTIM_WORKERS}), lost ${lost[0].length}: ${JSON.stringify(lost[0].slice(0, 40))}`);
    }
    if (lost[0].length > 0) {
      // Counted and logged, never silent: the survivor says so. It can tell only once no live
      // asynq server has listed the task through two of asynq's 5 s heartbeats (10 s, usually
      // counted from just before the kill); a task the dead server listed in its last heartbeat
      // stays listed until that heartbeat expires (10 s), so the line may come up to about 21 s
      // after the kill.
      const within = Math.max(c.settleMs, killedAt + LOST_REPORT_MS - Date.now());
      const logged = () => c.node(0).server.logs().split('\n').filter((l) => /\blost\b/i.test(l));
      await waitUntil(() => logged().length > 0, 'a log line about the lost deliveries', within, 100).catch(() => {});
      if (logged().length) t.diagnostic(`logged (seen ${Date.now() - killedAt} ms after the kill): ${logged().join(' / ')}`);
      else {
        problems.push(
          `${lost[0].length} deliveries (${JSON.stringify(lost[0])}) held by the killed node's workers were lost, and node 0 logged no line with "lost" within ${LOST_REPORT_MS} ms of the kill; its log:\n${c.node(0).server.logs().slice(-2000)}`,
        );
      }
    }
    const { ms, err } = await settled;
    if (err) problems.push(err.message);
    else t.diagnostic(`settled ${ms} ms after the kill`);
    if (problems.length) assert.fail(problems.join('\n\n'));
  });
});
