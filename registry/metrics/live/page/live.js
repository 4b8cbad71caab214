// The live page: polls stats.json every second and draws what it reads. Every figure comes
// from the server; the page keeps nothing but the app it shows (in the address's #app=).
'use strict';

(() => {
  const SPAN = 120; // seconds the charts show
  const GAP = 3.5; // seconds between two readings that break a line
  const W = 600;
  const H = 160;

  const $ = (id) => document.getElementById(id);

  // statsURL is stats.json next to the page, without credentials an address may carry
  // (fetch refuses those; the browser sends the page's own).
  const statsURL = (() => {
    const u = new URL('stats.json', location.href);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.href;
  })();

  let selected = new URLSearchParams(location.hash.slice(1)).get('app') || '';
  let latest = null; // the last stats read

  const grouped = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
  const oneDecimal = new Intl.NumberFormat('en', { minimumFractionDigits: 1, maximumFractionDigits: 1 });

  function count(n) {
    return n == null ? '–' : grouped.format(n);
  }

  function rate(n) {
    if (n == null) return '–';
    if (n === 0) return '0';
    return n < 10 ? oneDecimal.format(n) : grouped.format(n);
  }

  function seconds(s) {
    if (s == null) return '–';
    if (s < 1) {
      const ms = s * 1000;
      return `${ms < 10 ? ms.toPrecision(2) : grouped.format(ms)} ms`;
    }
    return `${s < 10 ? s.toFixed(2) : grouped.format(s)} s`;
  }

  function duration(s) {
    if (s == null) return '–';
    if (s < 60) return `${oneDecimal.format(s)} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
    return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
  }

  function bytes(n) {
    if (n == null) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return `${i === 0 ? n : oneDecimal.format(n)} ${units[i]}`;
  }

  function text(id, value) {
    const el = $(id);
    if (el.textContent !== value) el.textContent = value;
  }

  // nice rounds a chart's top up to 1, 2 or 5 times a power of ten.
  function nice(top, least) {
    if (!(top > 0)) return least;
    const p = 10 ** Math.floor(Math.log10(top));
    const f = top / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
  }

  // chart draws lines ({key, values}) of one figure over the last SPAN seconds of times.
  function chart(id, times, lines, format, least) {
    const fig = $(id);
    const now = times.length ? times[times.length - 1] : Date.now() / 1000;
    const from = now - SPAN;
    let top = 0;
    for (const line of lines) {
      line.values.forEach((v, i) => {
        if (v != null && times[i] >= from && v > top) top = v;
      });
    }
    top = nice(top, least);
    for (const line of lines) {
      let d = '';
      let last = null;
      line.values.forEach((v, i) => {
        const t = times[i];
        if (v == null || t < from) {
          last = null;
          return;
        }
        const x = ((t - from) / SPAN) * W;
        const y = H - (Math.min(v, top) / top) * H;
        d += `${last != null && t - last <= GAP ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`;
        last = t;
      });
      fig.querySelector(`path[data-line="${line.key}"]`).setAttribute('d', d);
      const current = line.values.length ? line.values[line.values.length - 1] : null;
      fig.querySelector(`[data-value="${line.key}"]`).textContent = format(current);
    }
    fig.querySelector('.ymax').textContent = format(top);
  }

  // rows replaces a table's body with one row per item (cells from cells(item)), or the
  // table's empty row when there are none. Text only: channel names come from clients.
  function rows(table, items, cells, emptyText) {
    const body = $(table).tBodies[0];
    const trs = items.map((item) => {
      const tr = document.createElement('tr');
      for (const cell of cells(item)) {
        const td = document.createElement('td');
        td.textContent = cell.text;
        if (cell.num) td.className = 'num';
        if (cell.sub) {
          const small = document.createElement('small');
          small.textContent = cell.sub;
          td.append(small);
        }
        tr.append(td);
      }
      return tr;
    });
    if (!trs.length) {
      const tr = document.createElement('tr');
      tr.className = 'empty';
      const td = document.createElement('td');
      td.colSpan = $(table).tHead.rows[0].cells.length;
      td.textContent = emptyText;
      tr.append(td);
      trs.push(tr);
    }
    body.replaceChildren(...trs);
  }

  function apps(stats) {
    const select = $('app');
    const ids = stats.apps.map((a) => a.app_id);
    const have = [...select.options].slice(1).map((o) => o.value);
    if (ids.join('\n') !== have.join('\n')) {
      select.replaceChildren(select.options[0]);
      for (const id of ids) select.append(new Option(`App ${id}`, id));
    }
    if (selected && !ids.includes(selected)) selected = '';
    select.value = selected;
  }

  function render(stats) {
    apps(stats);
    const many = stats.apps.length > 1 && !selected;
    const app = selected ? stats.apps.find((a) => a.app_id === selected) : stats.all;
    const series = (selected ? stats.series.apps[selected] : stats.series.all) || stats.series.all;

    text('version', stats.version);
    text('connections', count(app.connections));
    text('connections-total', count(app.connections_total));
    text('disconnections-total', count(app.disconnections_total));
    text('messages-in', rate(app.messages_in_per_second));
    text('messages-in-total', count(app.messages_in_total));
    text('messages-out', rate(app.messages_out_per_second));
    text('messages-out-total', count(app.messages_out_total));
    text('delivery-p50', seconds(app.delivery.p50));
    text('delivery-p95', seconds(app.delivery.p95));
    text('delivery-p99', seconds(app.delivery.p99));
    text('delivery-count', count(app.delivery.count));
    text('delivery-noun', app.delivery.count === 1 ? 'event' : 'events');
    text('window', duration(stats.window_seconds));
    text('queue-events', stats.queue ? count(stats.queue.events) : '–');
    text('queue-age', stats.queue ? duration(stats.queue.oldest_event_age_seconds) : '–');
    text('stale-total', count(app.stale_total));
    text('stale-rate', rate(app.stale_per_second));
    text('slow-total', count(app.slow_consumers_total));

    const t = stats.series.t;
    chart('chart-connections', t, [{ key: 'connections', values: series.connections }], count, 1);
    chart(
      'chart-messages',
      t,
      [
        { key: 'in', values: series.messages_in_per_second },
        { key: 'out', values: series.messages_out_per_second },
      ],
      rate,
      1,
    );
    chart(
      'chart-latency',
      t,
      [
        { key: 'p50', values: series.delivery_p50 },
        { key: 'p99', values: series.delivery_p99 },
      ],
      seconds,
      0.001,
    );
    chart('chart-queue', t, [{ key: 'queue', values: stats.series.queue_events }], count, 1);

    rows(
      'shapes',
      app.shapes,
      (s) => [
        { text: s.shape, sub: many ? `${s.kind} · app ${s.app_id}` : s.kind },
        { text: rate(s.frames_per_second), num: true },
        { text: count(s.channels), num: true },
        { text: count(s.subscriptions), num: true },
      ],
      'No channels yet',
    );
    rows(
      'presence',
      app.presence,
      (p) => [
        { text: p.channel, sub: many ? `app ${p.app_id}` : '' },
        { text: count(p.users), num: true },
        { text: count(p.connections), num: true },
      ],
      'No presence channels',
    );
    const err = $('presence-error');
    err.hidden = !stats.presence_error;
    err.textContent = stats.presence_error ? `Presence channels not listed: ${stats.presence_error}` : '';

    text('uptime', duration(stats.uptime_seconds));
    text('cpu', stats.process.cpu_cores == null ? '–' : `${Math.round(stats.process.cpu_cores * 100)} %`);
    text('memory', bytes(stats.process.resident_memory_bytes));
    text('goroutines', count(stats.process.goroutines));
    document.body.dataset.updated = stats.time;
  }

  function status(cls, message) {
    const el = $('status');
    el.className = `status ${cls}`;
    el.textContent = message;
  }

  async function poll() {
    try {
      const res = await fetch(statsURL, { cache: 'no-store', credentials: 'same-origin' });
      if (!res.ok) throw new Error(`stats.json answered ${res.status}`);
      const stats = await res.json();
      latest = stats;
      render(stats);
      status('live', `live · ${new Date(stats.time).toLocaleTimeString()}`);
    } catch (err) {
      status('down', `not updating: ${err.message}`);
    } finally {
      setTimeout(poll, 1000);
    }
  }

  $('app').addEventListener('change', (e) => {
    selected = e.target.value;
    history.replaceState(null, '', selected ? `#app=${encodeURIComponent(selected)}` : location.pathname + location.search);
    if (latest) render(latest);
  });

  poll();
})();
