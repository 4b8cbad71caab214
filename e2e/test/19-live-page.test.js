'use strict';
// Case 19: the admin listener's live page in a real browser: Debian's headless Chromium,
// driven over the DevTools protocol (helpers/chromium.js). The page loads with its basic
// auth, asks nothing of any other host, logs no console error, and its numbers move while
// pusher-js clients connect, subscribe, join a presence channel and receive a trigger.
// Screenshots (a laptop's and a phone's width) go to e2e/test-output/ (E2E_OUTPUT_DIR
// overrides it). Requires chromium: skipped when missing, a failure under CI=true.

const assert = require('node:assert/strict');
const path = require('node:path');
const { describe, it, before, after } = require('node:test');
const { useServer } = require('../helpers/lifecycle');
const { freePort } = require('../helpers/server');
const { client, connected, subscribe, once, waitUntil } = require('../helpers/clients');
const { findChromium, launchChromium } = require('../helpers/chromium');

const chromium = findChromium();
const CI = process.env.CI === 'true';
const OUTPUT = path.resolve(process.env.E2E_OUTPUT_DIR || path.join(__dirname, '..', 'test-output'));
const PASS = process.env.E2E_QUEUE_CONNECTION || 'memory';
const USER = 'ops';
const PASSWORD = 'live-pw';

// readPage returns the figures the page shows, as text, and when it last updated.
const readPage = `(() => {
  const t = (id) => document.getElementById(id).textContent;
  const cells = (id) => [...document.querySelectorAll('#' + id + ' tbody tr:not(.empty)')]
    .map((tr) => [...tr.cells].map((td) => td.firstChild ? td.firstChild.textContent : ''));
  return {
    updated: document.body.dataset.updated || '',
    connections: t('connections'),
    messagesOutTotal: t('messages-out-total'),
    messagesInTotal: t('messages-in-total'),
    deliveryCount: t('delivery-count'),
    deliveryP50: t('delivery-p50'),
    outLine: document.querySelector('#chart-messages path[data-line="out"]').getAttribute('d') || '',
    connectionsLine: document.querySelector('#chart-connections path[data-line="connections"]').getAttribute('d') || '',
    shapes: cells('shapes'),
    presence: cells('presence'),
    status: t('status'),
  };
})()`;

const number = (s) => Number(String(s).replace(/,/g, ''));

describe(
  'the live page in headless Chromium',
  { skip: chromium.missing && !CI ? `${chromium.missing}; under CI=true this fails` : false },
  () => {
    if (chromium.missing) {
      it('chromium is installed', () => assert.fail(chromium.missing));
      return;
    }

    const options = {
      env: { REVERB_ADMIN_HOST: '127.0.0.1', REVERB_ADMIN_USERNAME: USER, REVERB_ADMIN_PASSWORD: PASSWORD },
    };
    // Registered before useServer's hooks: the admin port is known before the server starts.
    before(async () => {
      options.env.REVERB_ADMIN_PORT = String(await freePort());
    });
    const ctx = useServer(options, { keepClients: true });

    const b = { browser: null, page: null, problems: [], requests: [] };
    let admin;
    before(
      async () => {
        admin = `http://127.0.0.1:${options.env.REVERB_ADMIN_PORT}/`;
        b.browser = await launchChromium(chromium.bin);
        const page = await b.browser.newPage();
        b.page = page;
        page.on('Runtime.consoleAPICalled', (e) => {
          if (e.type === 'error' || e.type === 'assert' || e.type === 'warning') {
            b.problems.push(`console.${e.type}: ${e.args.map((a) => a.value ?? a.description).join(' ')}`);
          }
        });
        page.on('Runtime.exceptionThrown', (e) => {
          const d = e.exceptionDetails;
          b.problems.push(`exception: ${(d.exception && d.exception.description) || d.text}`);
        });
        page.on('Log.entryAdded', (e) => {
          if (e.entry.level === 'error' || e.entry.level === 'warning') {
            b.problems.push(`${e.entry.source} ${e.entry.level}: ${e.entry.text} ${e.entry.url || ''}`);
          }
        });
        page.on('Network.requestWillBeSent', (e) => b.requests.push(e.request.url));
        await page.send('Runtime.enable');
        await page.send('Log.enable');
        await page.send('Network.enable');
        await page.send('Page.enable');
        // The admin listener's basic auth, on every request the page makes.
        const auth = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
        await page.send('Network.setExtraHTTPHeaders', { headers: { Authorization: `Basic ${auth}` } });
        await page.send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });
      },
      { timeout: 30000 },
    );
    after(async () => {
      if (b.browser) await b.browser.close();
    });

    // updatedAfter waits for the page to draw a reading newer than `since` and returns it.
    async function updatedAfter(since, what) {
      let seen;
      await waitUntil(
        async () => {
          seen = await b.page.evaluate(readPage);
          return seen.updated && seen.updated > since;
        },
        what,
        5000,
        100,
      );
      return seen;
    }

    it('loads behind the admin credentials and shows a reading', async () => {
      const loaded = new Promise((resolve) => b.page.on('Page.loadEventFired', resolve));
      const nav = await b.page.send('Page.navigate', { url: admin });
      assert.equal(nav.errorText, undefined, `navigate: ${nav.errorText}`);
      await loaded;
      assert.equal(await b.page.evaluate('document.title'), 'reverbd · live');
      const first = await updatedAfter('', 'the first reading on the page');
      assert.equal(first.connections, '0');
      assert.match(first.status, /^live/);
    });

    it('numbers move while clients connect, subscribe and receive a trigger', async () => {
      const start = await b.page.evaluate(readPage);
      const channel = 'private-orders.42';
      const clients = [1, 2, 3].map((n) => client(ctx.server, { user: { user_id: String(n), user_info: { n } } }));
      await Promise.all(clients.map((c) => connected(c)));
      const subs = await Promise.all(clients.map((c) => subscribe(c, channel)));
      await Promise.all(clients.slice(0, 2).map((c) => subscribe(c, 'presence-room.7')));
      const got = subs.map((ch) => once(ch, 'order.paid'));
      await ctx.api.trigger(channel, 'order.paid', { id: 42 });
      await Promise.all(got);

      // The page's own polling shows it: 3 connections, at least the 3 frames of the
      // trigger more than before, one delivery timed, the shape and the presence channel.
      let now;
      await waitUntil(
        async () => {
          now = await b.page.evaluate(readPage);
          return (
            now.connections === '3' &&
            number(now.messagesOutTotal) >= number(start.messagesOutTotal) + 3 &&
            number(now.deliveryCount) >= 1 &&
            now.shapes.some((r) => r[0] === 'private-orders.{id}') &&
            now.presence.some((r) => r[0] === 'presence-room.7' && r[1] === '2')
          );
        },
        `the page to show the traffic (last read: ${JSON.stringify(now)})`,
        10000,
        100,
      );
      assert.ok(number(now.messagesInTotal) > number(start.messagesInTotal), 'messages in did not move');
      assert.notEqual(now.deliveryP50, '–', 'no trigger-to-delivery percentile');
      // The charts draw lines (two readings at least, a second apart).
      await updatedAfter(now.updated, 'one more reading');
      const later = await b.page.evaluate(readPage);
      assert.match(later.connectionsLine, /^M[\d.]+,[\d.]+L/);
      assert.match(later.outLine, /^M[\d.]+,[\d.]+L/);
    });

    it('fits a phone, and screenshots are saved', async (t) => {
      const wide = await b.page.screenshot(path.join(OUTPUT, `live-page-${PASS}.png`));
      t.diagnostic(`screenshot: ${wide}`);
      await b.page.send('Emulation.setDeviceMetricsOverride', { width: 390, height: 844, deviceScaleFactor: 2, mobile: true });
      const seen = await b.page.evaluate(readPage);
      await updatedAfter(seen.updated, 'a reading at the phone width');
      const overflow = await b.page.evaluate('document.documentElement.scrollWidth - window.innerWidth');
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than a 390px phone`);
      const phone = await b.page.screenshot(path.join(OUTPUT, `live-page-${PASS}-phone.png`));
      t.diagnostic(`screenshot: ${phone}`);
    });

    it('logged no console error and asked no other host', () => {
      assert.deepEqual(b.problems, []);
      const elsewhere = b.requests.filter((url) => !url.startsWith(admin));
      assert.deepEqual(elsewhere, []);
      assert.ok(b.requests.some((url) => url === `${admin}stats.json`), 'the page never asked stats.json');
    });
  },
);
