'use strict';
// Case 3: presence channels: member lists, member_added/removed semantics with
// several connections per user.

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { useServer } = require('../helpers/lifecycle');
const {
  client, raw, connected, subscribe, once, Recorder, waitUntil, getJSON,
} = require('../helpers/clients');

function membersOf(ch) {
  const out = {};
  ch.members.each((m) => {
    out[m.id] = m.info;
  });
  return out;
}

describe('presence channel', () => {
  const ctx = useServer();
  const ADA = { user_id: '1', user_info: { name: 'Ada' } };
  const LIN = { user_id: '2', user_info: { name: 'Lin' } };
  const BOB = { user_id: '3', user_info: { name: 'Bob' } };

  it('member lists, member_added to others only on a first connection, member_removed on the last', async () => {
    const name = 'presence-room.1';
    const subCount = async () =>
      (await getJSON(ctx.api, `/channels/${name}`, { info: 'subscription_count' })).body.subscription_count;

    // A: Ada, first connection.
    const a = client(ctx.server, { user: ADA });
    await connected(a);
    const chA = await subscribe(a, name);
    const addedA = Recorder.named(chA, ['pusher:member_added', 'pusher:member_removed']);
    assert.equal(chA.members.count, 1);
    assert.equal(chA.members.me.id, '1');
    assert.deepEqual(chA.members.me.info, { name: 'Ada' });
    assert.deepEqual(membersOf(chA), { 1: { name: 'Ada' } });

    // B: Lin joins; A sees member_added, B's list holds both.
    const b = client(ctx.server, { user: LIN });
    await connected(b);
    const addedOnA = addedA.waitFor('pusher:member_added');
    const chB = await subscribe(b, name);
    const recB = Recorder.named(chB, ['pusher:member_added', 'pusher:member_removed', 'marker']);
    assert.equal(chB.members.count, 2);
    assert.deepEqual(membersOf(chB), { 1: { name: 'Ada' }, 2: { name: 'Lin' } });
    const added = (await addedOnA).data;
    assert.equal(added.id, '2');
    assert.deepEqual(added.info, { name: 'Lin' });

    // C: Ada again on a second connection: one member, no member_added for anybody.
    const c = client(ctx.server, { user: ADA });
    await connected(c);
    const chC = await subscribe(c, name);
    const recC = Recorder.named(chC, ['pusher:member_added', 'pusher:member_removed']);
    assert.equal(chC.members.count, 2, 'the same user on two connections counts once');
    assert.deepEqual(membersOf(chC), { 1: { name: 'Ada' }, 2: { name: 'Lin' } });

    // D: Bob joins as a marker: everybody else gets exactly his member_added.
    const d = client(ctx.server, { user: BOB });
    await connected(d);
    const chD = await subscribe(d, name);
    const recD = Recorder.named(chD, ['pusher:member_added', 'pusher:member_removed', 'marker']);
    assert.equal(chD.members.count, 3);
    await addedA.waitFor('pusher:member_added', { count: 2 });
    await recB.waitFor('pusher:member_added');
    await recC.waitFor('pusher:member_added');
    assert.deepEqual(addedA.named('pusher:member_added').map((e) => e.data.id), ['2', '3']);
    assert.deepEqual(recB.named('pusher:member_added').map((e) => e.data.id), ['3']);
    assert.deepEqual(recC.named('pusher:member_added').map((e) => e.data.id), ['3']);
    assert.equal(chB.members.count, 3);

    // A (Ada's first connection) leaves: Ada still has C, so no member_removed.
    a.disconnect();
    await waitUntil(async () => (await subCount()) === 3, 'subscription_count 3 after A left');
    const markerB = recB.waitFor('marker');
    const markerD = recD.waitFor('marker');
    await ctx.api.trigger(name, 'marker', '{}');
    await markerB;
    await markerD;
    assert.deepEqual(recB.named('pusher:member_removed'), [], 'no member_removed while Ada has another connection');
    assert.deepEqual(recD.named('pusher:member_removed'), []);
    assert.deepEqual(recD.named('pusher:member_added'), [], 'the joiner never gets its own member_added');
    assert.equal(chB.members.count, 3);

    // C (Ada's last connection) leaves: now member_removed reaches B and D.
    c.disconnect();
    const removedB = await recB.waitFor('pusher:member_removed');
    const removedD = await recD.waitFor('pusher:member_removed');
    assert.equal(removedB.data.id, '1');
    assert.deepEqual(removedB.data.info, { name: 'Ada' });
    assert.equal(removedD.data.id, '1');
    assert.equal(chB.members.count, 2);
    assert.deepEqual(membersOf(chB), { 2: { name: 'Lin' }, 3: { name: 'Bob' } });

    const users = (await getJSON(ctx.api, `/channels/${name}/users`)).body;
    assert.deepEqual(
      [...users.users].sort((x, y) => x.id.localeCompare(y.id)),
      [{ id: '2' }, { id: '3' }],
    );
  });

  it('wire format: subscription_succeeded presence data, member_added/removed frames, numeric ids', async () => {
    const name = 'presence-wire.1';
    const r1 = raw(ctx.server);
    await r1.connected();
    const ok1 = await r1.subscribe(name, { signer: ctx.api, user: { user_id: 10, user_info: { name: 'Num' } } });
    assert.equal(typeof ok1.msg.data, 'string');
    const p1 = JSON.parse(ok1.msg.data).presence;
    assert.equal(p1.count, 1);
    assert.deepEqual(p1.ids.map(String), ['10']);
    assert.deepEqual(p1.hash, { 10: { name: 'Num' } });

    const r2 = raw(ctx.server);
    await r2.connected();
    const ok2 = await r2.subscribe(name, { signer: ctx.api, user: { user_id: '7', user_info: { name: 'Ada' } } });
    const p2 = JSON.parse(ok2.msg.data).presence;
    assert.equal(p2.count, 2);
    assert.deepEqual(p2.ids.map(String).sort(), ['10', '7']);
    assert.deepEqual(p2.hash, { 10: { name: 'Num' }, 7: { name: 'Ada' } });

    const added = await r1.event('pusher_internal:member_added', name);
    assert.equal(typeof added.msg.data, 'string');
    assert.deepEqual(JSON.parse(added.msg.data), { user_id: '7', user_info: { name: 'Ada' } });
    assert.equal(r2.frames.filter((f) => f.msg && f.msg.event === 'pusher_internal:member_added').length, 0);

    // Re-subscribing is idempotent: succeeded again, no member_added.
    r2.from = r2.frames.length;
    const a2 = ctx.api.authorizeChannel(r2.socketId, name, { user_id: '7', user_info: { name: 'Ada' } });
    r2.send({ event: 'pusher:subscribe', data: { auth: a2.auth, channel_data: a2.channel_data, channel: name } });
    await r2.event('pusher_internal:subscription_succeeded', name);
    r2.from = 0;

    r2.send({ event: 'pusher:unsubscribe', data: { channel: name } });
    const removed = await r1.event('pusher_internal:member_removed', name);
    assert.equal(JSON.parse(removed.msg.data).user_id, '7');
    assert.equal(
      r1.frames.filter((f) => f.msg && f.msg.event === 'pusher_internal:member_added').length,
      1,
      'a re-subscribe must not produce a second member_added',
    );

    const users = (await getJSON(ctx.api, `/channels/${name}/users`)).body;
    assert.deepEqual(users, { users: [{ id: '10' }] }, 'ids must be JSON strings');
  });

  it('member_added and member_removed keep the JSON type of user_id: pusher-js member ids as the app signed them', async () => {
    const name = 'presence-id-types';
    const wire = raw(ctx.server);
    await wire.connected();
    await wire.subscribe(name, { signer: ctx.api, user: { user_id: 'wire' } });
    const watcher = client(ctx.server, { user: { user_id: 'w' } });
    await connected(watcher);
    const ch = await subscribe(watcher, name);
    const rec = Recorder.named(ch, ['pusher:member_added', 'pusher:member_removed']);

    for (const [i, id] of [7, '8'].entries()) {
      const p = client(ctx.server, { user: { user_id: id, user_info: { name: 'Ada' } } });
      await connected(p);
      await subscribe(p, name);
      const added = (await rec.waitFor('pusher:member_added', { count: i + 1 })).data;
      assert.strictEqual(added.id, id, `member_added id ${JSON.stringify(id)} keeps its type`);
      assert.deepEqual(added.info, { name: 'Ada' });
      assert.strictEqual(ch.members.get(id).id, id);
      p.disconnect();
      const removed = (await rec.waitFor('pusher:member_removed', { count: i + 1 })).data;
      assert.strictEqual(removed.id, id, `member_removed id ${JSON.stringify(id)} keeps its type`);
      assert.equal(ch.members.count, 2);
    }
    const frames = (event) =>
      wire.frames
        .filter((f) => f.msg && f.msg.event === event)
        .map((f) => JSON.parse(f.msg.data))
        .filter((d) => d.user_id !== 'w');
    await waitUntil(() => frames('pusher_internal:member_removed').length === 2, 'both member_removed on the wire');
    assert.deepEqual(frames('pusher_internal:member_added'), [
      { user_id: 7, user_info: { name: 'Ada' } },
      { user_id: '8', user_info: { name: 'Ada' } },
    ]);
    assert.deepEqual(frames('pusher_internal:member_removed'), [{ user_id: 7 }, { user_id: '8' }]);
  });

  it('presence channel_data without user_id is refused with pusher:subscription_error', async () => {
    const name = 'presence-nouser';
    const r = raw(ctx.server);
    const socketId = await r.connected();
    const a = ctx.api.authorizeChannel(socketId, name, { user_info: { name: 'Ghost' } });
    r.send({ event: 'pusher:subscribe', data: { auth: a.auth, channel_data: a.channel_data, channel: name } });
    const f = await r.event('pusher:subscription_error', name);
    const data = typeof f.msg.data === 'string' ? JSON.parse(f.msg.data) : f.msg.data;
    assert.equal(data.status, 401);
    assert.equal(r.closeInfo, null);
  });

  it('channel_data is verified exactly as received (PHP-style escapes)', async () => {
    const name = 'presence-php.1';
    const r = raw(ctx.server);
    const socketId = await r.connected();
    // What PHP json_encode produces: escaped "/" and \u escapes.
    const channelData = '{"user_id":"5","user_info":{"name":"Zo\\u00eb","url":"https:\\/\\/x.test\\/u\\/5"}}';
    const { createHmac } = require('node:crypto');
    const sig = createHmac('sha256', 'e2e-secret').update(`${socketId}:${name}:${channelData}`).digest('hex');
    r.send({ event: 'pusher:subscribe', data: { auth: `e2e-key:${sig}`, channel_data: channelData, channel: name } });
    const ok = await r.event('pusher_internal:subscription_succeeded', name);
    const p = JSON.parse(ok.msg.data).presence;
    assert.deepEqual(p.hash, { 5: { name: 'Zoë', url: 'https://x.test/u/5' } });
  });
});
