'use strict';
// Case 24: the channel catalogue's generated helpers used as a Laravel front end uses them.
// `reverbd channels generate ts` writes the module, tsc --strict compiles it (and an app's Echo
// calls type-check against laravel-echo's own types), and Echo subscribes with its helpers on a
// server enforcing the same catalogue in strict mode, while the `pusher` SDK triggers on the
// names the same helpers build. A hand-written typo gets the catalogue's subscription error
// through Echo's .error(), and the helper-built channels on that connection keep receiving.
// The generated PHP helpers must build the same names (when `php` is installed).

const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { before, describe, it } = require('node:test');
const { useServer } = require('../helpers/lifecycle');
const { seedCatalogue, typoMessage } = require('../helpers/catalogue');
const { ensureBinary } = require('../helpers/server');
const { echo, connected, withTimeout, collector } = require('../helpers/clients');

const NODE_MODULES = path.resolve(__dirname, '..', 'node_modules');
const TSC = path.join(NODE_MODULES, '.bin', 'tsc');

const { dir, file: catalogueFile } = seedCatalogue('reverbd-catalogue-echo-');

// run runs a command and returns {status, output}; output is stdout and stderr together.
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

// generate runs `reverbd channels generate <lang> --out <file> <catalogue>` with the built binary.
function generate(lang, out) {
  const r = run(ensureBinary(), ['channels', 'generate', lang, '--out', out, catalogueFile]);
  assert.equal(r.status, 0, `reverbd channels generate ${lang}: ${r.output}`);
}

// typeCheck runs tsc --strict --noEmit on an app file importing "./channels" and "laravel-echo",
// which resolves to e2e/node_modules (its types), as it would in a Laravel app's resources/js.
function typeCheck(name, source) {
  fs.writeFileSync(path.join(dir, name), source);
  const tsconfig = path.join(dir, `${name}.tsconfig.json`);
  fs.writeFileSync(tsconfig, JSON.stringify({
    compilerOptions: {
      strict: true,
      module: 'commonjs',
      target: 'es2020',
      noEmit: true,
      skipLibCheck: true,
      types: [],
      paths: { 'laravel-echo': [path.join(NODE_MODULES, 'laravel-echo')] },
    },
    files: [name],
  }));
  return run(TSC, ['-p', tsconfig]);
}

// subscribed waits for Echo's .subscribed() callback on a channel object.
function subscribed(channel, what) {
  let resolve;
  const p = new Promise((r) => {
    resolve = r;
  });
  channel.subscribed(() => resolve());
  return withTimeout(p, what || 'Echo subscribed');
}

describe('channel catalogue: generated helpers with Laravel Echo', () => {
  const ctx = useServer({ env: { REVERB_CHANNELS_FILE: catalogueFile, REVERB_CHANNELS_MODE: 'strict' } });
  let channels;

  before(() => {
    generate('ts', path.join(dir, 'channels.ts'));
    const out = path.join(dir, 'js');
    const r = run(TSC, ['--strict', '--module', 'commonjs', '--target', 'es2020', '--outDir', out, path.join(dir, 'channels.ts')]);
    assert.equal(r.status, 0, `tsc --strict channels.ts:\n${r.output}`);
    ({ channels } = require(path.join(out, 'channels.js')));
  });

  it("an app's Echo calls with the helpers type-check against laravel-echo's types; a misspelled helper does not", () => {
    const app = [
      'import type Echo from "laravel-echo";',
      'import { channels } from "./channels";',
      'export function listen(echo: Echo<"reverb">, tenantId: number, orderId: number, onLowStock: (e: { sku: string }) => void): void {',
      '  echo.private(channels.tenantAdmins(tenantId)).listen(".low-stock", onLowStock);',
      '  echo.join(channels.tenant(tenantId)).here((users: { id: number }[]) => users.length);',
      '  echo.private(channels.order(orderId));',
      '}',
      '',
    ].join('\n');
    const ok = typeCheck('app.ts', app);
    assert.equal(ok.status, 0, `tsc --strict app.ts:\n${ok.output}`);

    const typo = typeCheck('typo.ts', app.replace('channels.tenantAdmins(tenantId)', 'channels.tenantAdmin(tenantId)'));
    assert.notEqual(typo.status, 0, 'a misspelled helper compiled');
    assert.match(typo.output, /error TS\d+: Property 'tenantAdmin' does not exist/);
  });

  it('the generated PHP helpers build the same names as the TypeScript ones', (t) => {
    if (spawnSync('php', ['--version']).error) {
      if (process.env.CI === 'true') assert.fail('php is not installed (apt-get install -y php-cli)');
      t.skip('php is not installed');
      return;
    }
    const file = path.join(dir, 'ChannelRegistry.php');
    generate('php', file);
    const r = run('php', [
      '-r',
      'require $argv[1]; use App\\Broadcasting\\ChannelRegistry as C; echo json_encode([C::tenant(5), C::tenantAdmins(5), C::user(42), C::order(9)]);',
      file,
    ]);
    assert.equal(r.status, 0, `php: ${r.output}`);
    assert.deepEqual(JSON.parse(r.output), [channels.tenant(5), channels.tenantAdmins(5), channels.user(42), channels.order(9)]);
    assert.deepEqual(JSON.parse(r.output), ['tenant.5', 'tenant.5.admins', 'user.42', 'order.9']);
  });

  // app subscribes as a front end would, only through the helpers, and waits until every
  // channel is subscribed. It returns the collectors of each channel's events and errors.
  async function app(Echo) {
    const got = {
      lowStock: collector(),
      stock: collector(),
      paid: collector(),
      notice: collector(),
      here: collector(),
      errors: collector(),
    };
    const admins = Echo.private(channels.tenantAdmins(5)).listen('.low-stock', got.lowStock).error(got.errors);
    const order = Echo.private(channels.order(9)).listen('.order.paid', got.paid).error(got.errors);
    const user = Echo.private(channels.user(42)).listen('.notice', got.notice).error(got.errors);
    Echo.join(channels.tenant(5)).here(got.here).listen('.stock.updated', got.stock).error(got.errors);
    await Promise.all([
      subscribed(admins, `${channels.tenantAdmins(5)} subscribed`),
      subscribed(order, `${channels.order(9)} subscribed`),
      subscribed(user, `${channels.user(42)} subscribed`),
      got.here.nth(1, `here() on ${channels.tenant(5)}`),
    ]);
    return got;
  }

  // triggerAll sends one event to each of the app's channels with the SDK, on the names the
  // helpers build with the prefix Laravel's PrivateChannel and PresenceChannel add.
  async function triggerAll(api, n) {
    await api.trigger(`private-${channels.tenantAdmins(5)}`, 'low-stock', { sku: 'A-1', n });
    await api.trigger(`presence-${channels.tenant(5)}`, 'stock.updated', { sku: 'A-1', n });
    await api.trigger(`private-${channels.order(9)}`, 'order.paid', { order_id: 9, n });
    await api.trigger(`private-${channels.user(42)}`, 'notice', { text: 'hi', n });
  }

  async function receivedAll(got, n) {
    assert.deepEqual(await got.lowStock.nth(n, `.low-stock #${n}`), { sku: 'A-1', n });
    assert.deepEqual(await got.stock.nth(n, `.stock.updated #${n}`), { sku: 'A-1', n });
    assert.deepEqual(await got.paid.nth(n, `.order.paid #${n}`), { order_id: 9, n });
    assert.deepEqual(await got.notice.nth(n, `.notice #${n}`), { text: 'hi', n });
  }

  it('Echo subscribes with the helpers and receives what the SDK triggers on the same names', async () => {
    const Echo = await echo(ctx.server, { user: { user_id: '1', user_info: { id: 1, name: 'Ada' } } });
    await connected(Echo.connector.pusher);
    const got = await app(Echo);
    assert.deepEqual(got.here.calls[0], [{ id: 1, name: 'Ada' }]);

    await triggerAll(ctx.api, 1);
    await receivedAll(got, 1);
    assert.deepEqual(got.errors.calls, []);
  });

  it("a hand-written typo Echo.private('tenant.5.admin') gets the catalogue's error in .error(); the helpers' channels keep receiving", async () => {
    const Echo = await echo(ctx.server, { user: { user_id: '1', user_info: { id: 1, name: 'Ada' } } });
    const got = await app(Echo);

    const typoErr = collector();
    const typoEvents = collector();
    Echo.private('tenant.5.admin').listen('.low-stock', typoEvents).error(typoErr);
    const err = await typoErr.nth(1, "Echo .error() on 'tenant.5.admin'");
    assert.equal(err.type, 'InvalidChannel');
    assert.equal(err.status, 400);
    assert.equal(err.error, typoMessage);

    // The same connection stays up and every helper-built channel still receives.
    assert.equal(Echo.connectionStatus(), 'connected');
    await triggerAll(ctx.api, 1);
    await receivedAll(got, 1);
    assert.equal(Echo.connectionStatus(), 'connected');
    assert.deepEqual(got.errors.calls, []);
    assert.equal(typoErr.calls.length, 1);
    assert.equal(typoEvents.calls.length, 0);
  });
});
