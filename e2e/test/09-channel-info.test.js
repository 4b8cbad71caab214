'use strict';
// Case 9: channel information through the SDK: /channels, /channels/{name},
// /channels/{name}/users and /connections, compared as exact JSON.

const assert = require('node:assert/strict');
const { describe, it, before } = require('node:test');
const { useServer } = require('../helpers/lifecycle');
const { client, connected, subscribe, getJSON } = require('../helpers/clients');

describe('channel information', () => {
  const ctx = useServer(undefined, { keepClients: true });

  // Fixed population for the whole file (the clients stay open until the end):
  //   presence-room.a: users "1" (two connections) and "2"  → 2 users, 3 subscriptions
  //   presence-room.b: user 10 (a JSON number in channel_data)
  //   news: 1 subscription; private-orders: 2 subscriptions
  // 4 connections in total.
  before(async () => {
    const c1 = client(ctx.server, { user: { user_id: '1', user_info: { name: 'Ada' } } });
    const c2 = client(ctx.server, { user: { user_id: '1', user_info: { name: 'Ada' } } });
    const c3 = client(ctx.server, { user: { user_id: '2', user_info: { name: 'Lin' } } });
    const c4 = client(ctx.server, { user: { user_id: 10, user_info: { name: 'Num' } } });
    await Promise.all([c1, c2, c3, c4].map((c) => connected(c)));
    await subscribe(c1, 'presence-room.a');
    await subscribe(c2, 'presence-room.a');
    await subscribe(c3, 'presence-room.a');
    await subscribe(c4, 'presence-room.b');
    await subscribe(c1, 'news');
    await subscribe(c3, 'private-orders');
    await subscribe(c4, 'private-orders');
  });

  const { closeAll } = require('../helpers/clients');

  it('GET /connections', async () => {
    assert.deepEqual(await getJSON(ctx.api, '/connections'), { status: 200, body: { connections: 4 } });
  });

  it('GET /channels?filter_by_prefix=presence-&info=user_count', async () => {
    const { status, body } = await getJSON(ctx.api, '/channels', { filter_by_prefix: 'presence-', info: 'user_count' });
    assert.equal(status, 200);
    assert.deepEqual(body, {
      channels: { 'presence-room.a': { user_count: 2 }, 'presence-room.b': { user_count: 1 } },
    });
  });

  it('GET /channels lists occupied channels with {} values', async () => {
    const { body } = await getJSON(ctx.api, '/channels');
    assert.deepEqual(body, {
      channels: { 'presence-room.a': {}, 'presence-room.b': {}, news: {}, 'private-orders': {} },
    });
  });

  it('GET /channels?info=subscription_count', async () => {
    const { body } = await getJSON(ctx.api, '/channels', { filter_by_prefix: 'private-', info: 'subscription_count' });
    assert.deepEqual(body, { channels: { 'private-orders': { subscription_count: 2 } } });
  });

  it('GET /channels with a prefix matching nothing → {"channels":{}} (an object)', async () => {
    const res = await ctx.api.get({ path: '/channels', params: { filter_by_prefix: 'private-nothing-' } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { channels: {} });
  });

  it('GET /channels/{presence} with info=user_count,subscription_count', async () => {
    const { status, body } = await getJSON(ctx.api, '/channels/presence-room.a', {
      info: 'user_count,subscription_count',
    });
    assert.equal(status, 200);
    assert.deepEqual(body, { occupied: true, user_count: 2, subscription_count: 3 });
  });

  it('GET /channels/{public} with info=subscription_count (user_count ignored on non-presence)', async () => {
    assert.deepEqual((await getJSON(ctx.api, '/channels/news', { info: 'subscription_count' })).body, {
      occupied: true,
      subscription_count: 1,
    });
    assert.deepEqual(
      (await getJSON(ctx.api, '/channels/private-orders', { info: 'user_count,subscription_count' })).body,
      { occupied: true, subscription_count: 2 },
    );
    assert.deepEqual((await getJSON(ctx.api, '/channels/news')).body, { occupied: true });
  });

  it('GET /channels/{unoccupied}', async () => {
    assert.deepEqual((await getJSON(ctx.api, '/channels/nobody-here')).body, { occupied: false });
    assert.deepEqual((await getJSON(ctx.api, '/channels/nobody-here', { info: 'subscription_count' })).body, {
      occupied: false,
      subscription_count: 0,
    });
  });

  it('GET /channels/{presence}/users: one entry per distinct user, ids as strings', async () => {
    const a = (await getJSON(ctx.api, '/channels/presence-room.a/users')).body;
    assert.deepEqual(Object.keys(a), ['users']);
    assert.deepEqual([...a.users].sort((x, y) => x.id.localeCompare(y.id)), [{ id: '1' }, { id: '2' }]);
    assert.deepEqual((await getJSON(ctx.api, '/channels/presence-room.b/users')).body, { users: [{ id: '10' }] });
    assert.deepEqual((await getJSON(ctx.api, '/channels/presence-empty/users')).body, { users: [] });
  });

  it('GET /channels/{non-presence}/users → 400', async () => {
    await assert.rejects(ctx.api.get({ path: '/channels/news/users' }), (e) => e.status === 400);
  });

  it('bad signature → 401; unknown app id → 404', async () => {
    const { sdk } = require('../helpers/clients');
    const wrong = sdk(ctx.server, { secret: 'not-the-secret' });
    await assert.rejects(wrong.get({ path: '/channels' }), (e) => e.status === 401);
    const other = sdk(ctx.server, { appId: 'no-such-app' });
    await assert.rejects(other.get({ path: '/channels' }), (e) => e.status === 404);
  });

  it('GET /up is unauthenticated', async () => {
    const res = await fetch(`${ctx.server.base}/up`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { health: 'OK' });
    closeAll();
  });
});
