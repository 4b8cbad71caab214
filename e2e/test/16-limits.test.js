'use strict';
// Case 15: per-app limits: max_subscriptions, max_presence_members and Pusher's presence
// member limits (user_id at most 128 characters, user_info at most 1 KiB, on by default)
// refuse with a channel-scoped pusher:subscription_error, which pusher-js hands to the
// channel, and the connection stays connected. A presence limit's refusal has soketi's shape,
// {"type":"LimitReached","error":…,"status":4100}.

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { useServer } = require('../helpers/lifecycle');
const { client, connected, subscribe, once, Recorder } = require('../helpers/clients');

describe('limits', () => {
  const ctx = useServer({
    env: { REVERB_APP_MAX_SUBSCRIPTIONS: '2', REVERB_APP_MAX_PRESENCE_MEMBERS: '1' },
  });

  it('max_subscriptions: the subscribe past it fires subscription_error, the connection stays', async () => {
    const p = client(ctx.server);
    await connected(p);
    const first = await subscribe(p, 'limits.1');
    await subscribe(p, 'private-limits.2');
    const states = Recorder.named(p.connection, ['state_change']);

    const refused = p.subscribe('limits.3');
    const err = (await once(refused, 'pusher:subscription_error', undefined, 'subscription_error on limits.3')).data;
    assert.equal(err.type, 'LimitReached');
    assert.equal(err.status, 403);
    assert.equal(refused.subscribed, false);

    // Still connected, and the channels within the limit still deliver.
    const got = once(first, 'still-here');
    await ctx.api.trigger('limits.1', 'still-here', { ok: true });
    assert.deepEqual((await got).data, { ok: true });
    assert.equal(p.connection.state, 'connected');
    assert.deepEqual(states.names(), []);
  });

  it('max_presence_members: a new user is refused, another socket of a present user joins', async () => {
    const name = 'presence-limits';
    const ada = client(ctx.server, { user: { user_id: '1', user_info: { name: 'Ada' } } });
    await connected(ada);
    const chAda = await subscribe(ada, name);
    assert.equal(chAda.members.count, 1);

    const lin = client(ctx.server, { user: { user_id: '2', user_info: { name: 'Lin' } } });
    await connected(lin);
    const refused = lin.subscribe(name);
    const err = (await once(refused, 'pusher:subscription_error', undefined, 'subscription_error on the full channel')).data;
    assert.equal(err.type, 'LimitReached');
    assert.equal(err.status, 4100);
    assert.equal(lin.connection.state, 'connected');

    const ada2 = client(ctx.server, { user: { user_id: '1', user_info: { name: 'Ada' } } });
    await connected(ada2);
    const chAda2 = await subscribe(ada2, name);
    assert.equal(chAda2.members.count, 1);
    assert.equal(chAda.members.count, 1, 'Ada never saw Lin join');
  });

  it('presence member limits by default: user_id over 128 characters or user_info over 1 KiB is refused, at the limits joins', async () => {
    // {"n":"x…"} of exactly n bytes once JSON-encoded, as the SDK signs it.
    const info = (n) => ({ n: 'x'.repeat(n - 8) });
    const cases = [
      { name: 'presence-limits-id-over', user: { user_id: 'u'.repeat(129) }, ok: false },
      { name: 'presence-limits-id-at', user: { user_id: 'u'.repeat(128) }, ok: true },
      { name: 'presence-limits-info-over', user: { user_id: '1', user_info: info(1025) }, ok: false },
      { name: 'presence-limits-info-at', user: { user_id: '1', user_info: info(1024) }, ok: true },
    ];
    for (const { name, user, ok } of cases) {
      const p = client(ctx.server, { user });
      await connected(p);
      if (ok) {
        const ch = await subscribe(p, name);
        assert.equal(ch.members.count, 1, name);
        assert.deepEqual(ch.members.me.info, user.user_info ?? null, name);
        continue;
      }
      const refused = p.subscribe(name);
      const err = (await once(refused, 'pusher:subscription_error', undefined, `subscription_error on ${name}`)).data;
      assert.equal(err.type, 'LimitReached', name);
      assert.equal(err.status, 4100, name);
      assert.equal(refused.subscribed, false, name);
      // Still connected: a public channel still subscribes.
      await subscribe(p, `still-${name}`);
      assert.equal(p.connection.state, 'connected', name);
    }
  });
});
