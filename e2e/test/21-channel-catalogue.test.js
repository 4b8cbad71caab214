'use strict';
// The channel catalogue in strict mode: a trigger on a channel outside it is refused with
// 400 and the nearest pattern, and a subscribe to one gets a channel-scoped
// pusher:subscription_error while the connection stays and a good channel still receives.
// In warn mode the same subscribe and trigger work, and the shape is logged once.

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { useServer } = require('../helpers/lifecycle');
const { seedCatalogue, typoMessage } = require('../helpers/catalogue');
const { client, connected, subscribe, once, Recorder } = require('../helpers/clients');

const { file: catalogueFile } = seedCatalogue('reverbd-catalogue-');

describe('channel catalogue, strict', () => {
  const ctx = useServer({ env: { REVERB_CHANNELS_FILE: catalogueFile, REVERB_CHANNELS_MODE: 'strict' } });

  it('a trigger on a typo is refused with 400 naming the nearest pattern', async () => {
    await assert.rejects(ctx.api.trigger('private-tenant.5.admin', 'note', { x: 1 }), (err) => {
      assert.equal(err.status, 400);
      assert.equal(JSON.parse(err.body).error, typoMessage);
      return true;
    });
  });

  it('a subscribe to a typo gets subscription_error; the connection stays and a good channel receives', async () => {
    const p = client(ctx.server);
    await connected(p);
    const good = await subscribe(p, 'private-tenant.5.admins');
    const states = Recorder.named(p.connection, ['state_change']);

    const refused = p.subscribe('private-tenant.5.admin');
    const err = (await once(refused, 'pusher:subscription_error', undefined, 'subscription_error on the typo')).data;
    assert.equal(err.type, 'InvalidChannel');
    assert.equal(err.status, 400);
    assert.equal(err.error, typoMessage);
    assert.equal(refused.subscribed, false);

    const got = once(good, 'still-here');
    await ctx.api.trigger('private-tenant.5.admins', 'still-here', { ok: true });
    assert.deepEqual((await got).data, { ok: true });
    assert.equal(p.connection.state, 'connected');
    assert.deepEqual(states.names(), []);
  });
});

describe('channel catalogue, warn', () => {
  const ctx = useServer({ env: { REVERB_CHANNELS_FILE: catalogueFile, REVERB_CHANNELS_MODE: 'warn' } });

  it('a subscribe and triggers on a typo work, and the shape is logged once with the nearest pattern', async () => {
    const p = client(ctx.server);
    await connected(p);
    const typo = await subscribe(p, 'private-tenant.5.admin');
    const got = Recorder.named(typo, ['note']);
    await ctx.api.trigger('private-tenant.5.admin', 'note', { n: 1 });
    await ctx.api.trigger('private-tenant.6.admin', 'note', { n: 2 });
    await got.waitFor('note');
    assert.deepEqual(got.events.map((e) => e.data), [{ n: 1 }]);
    const lines = ctx.server.logs().split('\n').filter((l) => l.includes('channel outside the catalogue'));
    assert.equal(lines.length, 1, `one line per shape, got:\n${lines.join('\n')}`);
    assert.match(lines[0], /tenant\.\{id\}\.admins/);
  });
});
