'use strict';
// Webhooks (Pusher's format: https://pusher.com/docs/channels/server_api/webhooks/), checked by
// a receiver that validates every request with the `pusher` SDK's webhook() as a Laravel app
// would (helpers/webhooks.js).
//
// - One node (both passes): occupied, member_added/removed, client_event and vacated arrive once
//   each, in order per channel; a receiver answering 500 twice gets the same bytes a third
//   time and takes them.
// - Three nodes on a private Redis (the redis pass, with the fault tests): every decided event
//   exactly once per cluster and in order per channel whatever node its sockets use; a page
//   reload makes no vacated/occupied pair; a receiver down for 10 s gets everything once it is
//   back; a node killed right after a member left still yields exactly one member_removed.

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { startServer } = require('../helpers/server');
const { client, connected, subscribe, closeAll } = require('../helpers/clients');
const { faultsSkip, startFaultCluster, delay } = require('../helpers/faults');
const { startReceiver } = require('../helpers/webhooks');

// VACATED_DELAY is how long a channel must stay empty before channel_vacated is sent.
const VACATED_DELAY_MS = 1500;

function hookEnv(receiver, extra = {}) {
  return {
    REVERB_APP_WEBHOOK_URL: receiver.url,
    REVERB_WEBHOOK_VACATED_DELAY: `${VACATED_DELAY_MS}ms`,
    REVERB_WEBHOOK_RETRY_FOR: '60s',
    ...extra,
  };
}

// countOf counts the accepted events equal to "name[ user_id]" on channel.
function countOf(receiver, channel, what) {
  return receiver.on(channel).filter((x) => x === what).length;
}

describe('webhooks on one node', () => {
  it('tells occupied, members, client events and vacated once each, in order, signed as the SDK checks', async (t) => {
    const receiver = await startReceiver(t);
    const server = await startServer({ env: hookEnv(receiver) });
    t.after(async () => {
      closeAll();
      await server.stop();
    });
    const room = 'presence-wh-one';
    const a = client(server, { user: { user_id: 'ada', user_info: { name: 'Ada' } } });
    const b = client(server, { user: { user_id: 'bob', user_info: { name: 'Bob' } } });
    await Promise.all([connected(a), connected(b)]);
    const chA = await subscribe(a, room);
    await subscribe(b, room);
    chA.trigger('client-typing', { typing: true });
    await receiver.waitFor(() => countOf(receiver, room, 'client_event') === 1, 'the client_event webhook');
    chA.trigger('client-nudge'); // no data at all
    await receiver.waitFor(() => countOf(receiver, room, 'client_event') === 2, 'the second client_event webhook');
    // Two sockets closing at once may be seen in either order: bob leaves first, then ada.
    b.disconnect();
    await receiver.waitFor(() => countOf(receiver, room, 'member_removed bob') === 1, 'member_removed bob');
    a.disconnect();
    await receiver.waitFor(() => countOf(receiver, room, 'channel_vacated') === 1, 'channel_vacated');
    await delay(500); // nothing more may come
    assert.deepEqual(receiver.on(room), [
      'channel_occupied',
      'member_added ada',
      'member_added bob',
      'client_event',
      'client_event',
      'member_removed bob',
      'member_removed ada',
      'channel_vacated',
    ]);
    const [ce, empty] = receiver.events().filter((e) => e.name === 'client_event');
    assert.equal(empty.event, 'client-nudge');
    assert.equal(empty.data, '', 'a client_event webhook always carries data, a string');
    assert.equal(ce.event, 'client-typing');
    assert.equal(typeof ce.data, 'string', 'a client event webhook carries data as a string');
    assert.deepEqual(JSON.parse(ce.data), { typing: true });
    assert.equal(ce.user_id, 'ada', 'a presence channel client_event names its user');
    assert.match(ce.socket_id, /^\d+\.\d+$/);
    assert.ok(receiver.requests.every((r) => r.valid), 'every request passes the SDK validation');
  });

  it('retries a batch the receiver answers 500 twice: the third try has the same bytes and is taken', async (t) => {
    const receiver = await startReceiver(t);
    receiver.answer((i) => (i < 2 ? 500 : 200));
    const server = await startServer({ env: hookEnv(receiver) });
    t.after(async () => {
      closeAll();
      await server.stop();
    });
    const p = client(server);
    await connected(p);
    await subscribe(p, 'wh-retry');
    await receiver.waitFor(() => receiver.requests.length >= 3, 'three tries', 20000);
    const [r1, r2, r3] = receiver.requests;
    assert.deepEqual([r1.status, r2.status, r3.status], [500, 500, 200]);
    assert.equal(r2.raw, r1.raw, 'a retried batch is the same bytes');
    assert.equal(r3.raw, r1.raw, 'a retried batch is the same bytes');
    assert.equal(r3.signature, r1.signature);
    assert.deepEqual(receiver.on('wh-retry'), ['channel_occupied']);
  });
});

describe('webhooks across three nodes', { skip: faultsSkip() }, () => {
  it('tells every decided event once per cluster, in order per channel, and a reload makes no vacated/occupied pair', async (t) => {
    const receiver = await startReceiver(t);
    const c = await startFaultCluster(t, { nodes: 3, env: hookEnv(receiver) });
    const room = 'presence-wh-room';
    const feed = 'wh-feed';
    // ada twice (nodes 0 and 2), bob on node 1; the feed on every node.
    const ada0 = await c.join(0, 'ada', [room, feed]);
    const bob1 = await c.join(1, 'bob', [room, feed]);
    const ada2 = await c.join(2, 'ada', [room, feed]);
    await receiver.waitFor(() => countOf(receiver, room, 'member_added bob') === 1, 'member_added bob');

    // A page reload: a channel's only socket closes and the reloaded page subscribes again,
    // through another node, within the vacated delay.
    const reload = 'wh-reload';
    const r1 = await c.join(1, 'carl', [reload]);
    await receiver.waitFor(() => countOf(receiver, reload, 'channel_occupied') === 1, 'channel_occupied of the reload channel');
    r1.close();
    const r2 = await c.join(2, 'carl', [reload]); // the reloaded page, on another node
    await delay(VACATED_DELAY_MS + 1500);
    assert.deepEqual(receiver.on(reload), ['channel_occupied'], 'a reload within the delay makes no vacated/occupied pair');

    // Closes on different nodes are decided in any order: bob leaves first, then ada's two.
    bob1.close();
    await receiver.waitFor(() => countOf(receiver, room, 'member_removed bob') === 1, 'member_removed bob');
    ada0.close();
    ada2.close();
    r2.close();
    await receiver.waitFor(
      () => countOf(receiver, room, 'channel_vacated') === 1 && countOf(receiver, feed, 'channel_vacated') === 1 &&
        countOf(receiver, reload, 'channel_vacated') === 1,
      'every channel vacated',
      VACATED_DELAY_MS + 10000,
    );
    await delay(1000); // nothing more may come
    assert.deepEqual(receiver.on(room), [
      'channel_occupied',
      'member_added ada',
      'member_added bob',
      'member_removed bob',
      'member_removed ada',
      'channel_vacated',
    ]);
    assert.deepEqual(receiver.on(feed), ['channel_occupied', 'channel_vacated']);
    assert.deepEqual(receiver.on(reload), ['channel_occupied', 'channel_vacated']);
    assert.ok(receiver.requests.every((r) => r.valid), 'every request passes the SDK validation');
  });

  it('a receiver down for 10 s gets everything once it is back', async (t) => {
    const receiver = await startReceiver(t);
    const c = await startFaultCluster(t, { nodes: 3, env: hookEnv(receiver) });
    await receiver.down();
    const channels = ['wh-down-0', 'wh-down-1', 'wh-down-2'];
    const socks = [];
    for (let i = 0; i < 3; i++) socks.push(await c.join(i, `u${i}`, [channels[i]]));
    await delay(10000);
    await receiver.up();
    await receiver.waitFor(
      () => channels.every((ch) => countOf(receiver, ch, 'channel_occupied') === 1),
      'the webhooks held while the receiver was down',
      45000,
    );
    for (const ch of channels) assert.deepEqual(receiver.on(ch), ['channel_occupied']);
  });

  it('a node killed right after a member left still yields exactly one member_removed', async (t) => {
    const receiver = await startReceiver(t);
    const c = await startFaultCluster(t, { nodes: 3, env: hookEnv(receiver) });
    const room = 'presence-wh-kill';
    await c.join(0, 'stays', [room]);
    const leaver = await c.join(1, 'leaves', [room]);
    await receiver.waitFor(() => countOf(receiver, room, 'member_added leaves') === 1, 'member_added of the leaver');
    leaver.close();
    await delay(20);
    await c.kill(1);
    await receiver.waitFor(() => countOf(receiver, room, 'member_removed leaves') >= 1, 'member_removed of the leaver', c.settleMs + 10000);
    await delay(c.leaseMs + 2000); // a duplicate would come within the lease of a takeover
    assert.equal(countOf(receiver, room, 'member_removed leaves'), 1, receiver.on(room).join(', '));
    assert.equal(countOf(receiver, room, 'channel_vacated'), 0, 'the channel still has a member');
  });
});
