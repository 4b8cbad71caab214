'use strict';
// Case 21: Pusher's watchlist events (pusher.user.watchlist in pusher-js) across two cluster
// nodes, with REVERB_APP_MAX_WATCHLIST_SIZE=3: a watcher signed in on node A with a
// watchlist in its user_data gets the state of its watchlist (`online` and `offline`
// events), then `online` when a watched user signs in on node B and `offline` when its last
// signed-in connection is gone; a watchlist past the limit refuses the signin with 4009.
// Like case 14 it always starts its own two nodes sharing a Redis.

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { useCluster } = require('../helpers/lifecycle');
const { client, raw, connected, once, stateIs, Recorder } = require('../helpers/clients');

describe('watchlist events across two cluster nodes', () => {
  const ctx = useCluster(2, { env: { REVERB_APP_MAX_WATCHLIST_SIZE: '3' } });
  const A = () => ctx.servers[0];
  const B = () => ctx.servers[1];

  // signIn connects a pusher-js client to `server` as `user` and signs it in, recording its
  // watchlist events from before the signin.
  async function signIn(server, user) {
    const p = client(server, { signinUser: user });
    const rec = Recorder.named(p.user.watchlist, ['online', 'offline']);
    await connected(p);
    const ok = once(p, 'pusher:signin_success', undefined, 'pusher:signin_success');
    p.signin();
    await ok;
    return { p, rec };
  }

  // told waits until rec has been told `name` listing exactly `ids` (the n-th such event).
  const told = (rec, name, ids, count = 1) =>
    rec.waitFor(name, { count, where: (e) => JSON.stringify(e.data.user_ids) === JSON.stringify(ids) });

  it('pusher-js: a watcher on A hears a user on B come online, then go offline', async () => {
    const w = await signIn(A(), { id: 'wl-1', watchlist: ['wl-7', 'wl-9'] });
    // The state at signin: nobody it watches is online.
    const first = await told(w.rec, 'offline', ['wl-7', 'wl-9']);
    assert.equal(first.data.name, 'offline');
    assert.deepEqual(w.rec.named('online'), []);

    const seven = await signIn(B(), { id: 'wl-7' });
    const online = await told(w.rec, 'online', ['wl-7']);
    assert.deepEqual(online.data, { name: 'online', user_ids: ['wl-7'] });
    // A second connection of the same user on the watcher's own node tells nothing more.
    const sevenAgain = await signIn(A(), { id: 'wl-7' });
    // A user watching wl-7 that signs in now is told it is online at once.
    const late = await signIn(A(), { id: 'wl-2', watchlist: ['wl-7'] });
    await told(late.rec, 'online', ['wl-7']);

    seven.p.disconnect();
    sevenAgain.p.disconnect();
    await told(w.rec, 'offline', ['wl-7']);
    await told(late.rec, 'offline', ['wl-7']);
    assert.equal(w.rec.named('online').length, 1, 'online once for two connections');
    assert.deepEqual(w.rec.names(), ['offline', 'online', 'offline']);
  });

  it('pusher-js: a watchlist past max_watchlist_size is refused with 4009, without reconnecting', async () => {
    const p = client(A(), { signinUser: { id: 'wl-3', watchlist: ['a', 'b', 'c', 'd'] } });
    await connected(p);
    const errors = Recorder.named(p.connection, ['error']);
    const states = [];
    p.connection.bind('state_change', ({ current }) => states.push(current));
    p.signin();
    await stateIs(p, 'disconnected', 5000);
    const e = await errors.waitFor('error', { where: (x) => x.data && x.data.data && x.data.data.code === 4009 });
    assert.match(e.data.data.message, /4 user ids, more than the 3 allowed/);
    assert.ok(!states.includes('connecting'), `must not reconnect, states: ${states.join(',')}`);
  });

  it('wire: the state frame is pusher_internal:watchlist_events with a JSON string of events', async () => {
    const on = await signIn(B(), { id: 'wl-5' });
    const r = raw(A());
    const socketId = await r.connected();
    r.send({ event: 'pusher:signin', data: ctx.apis[0].authenticateUser(socketId, { id: 'wl-6', watchlist: ['wl-5', 'wl-4'] }) });
    await r.event('pusher:signin_success');
    const f = await r.event('pusher_internal:watchlist_events');
    assert.equal(typeof f.msg.data, 'string');
    assert.equal(f.msg.channel, undefined);
    assert.deepEqual(JSON.parse(f.msg.data), {
      events: [{ name: 'online', user_ids: ['wl-5'] }, { name: 'offline', user_ids: ['wl-4'] }],
    });
    r.from = r.frames.length; // frames after the state
    on.p.disconnect();
    const off = await r.event('pusher_internal:watchlist_events');
    assert.deepEqual(JSON.parse(off.msg.data), { events: [{ name: 'offline', user_ids: ['wl-5'] }] });
  });
});
