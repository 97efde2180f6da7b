/**
 * Scenario: the gateway end to end, over real sockets. Same run, same machine, every server in
 * its own process (bench/gateway-child.ts) and the load generator (autocannon) in another:
 *   - bare:   a bare node:http reverse proxy (keep-alive agent, pipe), the floor;
 *   - gw0:    `terrarium serve` routing to the same upstream, no middleware;
 *   - js1:    one JavaScript middleware doing the request workload of the core bench
 *             (bench/plugins/bench.js's decision, in the middleware contract: respond 403 on
 *             x-block, else setHeaders x-plugin);
 *   - lua1:   the same middleware in Lua;
 *   - envoy1: the same logic as an Envoy Lua filter run unchanged (docs/envoy.md);
 *   - chain5: a chain of five such middlewares (JS, Lua, JS, Lua, JS);
 *   - jsrs / luars: one middleware doing the string-building read-all workload (bench/calls.ts's
 *             readStr: reads every header, returns ten 'x-seen-<name>' = '<length>:<method>' headers);
 *   - bare30: calibration, the bare proxy spinning 30 µs of plain JS per request (no sandbox): what
 *             a per-request cost the size of one sandboxed call does to throughput in this layout;
 *   - bi3:    a chain of three built-in middlewares: stripPrefix, headers (a request and a response
 *             header), rateLimit (a limit the load never reaches);
 *   - pl3:    the same chain written as three JavaScript plugins (each declaring it reads no header).
 * Every request carries the 10 headers of the core bench's request (none is x-block, so every
 * request reaches the upstream). Each scenario is warmed up, then the scenarios are measured in
 * rounds, in alternating order (ABCDE, EDCBA, ...) so that drift in the machine's load does not
 * favour one of them. Ratios are taken within each round and summarised by their median over the
 * rounds (paired comparison); req/s, latency and CPU figures are medians over the rounds.
 * Then latency at a fixed moderate rate: half of the no-middleware gateway's saturated req/s, sent by
 * autocannon at --overallRate from a child (gateway-child.ts rate) that keeps every latency in µs;
 * bare, gw0, js1 and lua1 (those selected) in GW_BENCH_RATE_ROUNDS (3) alternating rounds; the p99
 * added by one middleware is the median over rounds of (p99 scenario - p99 gw0).
 *
 * Run:   npm run bench:gateway   (= npm run build && node --import tsx bench/gateway.ts; ~2 minutes)
 * Knobs: GW_BENCH_SECONDS (4) per measurement, GW_BENCH_WARMUP (3) seconds, GW_BENCH_ROUNDS (5),
 *        GW_BENCH_CONNECTIONS (32), GW_BENCH_ONLY (e.g. `bare,gw0`: a subset of the scenarios; the
 *        results file is then not written, unless GW_BENCH_OUT names one in bench/results/).
 *        A key with `@before` (e.g. `gw0,js1,gw0@before,js1@before`) runs that scenario's gateway from a
 *        copy of an earlier build, GW_BENCH_BEFORE (bench/.before/dist, ignored by git: `cp -r dist
 *        bench/.before/` before a change), so that a change is measured before and after in one run;
 *        an @before row is compared with gw0@before when that row is selected.
 * Writes bench/results/gateway.md (Markdown section for bench/RESULTS.md) and prints it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { BENCH_DIR, fmt, isMain, machine, makeRequest, median, table, type ScenarioResult } from './lib.js';

const SECONDS = Number(process.env.GW_BENCH_SECONDS ?? 4);
const WARMUP = Number(process.env.GW_BENCH_WARMUP ?? 3);
const ROUNDS = Number(process.env.GW_BENCH_ROUNDS ?? 5);
const CONNECTIONS = Number(process.env.GW_BENCH_CONNECTIONS ?? 32);
const RATE_ROUNDS = Number(process.env.GW_BENCH_RATE_ROUNDS ?? 3);
const RATE_KEYS = ['bare', 'gw0', 'js1', 'lua1'];
const CHILD = path.join(BENCH_DIR, 'gateway-child.ts');
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

/** The core bench's request headers (bench/lib.ts makeRequest, passing variant) without host, which autocannon sets. */
export const HEADERS: Record<string, string> = Object.fromEntries(Object.entries(makeRequest(false).headers).filter(([k]) => k !== 'host'));

/** `declared`: the plugin declares the one header it reads (meta.gateway.requestHeaders), so only that one is copied in. */
export const JS_MW = (name: string, declared = false) => `export const meta = { name: '${name}', version: '1.0.0', apiVersion: 1${declared ? ", gateway: { requestHeaders: ['x-block'] }" : ''} };
export function onRequest(req) {
  if (req.headers['x-block']) return { respond: { status: 403 } };
  return { setHeaders: { 'x-plugin': '1' } };
}
`;
export const LUA_MW = (name: string, declared = false) => `local M = { meta = { name = '${name}', version = '1.0.0', apiVersion = 1${declared ? ", gateway = { requestHeaders = { 'x-block' } }" : ''} } }
function M.onRequest(req)
  if req.headers['x-block'] then return { respond = { status = 403 } } end
  return { setHeaders = { ['x-plugin'] = '1' } }
end
return M
`;
/** The same logic as an Envoy Lua filter, run unchanged (docs/envoy.md): one header read, one added. */
/** The string-building read-all workload (bench/calls.ts readStr) as a middleware. */
export const JS_RS_MW = `export const meta = { name: 'js-rs', version: '1.0.0', apiVersion: 1 };
export function onRequest(req) {
  const out = {};
  for (const k in req.headers) out['x-seen-' + k] = String(String(req.headers[k]).length) + ':' + req.method;
  return { setHeaders: out };
}
`;
export const LUA_RS_MW = `local M = { meta = { name = 'lua-rs', version = '1.0.0', apiVersion = 1 } }
function M.onRequest(req)
  local out = {}
  for k, v in pairs(req.headers) do out['x-seen-' .. k] = tostring(#tostring(v)) .. ':' .. req.method end
  return { setHeaders = out }
end
return M
`;
const ENVOY_MW = `function envoy_on_request(request_handle)
  if request_handle:headers():get("x-block") then
    request_handle:respond({ [":status"] = "403" }, "")
  end
  request_handle:headers():add("x-plugin", "1")
end
`;

interface Scenario {
  key: string;
  label: string;
  middlewares: string[];
  /** Middleware definitions (built-ins); default: each name is a plugin of that name. */
  defs?: Record<string, unknown>;
}

/** The three-middleware chain as built-ins, and the same work as plugins (bi3 / pl3). */
const BUILTIN_CHAIN = {
  'bi-strip': { stripPrefix: { prefixes: ['/api'] } },
  'bi-headers': { headers: { customRequestHeaders: { 'X-Env': 'bench' }, customResponseHeaders: { 'X-Served-By': 'terrarium' } } },
  'bi-limit': { rateLimit: { average: 1_000_000_000, burst: 1_000_000_000 } },
};
const PLUGIN_CHAIN: Record<string, string> = {
  'js-strip': `export const meta = { name: 'js-strip', version: '1.0.0', apiVersion: 1, gateway: { requestHeaders: [] } };
export function onRequest(req) {
  if (req.path.startsWith('/api')) return { path: req.path.slice(4) || '/', setHeaders: { 'x-forwarded-prefix': '/api' } };
}
`,
  'js-headers': `export const meta = { name: 'js-headers', version: '1.0.0', apiVersion: 1, gateway: { requestHeaders: [] } };
export function onRequest() { return { setHeaders: { 'x-env': 'bench' } }; }
export function onResponse() { return { setHeaders: { 'x-served-by': 'terrarium' } }; }
`,
  'js-limit': `export const meta = { name: 'js-limit', version: '1.0.0', apiVersion: 1, gateway: { requestHeaders: [] } };
const buckets = new Map();
const rate = 1e9, burst = 1e9;
export function onRequest(req) {
  const now = Date.now();
  let b = buckets.get(req.client.address);
  if (!b) { b = { tokens: burst, at: now }; buckets.set(req.client.address, b); }
  b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate);
  b.at = now;
  if (b.tokens < 1) return { respond: { status: 429, body: 'Too Many Requests' } };
  b.tokens -= 1;
}
`,
};

const ALL_SCENARIOS: Scenario[] = [
  { key: 'bare', label: 'bare node:http reverse proxy (floor)', middlewares: [] },
  { key: 'gw0', label: 'gateway, no middleware', middlewares: [] },
  { key: 'js1', label: 'gateway, 1 JS middleware', middlewares: ['js-a'] },
  { key: 'lua1', label: 'gateway, 1 Lua middleware', middlewares: ['lua-a'] },
  { key: 'chain5', label: 'gateway, chain of 5 (JS, Lua, JS, Lua, JS)', middlewares: ['js-a', 'lua-a', 'js-b', 'lua-b', 'js-c'] },
  { key: 'js1h', label: 'gateway, 1 JS middleware declaring requestHeaders [x-block]', middlewares: ['js-h'] },
  { key: 'lua1h', label: 'gateway, 1 Lua middleware declaring requestHeaders [x-block]', middlewares: ['lua-h'] },
  { key: 'chain5h', label: 'gateway, chain of 5 declaring requestHeaders [x-block]', middlewares: ['js-h', 'lua-h', 'js-h2', 'lua-h2', 'js-h3'] },
  { key: 'envoy1', label: 'gateway, 1 Envoy Lua filter (the lua1 logic in Envoy\'s API)', middlewares: ['lua-envoy'] },
  { key: 'jsrs', label: 'gateway, 1 JS middleware, string-building read-all', middlewares: ['js-rs'] },
  { key: 'luars', label: 'gateway, 1 Lua middleware, string-building read-all', middlewares: ['lua-rs'] },
  { key: 'bare30', label: 'calibration: bare proxy + 30 µs of plain JS per request', middlewares: [] },
  { key: 'bi3', label: 'gateway, 3 built-ins (stripPrefix, headers, rateLimit)', middlewares: Object.keys(BUILTIN_CHAIN), defs: BUILTIN_CHAIN },
  { key: 'pl3', label: 'gateway, the same 3 as JS plugins', middlewares: Object.keys(PLUGIN_CHAIN) },
];
/** The middleware chains of some scenarios, by key (for the profiling benches: gateway-profile.ts, gateway-inproc.ts). */
export function chainsOf(keys: readonly string[]): Record<string, string[]> {
  return Object.fromEntries(ALL_SCENARIOS.filter((s) => keys.includes(s.key)).map((s) => [s.key, s.middlewares]));
}

/** The plugins of the gw0, js1, lua1, chain5, jsrs and luars scenarios, written into `dir`. */
export async function writeBenchPlugins(dir: string): Promise<void> {
  for (const n of ['js-a', 'js-b', 'js-c']) await writeFile(path.join(dir, `${n}.js`), JS_MW(n));
  for (const n of ['lua-a', 'lua-b']) await writeFile(path.join(dir, `${n}.lua`), LUA_MW(n));
  await writeFile(path.join(dir, 'js-rs.js'), JS_RS_MW);
  await writeFile(path.join(dir, 'lua-rs.lua'), LUA_RS_MW);
}

const ONLY = process.env.GW_BENCH_ONLY?.split(',').map((s) => s.trim());
/** Where `<key>@before` scenarios run the gateway from: a copy of an earlier build (see the header). */
const BEFORE_DIST = path.resolve(process.env.GW_BENCH_BEFORE ?? path.join(BENCH_DIR, '.before', 'dist'));
const SCENARIOS: (Scenario & { before?: boolean })[] = ONLY
  ? ONLY.flatMap((k) => {
      const before = k.endsWith('@before');
      const s = ALL_SCENARIOS.find((x) => x.key === (before ? k.slice(0, -'@before'.length) : k));
      if (!s) return [];
      return before ? [{ ...s, key: k, label: `${s.label} [before]`, before: true }] : [s];
    })
  : ALL_SCENARIOS;
/** The no-middleware row a scenario is compared with: the one of the same build. */
const gwRef = (key: string): string => (key.endsWith('@before') && SCENARIOS.some((s) => s.key === 'gw0@before') ? 'gw0@before' : 'gw0');
const baseKey = (key: string): string => key.replace(/@before$/, '');

interface Run {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** CPU time (user + system) the proxy process spent per request, in µs; NaN where /proc is missing. */
  cpuUs: number;
  /** Mean wall time of one onRequest call inside the busy gateway, per engine (from its own histograms), in µs. */
  callUs: { js?: number; lua?: number };
}

/** Sum and count of the request-phase middleware histogram, per middleware, from /metrics. */
async function callTotals(adminUrl: string | undefined): Promise<Map<string, { sum: number; count: number }>> {
  const out = new Map<string, { sum: number; count: number }>();
  if (!adminUrl) return out;
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  for (const m of text.matchAll(/^terrarium_gateway_middleware_duration_seconds_(sum|count)\{middleware="([^"]+)",phase="request"\} (\S+)$/gm)) {
    const e = out.get(m[2]!) ?? { sum: 0, count: 0 };
    e[m[1] as 'sum' | 'count'] = Number(m[3]);
    out.set(m[2]!, e);
  }
  return out;
}

const TICK_US = 1e6 / 100; // Linux USER_HZ

/** CPU time of a process so far, in µs (utime + stime from /proc/<pid>/stat). */
function cpuOf(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_US;
  } catch {
    return NaN;
  }
}

function startChild(args: string[], before = false): Promise<{ child: ChildProcess; url: string; admin?: string }> {
  return new Promise((resolve, reject) => {
    const env = before ? { ...process.env, GW_CHILD_DIST: BEFORE_DIST } : process.env;
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /READY (\S+)(?: ADMIN (\S+))?\n/.exec(out);
      if (m) resolve({ child, url: m[1]!, ...(m[2] ? { admin: m[2] } : {}) });
    });
    child.on('exit', (code) => reject(new Error(`${args[0]} child exited with ${code} before it was ready`)));
  });
}

async function autocannon(url: string, seconds: number, proxyPid?: number, adminUrl?: string): Promise<Run> {
  const calls0 = await callTotals(adminUrl);
  const cpu0 = cpuOf(proxyPid);
  const args = [AUTOCANNON, '--json', '-n', '-c', String(CONNECTIONS), '-d', String(seconds)];
  for (const [k, v] of Object.entries(HEADERS)) args.push('-H', `${k}=${v}`);
  args.push(`${url}/api/users/42`);
  const run = await new Promise<Omit<Run, 'callUs'>>((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', () => {
      try {
        const r = JSON.parse(out) as {
          duration: number;
          errors: number;
          non2xx: number;
          requests: { total: number };
          latency: { p50: number; p99: number };
        };
        const cpuUs = (cpuOf(proxyPid) - cpu0) / Math.max(1, r.requests.total);
        resolve({ rps: r.requests.total / r.duration, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors, non2xx: r.non2xx, cpuUs });
      } catch (e) {
        reject(new Error(`autocannon output was not JSON: ${out.slice(0, 200)} (${(e as Error).message})`));
      }
    });
  });
  const calls1 = await callTotals(adminUrl);
  const callUs: Run['callUs'] = {};
  for (const engine of ['js', 'lua'] as const) {
    let sum = 0;
    let count = 0;
    for (const [mw, t] of calls1) {
      if (!mw.startsWith(`${engine}-`)) continue;
      sum += t.sum - (calls0.get(mw)?.sum ?? 0);
      count += t.count - (calls0.get(mw)?.count ?? 0);
    }
    if (count > 0) callUs[engine] = (sum / count) * 1e6;
  }
  return { ...run, callUs };
}

interface RateRun {
  count: number;
  non2xx: number;
  p50: number;
  p90: number;
  p99: number;
}

/** Fixed-rate load from its own process; latencies in µs. */
function atRate(url: string, rate: number, seconds: number): Promise<RateRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, 'rate', `${url}/api/users/42`, String(rate), String(seconds), JSON.stringify(HEADERS)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', (code) => {
      try {
        resolve(JSON.parse(out) as RateRun);
      } catch (e) {
        reject(new Error(`rate child exited with ${code}: ${out.slice(0, 200)} (${(e as Error).message})`));
      }
    });
  });
}

/** Run the whole scenario; returns the Markdown section (also printed). */
export async function runGateway(): Promise<ScenarioResult & { figures: Record<string, Run> }> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'terrarium-gw-bench-'));
  const children: ChildProcess[] = [];
  try {
    const plugins = path.join(tmp, 'plugins');
    await mkdir(plugins);
    await writeBenchPlugins(plugins);
    for (const n of ['js-h', 'js-h2', 'js-h3']) await writeFile(path.join(plugins, `${n}.js`), JS_MW(n, true));
    for (const n of ['lua-h', 'lua-h2']) await writeFile(path.join(plugins, `${n}.lua`), LUA_MW(n, true));
    for (const [n, src] of Object.entries(PLUGIN_CHAIN)) await writeFile(path.join(plugins, `${n}.js`), src);
    await writeFile(path.join(plugins, 'lua-envoy.lua'), ENVOY_MW);

    const up = await startChild(['upstream']);
    children.push(up.child);
    const urls = new Map<string, string>();
    const pids = new Map<string, number | undefined>();
    const admins = new Map<string, string | undefined>();
    for (const s of SCENARIOS) {
      if (s.key === 'bare' || s.key === 'bare30') {
        const bare = await startChild(['bare', up.url, s.key === 'bare30' ? '30' : '0']);
        children.push(bare.child);
        urls.set(s.key, bare.url);
        pids.set(s.key, bare.child.pid);
        continue;
      }
      const config = {
        entryPoints: { web: { address: '127.0.0.1:0' } },
        // Scraped before and after each measurement for the in-server call time (idle in between).
        admin: { address: '127.0.0.1:0' },
        accessLog: false,
        http: {
          routers: { api: { rule: 'PathPrefix(`/`)', middlewares: s.middlewares, service: 'up' } },
          middlewares: s.defs ?? Object.fromEntries(s.middlewares.map((m) => [m, { plugin: { [m]: {} } }])),
          services: { up: { loadBalancer: { servers: [{ url: up.url }] } } },
        },
        plugins: { dir: plugins },
      };
      const file = path.join(tmp, `${s.key.replace('@', '-')}.json`);
      await writeFile(file, JSON.stringify(config));
      const gw = await startChild(['gateway', file], s.before === true);
      children.push(gw.child);
      urls.set(s.key, gw.url);
      pids.set(s.key, gw.child.pid);
      admins.set(s.key, gw.admin);
    }

    console.log(`warm-up: ${WARMUP} s per scenario, then ${ROUNDS} interleaved rounds of ${SECONDS} s each, ${CONNECTIONS} connections`);
    for (const s of SCENARIOS) await autocannon(urls.get(s.key)!, WARMUP);
    const runs = new Map<string, Run[]>(SCENARIOS.map((s) => [s.key, []]));
    const load0 = os.loadavg()[0]!;
    for (let round = 1; round <= ROUNDS; round++) {
      for (const s of round % 2 === 1 ? SCENARIOS : [...SCENARIOS].reverse()) {
        const r = await autocannon(urls.get(s.key)!, SECONDS, pids.get(s.key), admins.get(s.key));
        runs.get(s.key)!.push(r);
        console.log(
          `  round ${round} ${s.key.padEnd(6)} ${fmt(r.rps).padStart(7)} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms  proxy CPU ${fmt(r.cpuUs)} µs/req${r.errors || r.non2xx ? `  errors ${r.errors} non2xx ${r.non2xx}` : ''}`,
        );
      }
    }

    const fig: Record<string, Run> = {};
    for (const s of SCENARIOS) {
      const rs = runs.get(s.key)!;
      fig[s.key] = {
        rps: median(rs.map((r) => r.rps)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        errors: rs.reduce((a, r) => a + r.errors, 0),
        non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
        cpuUs: median(rs.map((r) => r.cpuUs)),
        callUs: {
          js: median(rs.map((r) => r.callUs.js ?? NaN).filter((x) => !Number.isNaN(x))),
          lua: median(rs.map((r) => r.callUs.lua ?? NaN).filter((x) => !Number.isNaN(x))),
        },
      };
    }
    // Latency at a fixed moderate rate (half of saturation), µs resolution.
    const rateKeys = RATE_KEYS.filter((k) => urls.has(k));
    const satRef = fig.gw0?.rps ?? fig.bare?.rps ?? NaN;
    const rate = Math.max(1, Math.round(satRef / 2));
    const rateRuns = new Map<string, RateRun[]>(rateKeys.map((k) => [k, []]));
    if (rateKeys.length > 0 && Number.isFinite(rate)) {
      console.log(`fixed rate: ${rate} req/s (half of ${fig.gw0 ? 'gw0' : 'bare'}'s saturated median), ${RATE_ROUNDS} rounds of ${SECONDS} s`);
      for (let round = 1; round <= RATE_ROUNDS; round++) {
        for (const k of round % 2 === 1 ? rateKeys : [...rateKeys].reverse()) {
          const r = await atRate(urls.get(k)!, rate, SECONDS);
          rateRuns.get(k)!.push(r);
          console.log(`  rate round ${round} ${k.padEnd(6)} p50 ${fmt(r.p50)} µs  p99 ${fmt(r.p99)} µs  (${r.count} responses${r.non2xx ? `, ${r.non2xx} non-2xx` : ''})`);
        }
      }
    }
    const rateRows = rateKeys.map((k) => {
      const rs = rateRuns.get(k)!;
      const ref = rateRuns.get('gw0');
      const added = k === 'gw0' || k === 'bare' || !ref ? NaN : median(rs.map((r, i) => r.p99 - ref[i]!.p99));
      return [
        ALL_SCENARIOS.find((s) => s.key === k)!.label,
        fmt(median(rs.map((r) => r.p50))),
        fmt(median(rs.map((r) => r.p90))),
        fmt(median(rs.map((r) => r.p99))),
        Number.isNaN(added) ? '-' : `${added >= 0 ? '+' : ''}${fmt(added)}`,
        Number.isNaN(added) ? '' : `${added <= 100 ? 'met' : '**NOT met**'} (<= 100 µs)`,
      ];
    });
    const load1 = os.loadavg()[0]!;
    /** Median over the rounds of a ratio taken within each round. */
    const paired = (key: string, ref: string, f: (r: Run) => number): number => {
      const a = runs.get(key);
      const b = runs.get(ref);
      if (!a || !b) return NaN;
      return median(a.map((r, i) => f(r) / f(b[i]!)));
    };
    const TARGETS: Record<string, [number, string]> = {
      // issue 28's targets
      gw0: [0.95, '>= 95% of bare'],
      js1: [0.9, '>= 90% of gateway, no middleware'],
      lua1: [0.9, '>= 90% of gateway, no middleware'],
      chain5: [0.7, '>= 70% of gateway, no middleware'],
      js1h: [0.9, '(js1 target, with the header declared)'],
      lua1h: [0.9, '(lua1 target, with the header declared)'],
      envoy1: [0.9, '(lua1 target, as an Envoy filter)'],
      chain5h: [0.7, '(chain5 target, with the header declared)'],
    };
    const rps = (r: Run) => r.rps;
    // CPU per request inverted: the throughput ratio if the proxy process were the only bottleneck.
    const perCpu = (r: Run) => 1 / r.cpuUs;
    const rows = SCENARIOS.map((s) => {
      const f = fig[s.key]!;
      const target = TARGETS[baseKey(s.key)];
      const ref = baseKey(s.key) === 'gw0' || s.key === 'bare30' ? 'bare' : gwRef(s.key);
      const vs = paired(s.key, ref, rps);
      const vsCpu = paired(s.key, ref, perCpu);
      return [
        s.label,
        fmt(f.rps),
        `${f.p50} ms`,
        `${f.p99} ms`,
        s.key === 'bare' ? '1x' : `${fmt(paired(s.key, 'bare', rps))}x`,
        s.key === 'bare' || s.key === 'bare30' ? '-' : `${fmt(paired(s.key, gwRef(s.key), rps))}x`,
        fmt(f.cpuUs),
        s.key === 'bare30' ? `+${fmt(f.cpuUs - (fig.bare?.cpuUs ?? NaN))} (vs bare)` : s.key === 'bare' || baseKey(s.key) === 'gw0' ? '-' : `+${fmt(f.cpuUs - (fig[gwRef(s.key)]?.cpuUs ?? NaN))}`,
        [f.callUs.js === undefined || Number.isNaN(f.callUs.js) ? '' : `JS ${fmt(f.callUs.js)}`, f.callUs.lua === undefined || Number.isNaN(f.callUs.lua) ? '' : `Lua ${fmt(f.callUs.lua)}`].filter(Boolean).join(', ') || '-',
        target ? target[1] : '',
        target ? `${vs >= target[0] ? 'met' : '**NOT met**'} (${fmt(vs * 100)}%)` : '',
        target ? `${vsCpu >= target[0] ? 'met' : '**NOT met**'} (${fmt(vsCpu * 100)}%)` : '',
        String(f.errors + f.non2xx),
      ];
    });
    const m = machine();
    const now = new Date();
    const markdown = `## Gateway throughput (bench/gateway.ts)

Run on ${now.toISOString().slice(0, 10)} at ${now.toISOString().slice(11, 16)} UTC by \`npm run bench:gateway\`; machine: ${m.cpu}, ${m.cores} cores, ${m.memory} RAM, Node ${m.node}.

What it measures: requests per second through a reverse proxy on loopback, with autocannon (${CONNECTIONS} connections, keep-alive)
in its own process, the upstream (a node:http server answering a 32-byte JSON body) in another, and the proxy under test in a third,
all on the same ${m.cores}-core machine, which is shared with other work: absolute numbers are noisy, the ratios between rows of the
same run are what to compare (load average ${fmt(load0)} at the start of the measurement, ${fmt(load1)} at its end, on ${m.cores} cores). Every request carries the 10 headers of the core bench's request workload and reaches the upstream.
The middleware is the request workload of \`bench/calls.ts\` in the gateway contract (\`respond\` 403 on \`x-block\`, else
\`setHeaders: { 'x-plugin': '1' }\`); the chain runs five of them (JS, Lua, JS, Lua, JS). Each scenario was warmed up for ${WARMUP} s,
then measured in ${ROUNDS} rounds of ${SECONDS} s in alternating order (ABCDE, EDCBA, ...). req/s, latency and CPU are medians over
the rounds; the ratios ("vs" columns and targets) are taken within each round, then the median over the rounds. autocannon
reports latency in whole milliseconds.

${table(['scenario', 'req/s', 'p50', 'p99', 'vs bare', 'vs gateway (no mw)', 'proxy CPU µs/req', 'added by middlewares', 'one call in the busy gateway, µs', 'target', 'status (req/s)', 'status (proxy CPU)', 'errors + non-2xx'], rows)}

Latency at a fixed moderate rate: ${rate} req/s (half of the no-middleware gateway's saturated median above), sent by autocannon
at \`--overallRate\` (8 connections) from its own process, every response's latency kept in µs; ${RATE_ROUNDS} alternating rounds of ${SECONDS} s, medians over rounds;
"p99 added" is the median over rounds of (p99 of the row - p99 of the no-middleware gateway in the same round).

${rateRows.length ? table(['scenario (fixed rate)', 'p50 µs', 'p90 µs', 'p99 µs', 'p99 added vs no middleware, µs', 'target'], rateRows) : '(no fixed-rate rows selected)'}

- **status (req/s)**: the target checked on the paired req/s ratio.
- **proxy CPU µs/req**: CPU time (user + system, from /proc) of the proxy process divided by the requests it served in the
  measurement; less sensitive to the machine's other load than req/s, it shows what each scenario costs the proxy itself.
  **status (proxy CPU)**: the target checked on the paired ratio of CPU per request (the throughput ratio if the proxy
  process were the only bottleneck; here the load generator and the upstream share the same 2 cores).
- **one call in the busy gateway**: mean wall time of one \`onRequest\` call as the gateway's own
  \`terrarium_gateway_middleware_duration_seconds\` histogram measured it during the run (compare with the request
  workload of bench/calls.ts's tight loop in bench/RESULTS.md; research measured sandboxed calls at 2.5-4x their
  micro-benchmark cost inside a busy server). The rest of "added by middlewares" is the gateway's bookkeeping per middleware
  (bench/results/gateway-perf.md has a profile) and the slowdown the calls cause around them: Node's own HTTP code runs slower between WASM calls (caches), and the loopback
  writes cost more once the proxy is slower (the upstream and the load generator idle, and each write has to wake them).
- **calibration row**: the bare proxy spinning 30 µs of plain JavaScript per request, no sandbox at all. Its ratio to the
  bare proxy is what any per-request cost of that size does to throughput in this three-process, two-core layout; compare
  it with the one-middleware rows, whose calls take about that long in the busy gateway.
`;
    console.log(`\n${markdown}`);
    return { title: 'Gateway throughput', markdown, figures: fig };
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await rm(tmp, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) {
  const r = await runGateway();
  const out = process.env.GW_BENCH_OUT ?? (ONLY ? undefined : 'gateway.md');
  if (!out) process.exit(0);
  const dir = path.join(BENCH_DIR, 'results');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, out), r.markdown);
  console.log(`written to ${path.relative(process.cwd(), path.join(dir, out))}`);
}
