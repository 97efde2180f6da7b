// The dashboard: signs in with the admin token (kept in sessionStorage, sent as a header), then
// reads /api/events with fetch streaming (EventSource cannot send headers) and redraws on each
// snapshot. Rates are deltas between snapshots; every value goes in through textContent.
const KEY = 'terrarium-admin-token';
const $ = (s) => document.querySelector(s);
const el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) if (k === 'class') e.className = v; else if (k.startsWith('data-') || k.startsWith('aria-')) e.setAttribute(k, v); else e[k] = v;
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
};
const fmt = (n) => (n >= 100 ? Math.round(n) : Math.round(n * 10) / 10).toString();
const bytes = (n) => (n > 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`);

function authHeader(token) {
  return token.includes(':') && !token.startsWith('Bearer ') ? `Basic ${btoa(token)}` : `Bearer ${token}`;
}
function headers(extra = {}) {
  const token = sessionStorage.getItem(KEY);
  return { 'x-terrarium-dashboard': '1', ...(token ? { authorization: authHeader(token) } : {}), ...extra };
}

let session;
let prev;
let abort;
const series = [[], [], [], [], []];
let chart;

async function connect() {
  abort?.abort();
  abort = new AbortController();
  if (!sessionStorage.getItem(KEY) && (await (await fetch('/api/auth')).json()).required) return showLogin('');
  const r = await fetch('/api/session', { headers: headers() });
  if (r.status === 401) return showLogin(sessionStorage.getItem(KEY) ? 'Refused: wrong token or password.' : '');
  if (!r.ok) return showLogin(`The admin server answered ${r.status}.`);
  session = await r.json();
  $('#login').hidden = true;
  $('#board').hidden = false;
  $('#logout').hidden = !sessionStorage.getItem(KEY);
  $('#reload').hidden = !session.actions.includes('/api/reload');
  $('#state').textContent = 'connected, live';
  const res = await fetch('/api/events', { headers: headers(), signal: abort.signal });
  if (!res.ok || !res.body) return showLogin(`Events refused (${res.status}).`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = frame.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      if (data) render(JSON.parse(data));
    }
  }
  $('#state').textContent = 'disconnected; reconnecting';
  setTimeout(() => connect().catch(lost), 2000);
}

function lost(e) {
  if (e?.name === 'AbortError') return;
  $('#state').textContent = `disconnected (${e?.message ?? e}); reconnecting`;
  setTimeout(() => connect().catch(lost), 2000);
}

function showLogin(message) {
  $('#board').hidden = true;
  $('#login').hidden = false;
  $('#logout').hidden = true;
  $('#reload').hidden = true;
  $('#state').textContent = 'not signed in';
  $('#login-error').textContent = message;
  $('#token').focus();
}

/** p-quantile (0..1) of a histogram: the upper bound of the bucket it falls in, in ms. */
function quantile(h, q) {
  if (!h) return undefined;
  const total = h.counts.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  let acc = 0;
  for (let i = 0; i < h.counts.length; i++) {
    acc += h.counts[i];
    if (acc >= q * total) return i < h.buckets.length ? h.buckets[i] * 1000 : Infinity;
  }
  return undefined;
}
const ms = (v) => (v === undefined ? '–' : v === Infinity ? `> ${'max'}` : `≤ ${v} ms`);

function classes(codes) {
  const out = [0, 0, 0, 0];
  for (const [code, n] of Object.entries(codes)) { const c = Math.floor(Number(code) / 100) - 2; if (c >= 0 && c < 4) out[c] += n; }
  return out;
}

function render(s) {
  const now = performance.now();
  const dt = prev ? (now - prev.at) / 1000 : 0;
  const before = (list, name) => prev?.s[list].find((x) => x.name === name);
  const rate = (a, b) => (dt > 0 && b !== undefined ? Math.max(0, (a - b) / dt) : 0);

  const total = s.routers.reduce((a, r) => a + r.counters.requests, 0);
  const totalBefore = prev ? prev.s.routers.reduce((a, r) => a + r.counters.requests, 0) : undefined;
  $('#total-requests').textContent = total;
  $('#total-rate').textContent = fmt(rate(total, totalBefore));
  $('#in-flight').textContent = s.gateway.inFlight;
  $('#config-reloads').textContent = `${s.gateway.reloads.success} ok, ${s.gateway.reloads.failure} rejected`;

  renderWorkers(s, dt);

  $('#problems-section').hidden = s.problems.length === 0;
  $('#problems').replaceChildren(...s.problems.map((p) => el('li', {}, p)));

  const sum = [0, 0, 0, 0];
  $('#routers tbody').replaceChildren(...s.routers.map((r) => {
    const now4 = classes(r.counters.codes);
    const b = before('routers', r.name);
    const was = b ? classes(b.counters.codes) : undefined;
    const rates = now4.map((n, i) => rate(n, was?.[i]));
    rates.forEach((v, i) => (sum[i] += v));
    return el('tr', { 'data-router': r.name },
      el('th', { scope: 'row' }, r.name), el('td', {}, el('code', {}, r.rule)), el('td', {}, (r.entryPoints ?? ['all']).join(', ')),
      el('td', {}, (r.middlewares ?? []).join(' → ') || '–'), el('td', {}, r.service),
      el('td', { class: `status-${r.status}` }, r.status), el('td', { class: 'num requests' }, r.counters.requests),
      el('td', { class: 'num' }, rates.map(fmt).join(' · ')));
  }));

  // A redraw replaces the cards: a keyboard user's focus on a card's button is put back.
  const active = document.activeElement;
  const activeCard = active?.closest?.('#plugins [data-plugin]');
  const refocus = activeCard && active.className ? `#plugins [data-plugin="${CSS.escape(activeCard.dataset.plugin)}"] .${CSS.escape(active.className.split(' ')[0])}` : undefined;
  $('#plugins').replaceChildren(...s.plugins.map((p) => {
    const b = before('plugins', p.name);
    const c = p.counters;
    const violations = `timeout ${c.timeouts}, memory ${c.memoryErrors}, stack ${c.stackErrors}`;
    const err = p.lastError;
    const where = err && err.file ? `${err.file}${err.line ? `:${err.line}` : ''}` : '';
    const h = p.latency;
    const max = h ? Math.max(1, ...h.counts) : 1;
    const reprobe = p.status === 'quarantined' ? `next re-probe at ${p.nextProbeAt ? new Date(p.nextProbeAt).toLocaleTimeString() : 'pending'}${p.error ? ` (${p.error.message})` : ''}` : '';
    const grants = Object.keys(p.grants).length ? JSON.stringify(p.grants) : 'none beyond plugins.capabilities';
    const perWorker = p.workerStatus ? Object.entries(p.workerStatus).map(([pid, st]) => `${pid} ${st ?? 'missing'}`).join(', ') : '';
    const canReprobe = p.status === 'quarantined' && s.gateway.canReprobe;
    const logs = p.logs ?? [];
    return el('article', { class: 'card', 'data-plugin': p.name },
      el('h3', {}, el('span', {}, p.name), el('span', { class: `status status-${p.status}` }, p.status)),
      el('dl', {},
        el('dt', {}, 'Version, file'), el('dd', {}, `${p.version ?? '–'} · ${p.file} (${p.engine})`),
        el('dt', {}, 'Standby'), el('dd', { class: 'standby' }, p.standby ?? '–'),
        ...(reprobe ? [el('dt', {}, 'Re-probe'), el('dd', { class: 'reprobe', 'data-due': p.nextProbeAt ?? '' }, reprobe)] : []),
        ...(perWorker ? [el('dt', {}, 'Workers'), el('dd', { class: 'worker-status' }, perWorker)] : []),
        el('dt', {}, 'Calls'), el('dd', { class: 'calls' }, `${c.calls} (${fmt(rate(c.calls, b?.counters.calls))}/s)`),
        el('dt', {}, 'Errors'), el('dd', { class: 'errors' }, `${c.errors} (${fmt(rate(c.errors, b?.counters.errors))}/s)`),
        el('dt', {}, 'Latency'), el('dd', {}, `p50 ${ms(quantile(h, 0.5))}, p99 ${ms(quantile(h, 0.99))}`),
        el('dt', {}, 'Memory'), el('dd', {}, bytes(p.memoryBytes)),
        el('dt', {}, 'Violations'), el('dd', { class: 'violations' }, violations),
        el('dt', {}, 'Reloads'), el('dd', { class: 'reloads' }, `${c.reloads} (${c.rejectedReloads} rejected)${p.lastReload ? `, last ${p.lastReload.at}` : ''}`),
        el('dt', {}, 'Last error'), el('dd', { class: 'last-error' }, err ? `${err.code}${where ? ` at ${where}` : ''}: ${err.message}` : 'none'),
        el('dt', {}, 'Granted'), el('dd', { class: 'grants' }, grants)),
      h ? el('div', { class: 'hist', role: 'img', 'aria-label': `latency histogram of ${p.name}` }, ...h.counts.map((n, i) => el('span', { title: `${i < h.buckets.length ? `≤ ${h.buckets[i] * 1000} ms` : 'more'}: ${n}`, style: `height:${(100 * n) / max}%` }))) : '',
      canReprobe ? el('button', { type: 'button', class: 'reprobe-now', 'data-reprobe': p.name, 'aria-label': `re-probe ${p.name} now` }, 'Re-probe now') : '',
      el('ol', { class: 'log', 'aria-label': `recent events of ${p.name}` }, ...p.recent.map((e) => el('li', {}, `${e.at}${e.worker ? ` [${e.worker}]` : ''} ${e.event}${e.code ? ` ${e.code}` : ''}${e.file ? ` ${e.file}:${e.line ?? ''}` : ''}${e.reason ? `: ${e.reason}` : ''}`))),
      el('details', { class: 'plugin-logs', open: !closedLogs.has(p.name) },
        el('summary', {}, `Log lines (${logs.length})`),
        el('ol', { class: 'log lines', 'aria-label': `log lines of ${p.name}` }, ...logs.map((l) => el('li', { class: `level-${l.level}` }, `${l.at.slice(11, 19)}${l.worker ? ` [${l.worker}]` : ''} ${l.level} ${l.message}`)))));
  }));

  if (refocus) $(refocus)?.focus();

  $('#middlewares tbody').replaceChildren(...s.middlewares.map((m) => el('tr', {},
    el('th', { scope: 'row' }, m.name), el('td', {}, m.plugin), el('td', { class: `status-${m.status}` }, m.status), el('td', {}, m.phases.join(', ')),
    el('td', { class: 'num' }, m.counters.calls.request + m.counters.calls.response), el('td', { class: 'num' }, Object.values(m.counters.errors).reduce((a, b) => a + b, 0)), el('td', {}, m.failOpen ? 'yes' : 'no'))));

  $('#services tbody').replaceChildren(...s.services.map((v) => el('tr', {},
    el('th', { scope: 'row' }, v.name), el('td', {}, v.type ?? '–'), el('td', {}, (v.servers ?? v.services?.map((x) => x.name ?? x) ?? []).join(', ') || '–'),
    el('td', { class: 'num' }, v.counters.requests), el('td', { class: 'num' }, Object.values(v.counters.errors).reduce((a, b) => a + b, 0)))));

  $('#events').replaceChildren(...s.events.slice().reverse().map((e) => el('li', {}, `${e.at} ${e.plugin} ${e.event}${e.code ? ` ${e.code}` : ''}${e.reason ? `: ${e.reason}` : ''}`)));

  if (dt > 0) {
    series[0].push(Date.now() / 1000);
    sum.forEach((v, i) => series[i + 1].push(v));
    if (series[0].length > 240) for (const a of series) a.shift();
  }
  drawChart();
  prev = { at: now, s };
}

/** The workers of `--workers N` (absent with one gateway), with their request rates since the last snapshot. */
function renderWorkers(s, dt) {
  $('#workers-section').hidden = !s.workers;
  if (!s.workers) return;
  $('#workers tbody').replaceChildren(...s.workers.map((w) => {
    const b = prev?.s.workers?.find((x) => x.pid === w.pid);
    const r = dt > 0 && b ? Math.max(0, (w.requests - b.requests) / dt) : 0;
    return el('tr', { 'data-worker': String(w.pid) },
      el('th', { scope: 'row' }, w.pid), el('td', {}, new Date(w.startedAt).toLocaleTimeString()), el('td', { class: 'num requests' }, w.requests),
      el('td', { class: 'num' }, fmt(r)), el('td', { class: 'num' }, w.inFlight), el('td', {}, `${w.reloads.success} ok, ${w.reloads.failure} rejected`),
      el('td', { class: w.notReady.length ? 'status-degraded' : '' }, w.notReady.join(', ') || 'none'));
  }));
}

function drawChart() {
  if (!window.uPlot) return;
  const box = $('#chart');
  const width = Math.max(280, box.clientWidth);
  if (!chart) {
    const stroke = ['#1b7f3b', '#1a5fd6', '#a35c00', '#b3261e'];
    chart = new window.uPlot({ width, height: 180, series: [{}, ...['2xx', '3xx', '4xx', '5xx'].map((label, i) => ({ label: `${label}/s`, stroke: stroke[i] }))], axes: [{}, { label: 'req/s' }] }, series, box);
    addEventListener('resize', () => chart.setSize({ width: Math.max(280, box.clientWidth), height: 180 }));
  } else chart.setData(series);
  // The last two minutes at least: with one point uPlot's auto range would span years.
  const xs = series[0];
  if (xs.length > 0) chart.setScale('x', { min: Math.min(xs[0], xs[xs.length - 1] - 120), max: xs[xs.length - 1] });
}

// Which plugins' log lines the user folded, kept across redraws.
const closedLogs = new Set();
$('#plugins').addEventListener('toggle', (ev) => {
  const card = ev.target.closest('[data-plugin]');
  if (!card || !ev.target.matches('details')) return;
  if (ev.target.open) closedLogs.delete(card.dataset.plugin); else closedLogs.add(card.dataset.plugin);
}, true);
// Re-probe a quarantined plugin now: a POST with the session's CSRF token header (same origin).
$('#plugins').addEventListener('click', async (ev) => {
  const button = ev.target.closest('button[data-reprobe]');
  if (!button) return;
  const name = button.dataset.reprobe;
  button.disabled = true;
  $('#state').textContent = `re-probing ${name}…`;
  const r = await fetch(`/api/plugins/${encodeURIComponent(name)}/reprobe`, { method: 'POST', headers: headers({ [session.header]: session.csrf }) });
  const body = await r.json().catch(() => ({}));
  $('#state').textContent = r.ok ? `re-probing ${name}` : `re-probe of ${name} refused (${r.status}): ${body.error ?? ''}`;
});
$('#login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY, $('#token').value);
  $('#token').value = '';
  connect().catch(lost);
});
$('#logout').addEventListener('click', () => {
  sessionStorage.removeItem(KEY);
  abort?.abort();
  showLogin('');
});
$('#reload').addEventListener('click', async () => {
  $('#state').textContent = 'reloading config…';
  const r = await fetch('/api/reload', { method: 'POST', headers: headers({ [session.header]: session.csrf }) });
  const body = await r.json();
  $('#state').textContent = body.ok ? 'config reloaded' : `reload rejected: ${body.problems?.join('; ') ?? body.error}`;
});
connect().catch(lost);
