'use strict';
// Case 10: Laravel Echo 2.x used exactly as a Laravel app's front end does.

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { useServer } = require('../helpers/lifecycle');
const { echo, connected, withTimeout, waitUntil, collector } = require('../helpers/clients');

// promise + resolver, for callbacks registered through Echo's fluent API.
function deferred() {
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

// subscribed waits for Echo's .subscribed() callback on a channel object.
function subscribed(channel, what) {
  const d = deferred();
  channel.subscribed(() => d.resolve());
  return withTimeout(d.promise, what || 'Echo subscribed');
}

describe('Laravel Echo', () => {
  const ctx = useServer();
  const tenant = 42;

  for (const broadcaster of ['reverb', 'pusher']) {
    it(`[${broadcaster}] Echo.private('tenant.{id}.admins').listen('.security.login.new') receives the SDK event`, async () => {
      const Echo = await echo(ctx.server, { broadcaster });
      await connected(Echo.connector.pusher);
      assert.match(Echo.socketId(), /^\d+\.\d+$/);
      const onLogin = collector();
      const ch = Echo.private(`tenant.${tenant}.admins`).listen('.security.login.new', onLogin);
      await subscribed(ch, 'private-tenant.42.admins subscribed');

      const payload = { ip_address: '203.0.113.9', device: 'Firefox on Linux' };
      await ctx.api.trigger(`private-tenant.${tenant}.admins`, 'security.login.new', JSON.stringify(payload));
      assert.deepEqual(await onLogin.nth(1, '.security.login.new'), payload);
    });
  }

  it("Echo.private('tenant.{id}').listen('.order.paid') and a namespaced Laravel event name", async () => {
    const Echo = await echo(ctx.server);
    const onPaid = collector();
    const onShipped = collector();
    const ch = Echo.private(`tenant.${tenant}`)
      .listen('.order.paid', onPaid)
      .listen('OrderShipped', onShipped); // → App\Events\OrderShipped
    await subscribed(ch);

    await ctx.api.trigger(`private-tenant.${tenant}`, 'order.paid', '{"order_id":1001,"amount":"19.90"}');
    assert.deepEqual(await onPaid.nth(1), { order_id: 1001, amount: '19.90' });

    // Exactly what Laravel's PHP SDK sends for broadcast(new OrderShipped(...)).
    await ctx.api.post({
      path: '/events',
      body: { name: 'App\\Events\\OrderShipped', data: '{"order":{"id":1001}}', channel: `private-tenant.${tenant}` },
    });
    assert.deepEqual(await onShipped.nth(1), { order: { id: 1001 } });
  });

  it('Echo.join(): here(), joining(), leaving() across two Echo instances', async () => {
    const ada = { user_id: '1', user_info: { id: 1, name: 'Ada' } };
    const lin = { user_id: '2', user_info: { id: 2, name: 'Lin' } };
    const e1 = await echo(ctx.server, { user: ada });
    const here1 = collector();
    const joining1 = collector();
    const leaving1 = collector();
    e1.join(`tenant.${tenant}`).here(here1).joining(joining1).leaving(leaving1);
    assert.deepEqual(await here1.nth(1, 'here() on the first instance'), [{ id: 1, name: 'Ada' }]);

    const e2 = await echo(ctx.server, { user: lin });
    const here2 = collector();
    e2.join(`tenant.${tenant}`).here(here2);
    const users = await here2.nth(1, 'here() on the second instance');
    assert.deepEqual(
      [...users].sort((a, b) => a.id - b.id),
      [
        { id: 1, name: 'Ada' },
        { id: 2, name: 'Lin' },
      ],
    );
    assert.deepEqual(await joining1.nth(1, 'joining()'), { id: 2, name: 'Lin' });

    e2.leave(`tenant.${tenant}`);
    assert.deepEqual(await leaving1.nth(1, 'leaving()'), { id: 2, name: 'Lin' });
    assert.equal(joining1.calls.length, 1);
    assert.equal(here1.calls.length, 1);
  });

  it('Echo whisper / listenForWhisper on a private channel', async () => {
    const e1 = await echo(ctx.server);
    const e2 = await echo(ctx.server);
    const c1 = e1.private(`tenant.${tenant}.chat`);
    const typing = collector();
    const c2 = e2.private(`tenant.${tenant}.chat`).listenForWhisper('typing', typing);
    await Promise.all([subscribed(c1), subscribed(c2)]);
    c1.whisper('typing', { name: 'Ada' });
    assert.deepEqual(await typing.nth(1, 'whisper'), { name: 'Ada' });
  });

  it('.error() fires when the server refuses the channel authorization', async () => {
    const Echo = await echo(ctx.server, { badAuth: (name) => name === `private-tenant.${tenant}.billing` });
    const onError = collector();
    const onEvent = collector();
    Echo.private(`tenant.${tenant}.billing`).listen('.invoice.created', onEvent).error(onError);
    const err = await onError.nth(1, 'Echo .error()');
    assert.equal(err.type, 'AuthError');
    assert.equal(err.status, 401);

    // The connection is still up; nothing arrives on the refused channel.
    assert.equal(Echo.connectionStatus(), 'connected');
    const ok = collector();
    const good = Echo.private(`tenant.${tenant}.ok`).listen('.ping', ok);
    await subscribed(good);
    const witness = await echo(ctx.server);
    const seen = collector();
    const w = witness.private(`tenant.${tenant}.billing`).listen('.invoice.created', seen);
    await subscribed(w);
    await ctx.api.trigger(`private-tenant.${tenant}.billing`, 'invoice.created', '{"id":5}');
    await seen.nth(1, 'witness got invoice.created');
    await ctx.api.trigger(`private-tenant.${tenant}.ok`, 'ping', '{}');
    await ok.nth(1, 'ping on the good channel');
    assert.equal(onEvent.calls.length, 0);
  });

  it('Echo.connectionStatus() and the connector onConnectionChange()', async () => {
    const Echo = await echo(ctx.server);
    await waitUntil(() => Echo.connectionStatus() === 'connected', 'Echo connected');
    const changes = collector();
    const stop = Echo.connector.onConnectionChange(changes);
    Echo.disconnect();
    assert.equal(await changes.nth(1), 'disconnected');
    stop();
  });
});
