'use strict';
// Case 4: end-to-end encrypted channels. The SDK encrypts with the master key,
// the auth handler hands pusher-js the shared_secret, the server relays the
// ciphertext untouched and never needs the key.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { describe, it } = require('node:test');
const nacl = require('tweetnacl');
const { useServer } = require('../helpers/lifecycle');
const { sdk, client, raw, connected, subscribe, once } = require('../helpers/clients');

const MASTER_KEY = crypto.randomBytes(32).toString('base64');

describe('encrypted channel', () => {
  const ctx = useServer();

  it('pusher-js decrypts an event the SDK encrypted', async () => {
    const api = sdk(ctx.server, { encryptionMasterKeyBase64: MASTER_KEY });
    const p = client(ctx.server, { signer: api });
    await connected(p);
    const ch = await subscribe(p, 'private-encrypted-orders');
    const got = once(ch, 'order.paid');
    const payload = { id: 7, note: 'Zoë / ✓', items: [1, 2, 3] };
    const res = await api.trigger('private-encrypted-orders', 'order.paid', payload);
    assert.equal(res.status, 200);
    assert.deepEqual((await got).data, payload);
  });

  it('the ciphertext is relayed byte-for-byte and decrypts with the channel shared secret', async () => {
    const api = sdk(ctx.server, { encryptionMasterKeyBase64: MASTER_KEY });
    const channel = 'private-encrypted-wire';
    const r = raw(ctx.server);
    await r.connected();
    await r.subscribe(channel, { signer: api });

    // Build the envelope ourselves so its exact bytes are known.
    const key = api.channelSharedSecret(channel);
    const nonce = nacl.randomBytes(24);
    const plain = Buffer.from(JSON.stringify({ secret: 'payload', n: 42 }), 'utf8');
    const box = nacl.secretbox(new Uint8Array(plain), nonce, new Uint8Array(key));
    const envelope = JSON.stringify({
      nonce: Buffer.from(nonce).toString('base64'),
      ciphertext: Buffer.from(box).toString('base64'),
    });
    // post() sends data as given (trigger() would encrypt again).
    await api.post({ path: '/events', body: { name: 'sealed', channels: [channel], data: envelope } });

    const f = await r.event('sealed', channel);
    assert.equal(f.msg.data, envelope, 'ciphertext must be relayed unchanged');
    const env = JSON.parse(f.msg.data);
    const opened = nacl.secretbox.open(
      new Uint8Array(Buffer.from(env.ciphertext, 'base64')),
      new Uint8Array(Buffer.from(env.nonce, 'base64')),
      new Uint8Array(key),
    );
    assert.deepEqual(JSON.parse(Buffer.from(opened).toString('utf8')), { secret: 'payload', n: 42 });
  });

  it('client events on private-encrypted-* are rejected with 4301 and not relayed', async () => {
    const api = sdk(ctx.server, { encryptionMasterKeyBase64: MASTER_KEY });
    const channel = 'private-encrypted-chat';
    const sender = raw(ctx.server);
    await sender.connected();
    await sender.subscribe(channel, { signer: api });
    const receiver = raw(ctx.server);
    await receiver.connected();
    await receiver.subscribe(channel, { signer: api });

    sender.send({ event: 'client-typing', channel, data: { typing: true } });
    const err = await sender.event('pusher:error');
    const data = typeof err.msg.data === 'string' ? JSON.parse(err.msg.data) : err.msg.data;
    assert.equal(data.code, 4301);

    await api.post({ path: '/events', body: { name: 'marker', channels: [channel], data: '{}' } });
    await receiver.event('marker', channel);
    assert.equal(receiver.frames.filter((f) => f.msg && f.msg.event === 'client-typing').length, 0);
    assert.equal(sender.closeInfo, null, 'a 4301 must not close the connection');
  });
});
