'use strict';
// Case 14: presence (and fan-out) with clients split over two nodes of one cluster sharing a
// Redis. The file always starts its own two nodes with REVERB_SCALING_ENABLED and the redis
// queue (helpers/lifecycle.js clusterEnv), so it runs the same in the memory and redis passes.

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { useCluster } = require('../helpers/lifecycle');
const {
  client, echo, raw, connected, subscribe, Recorder, waitUntil, withTimeout, getJSON, collector,
} = require('../helpers/clients');

function membersOf(ch) {
  const out = {};
  ch.members.each((m) => {
    out[m.id] = m.info;
  });
  return out;
}

const U7 = { user_id: '7', user_info: { name: 'Ada' } };
const U9 = { user_id: '9', user_info: { name: 'Lin' } };
const BOTH = { 7: { name: 'Ada' }, 9: { name: 'Lin' } };

describe('presence across two cluster nodes', () => {
  const ctx = useCluster(2);
  const A = () => ctx.servers[0];
  const B = () => ctx.servers[1];
  const apiA = () => ctx.apis[0];
  const apiB = () => ctx.apis[1];

  // join connects a pusher-js client for `user` to `server` and subscribes to `name`;
  // the recorder starts with the subscription (events before it cannot be attributed).
  async function join(server, user, name) {
    const p = client(server, { user });
    await connected(p);
    const ch = await subscribe(p, name);
    const rec = Recorder.named(ch, ['pusher:member_added', 'pusher:member_removed', 'marker']);
    return { p, ch, rec, members: membersOf(ch) };
  }

  // marker triggers `marker` through node A's HTTP API and waits until every recorder got it
  // (count-th marker), so the absence checks that follow are meaningful.
  async function marker(name, recs, count) {
    await apiA().trigger(name, 'marker', '{}');
    await Promise.all(recs.map((r) => r.waitFor('marker', { count })));
  }

  it('pusher-js: member_added once, second connection of a user on the other node is silent, member_removed on the last', async () => {
    const name = 'presence-room.1';
    const subCount = async (api) =>
      (await getJSON(api, `/channels/${name}`, { info: 'subscription_count' })).body.subscription_count;

    // 7 on node A.
    const a1 = await join(A(), U7, name);
    assert.deepEqual(a1.members, { 7: { name: 'Ada' } });
    assert.equal(a1.ch.members.me.id, '7');

    // 9 on node B: its subscription_succeeded holds both; A gets member_added for 9.
    const b1 = await join(B(), U9, name);
    assert.deepEqual(b1.members, BOTH, "node B's subscription_succeeded lists 7 (on node A) and 9");
    assert.equal(b1.ch.members.count, 2);
    const added = (await a1.rec.waitFor('pusher:member_added')).data;
    assert.equal(added.id, '9');
    assert.deepEqual(added.info, { name: 'Lin' });
    assert.deepEqual(membersOf(a1.ch), BOTH);

    // 7 again, on node B: already a member (through node A) -> no member_added anywhere.
    const a2 = await join(B(), U7, name);
    assert.deepEqual(a2.members, BOTH, "the second connection's subscription_succeeded lists both");
    assert.equal(a2.ch.members.count, 2);
    await marker(name, [a1.rec, b1.rec, a2.rec], 1);
    assert.deepEqual(a1.rec.named('pusher:member_added').map((e) => e.data.id), ['9'], 'member_added for 9 exactly once on node A');
    assert.deepEqual(b1.rec.named('pusher:member_added'), [], "7's second connection must not produce member_added on node B");
    assert.deepEqual(a2.rec.named('pusher:member_added'), []);
    for (const c of [a1, b1, a2]) assert.equal(c.ch.members.count, 2);
    for (const api of [apiA(), apiB()]) {
      const { body } = await getJSON(api, `/channels/${name}`, { info: 'user_count,subscription_count' });
      assert.equal(body.user_count, 2);
      assert.equal(body.subscription_count, 3);
    }

    // 7's connection on node A leaves; 7 is still on node B -> no member_removed.
    a1.p.disconnect();
    await waitUntil(async () => (await subCount(apiB())) === 2, 'subscription_count 2 (via node B) after 7 left node A');
    await marker(name, [b1.rec, a2.rec], 2);
    assert.deepEqual(b1.rec.named('pusher:member_removed'), [], 'no member_removed while 7 has a connection on node B');
    assert.deepEqual(a2.rec.named('pusher:member_removed'), []);
    assert.equal(b1.ch.members.count, 2);

    // 7's last connection (node B) leaves -> member_removed for 7, once.
    a2.p.disconnect();
    const removed = (await b1.rec.waitFor('pusher:member_removed')).data;
    assert.equal(removed.id, '7');
    assert.deepEqual(removed.info, { name: 'Ada' });
    await marker(name, [b1.rec], 3);
    assert.equal(b1.rec.named('pusher:member_removed').length, 1);
    assert.deepEqual(membersOf(b1.ch), { 9: { name: 'Lin' } });
    for (const api of [apiA(), apiB()]) {
      assert.deepEqual((await getJSON(api, `/channels/${name}/users`)).body, { users: [{ id: '9' }] });
    }
  });

  it("Laravel Echo: join('tenant.1') on two instances, one per node: here(), joining(), leaving()", async () => {
    const ada = { user_id: '7', user_info: { id: 7, name: 'Ada' } };
    const lin = { user_id: '9', user_info: { id: 9, name: 'Lin' } };
    const e1 = await echo(A(), { user: ada });
    const here1 = collector();
    const joining1 = collector();
    const leaving1 = collector();
    e1.join('tenant.1').here(here1).joining(joining1).leaving(leaving1);
    assert.deepEqual(await here1.nth(1, 'here() on node A'), [{ id: 7, name: 'Ada' }]);

    const e2 = await echo(B(), { user: lin });
    const here2 = collector();
    e2.join('tenant.1').here(here2);
    const users = await here2.nth(1, 'here() on node B');
    assert.deepEqual(
      [...users].sort((x, y) => x.id - y.id),
      [
        { id: 7, name: 'Ada' },
        { id: 9, name: 'Lin' },
      ],
    );
    assert.deepEqual(await joining1.nth(1, 'joining() on node A'), { id: 9, name: 'Lin' });

    e2.disconnect();
    assert.deepEqual(await leaving1.nth(1, 'leaving() on node A'), { id: 9, name: 'Lin' });
    assert.equal(joining1.calls.length, 1);
    assert.equal(here1.calls.length, 1);
  });

  it('HTTP API through either node: channel counts and users are cluster-wide', async () => {
    const name = 'presence-room.3';
    await join(A(), U7, name);
    await join(B(), U9, name);
    await join(B(), U7, name);

    const viaA = await getJSON(apiA(), `/channels/${name}`, { info: 'user_count,subscription_count' });
    const viaB = await getJSON(apiB(), `/channels/${name}`, { info: 'user_count,subscription_count' });
    assert.equal(viaA.status, 200);
    assert.equal(viaB.status, 200);
    assert.deepEqual(viaA.body, { occupied: true, user_count: 2, subscription_count: 3 });
    assert.deepEqual(viaB.body, viaA.body, 'both nodes give the same numbers');

    for (const api of [apiA(), apiB()]) {
      const { status, body } = await getJSON(api, `/channels/${name}/users`);
      assert.equal(status, 200);
      assert.deepEqual(
        [...body.users].sort((x, y) => x.id.localeCompare(y.id)),
        [{ id: '7' }, { id: '9' }],
        'distinct users, ids as JSON strings',
      );
    }
  });

  it('client event from node A reaches node B with user_id, not echoed to the sender', async () => {
    const name = 'presence-room.4';
    const a = await join(A(), U7, name);
    const b = await join(B(), U9, name);
    const recA = Recorder.named(a.ch, ['client-typing']);
    const recB = Recorder.named(b.ch, ['client-typing']);
    // 9's member_added has reached node A: A's presence state includes B.
    await a.rec.waitFor('pusher:member_added');

    assert.equal(a.ch.trigger('client-typing', { typing: true }), true);
    const got = await recB.waitFor('client-typing');
    assert.deepEqual(got.data, { typing: true });
    assert.equal(got.metadata && got.metadata.user_id, '7', 'user_id of the sender on a presence channel');

    await marker(name, [a.rec, b.rec], 1);
    assert.deepEqual(recA.events, [], 'the sender must not get its own client event');
    assert.equal(recB.events.length, 1);
  });

  it('member_added and member_removed relayed between nodes keep the JSON type of user_id', async () => {
    const name = 'presence-room.6';
    const w = await join(A(), { user_id: 'w' }, name);
    for (const [i, id] of [7, '8'].entries()) {
      const m = await join(B(), { user_id: id, user_info: { name: 'Ada' } }, name);
      const added = (await w.rec.waitFor('pusher:member_added', { count: i + 1 })).data;
      assert.strictEqual(added.id, id, `member_added id ${JSON.stringify(id)} on the other node`);
      assert.deepEqual(added.info, { name: 'Ada' });
      m.p.disconnect();
      const removed = (await w.rec.waitFor('pusher:member_removed', { count: i + 1 })).data;
      assert.strictEqual(removed.id, id, `member_removed id ${JSON.stringify(id)} on the other node`);
      assert.equal(w.ch.members.count, 1);
    }
  });

  it('client event data reaches the other node byte for byte, as on the sender\'s node', async () => {
    const name = 'private-bytes';
    const [sender, local, remote] = [raw(A()), raw(A()), raw(B())];
    for (const c of [sender, local, remote]) {
      await c.connected();
      await c.subscribe(name, { signer: apiA() });
    }
    const data = '{ "html" : "<b>a &amp; b</b> & <i>\u2028</i>",\n "n": [1, 2 ] }';
    sender.send(`{"event":"client-note","channel":"${name}","data":${data}}`);
    const [here, there] = await Promise.all([local.event('client-note', name), remote.event('client-note', name)]);
    assert.ok(here.raw.endsWith(`"data":${data}}`), `the sender's node relays the data as sent: ${here.raw}`);
    assert.equal(there.raw, here.raw, 'the other node sends the same bytes');
  });

  it("event triggered through node A's HTTP API reaches subscribers on both nodes exactly once", async () => {
    const name = 'presence-room.5';
    const subs = [
      await join(A(), U7, name),
      await join(B(), U9, name),
      await join(B(), { user_id: '11', user_info: { name: 'Bob' } }, name),
    ];
    const recs = subs.map((s) => Recorder.named(s.ch, ['order.paid']));

    await apiA().trigger(name, 'order.paid', JSON.stringify({ order_id: 1001 }));
    const got = await Promise.all(recs.map((r) => r.waitFor('order.paid')));
    for (const g of got) assert.deepEqual(g.data, { order_id: 1001 });

    await marker(name, subs.map((s) => s.rec), 1);
    recs.forEach((r, i) => assert.equal(r.events.length, 1, `subscriber ${i} got order.paid exactly once`));
  });
});
