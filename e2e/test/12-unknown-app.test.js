'use strict';
// Case 12: an unknown app key is refused with 4001 and pusher-js does not
// reconnect.

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { useServer } = require('../helpers/lifecycle');
const { client, raw, stateIs, Recorder, withTimeout } = require('../helpers/clients');

describe('unknown app key', () => {
  const ctx = useServer();

  it('pusher-js gets error 4001 and ends disconnected without retrying', async () => {
    const p = client(ctx.server, { key: 'no-such-key' });
    const states = [];
    p.connection.bind('state_change', ({ current }) => states.push(current));
    const errors = Recorder.named(p.connection, ['error']);
    const connectedEvents = Recorder.named(p.connection, ['connected']);

    const err = await errors.waitFor('error');
    const pusherErr = err.data.type === 'WebSocketError' ? err.data.error : err.data;
    assert.equal(pusherErr.type, 'PusherError');
    assert.equal(pusherErr.data.code, 4001);

    await stateIs(p, 'disconnected');
    // pusher-js schedules a retry only through its retry timer; after a
    // refusal none may be pending.
    const timer = p.connection.retryTimer;
    assert.ok(!timer || !timer.isRunning(), 'no reconnect may be scheduled');
    assert.equal(p.connection.state, 'disconnected');
    assert.deepEqual(connectedEvents.names(), []);
    // The constructor already moved to 'connecting' before the binding above;
    // from then on the only transition is the refusal.
    assert.deepEqual(states, ['disconnected']);
  });

  it('wire: first frame pusher:error 4001, then close 4001, never connection_established', async () => {
    const r = raw(ctx.server, { key: 'no-such-key' });
    const closed = await withTimeout(r.closed, 'close after 4001');
    assert.equal(closed.code, 4001);
    assert.ok(r.frames.length >= 1, 'a pusher:error frame must come before the close');
    const first = r.frames[0].msg;
    assert.equal(first.event, 'pusher:error');
    const data = typeof first.data === 'string' ? JSON.parse(first.data) : first.data;
    assert.equal(data.code, 4001);
    assert.equal(typeof data.message, 'string');
    assert.equal(r.frames.filter((f) => f.msg && f.msg.event === 'pusher:connection_established').length, 0);
  });

  it('the known key still connects on the same server', async () => {
    const r = raw(ctx.server);
    const id = await r.connected();
    assert.match(id, /^\d+\.\d+$/);
  });
});
