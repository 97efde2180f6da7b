/**
 * Scenario: call overhead. How long one call into a plugin takes, per engine, against a plain JS
 * function doing the same work (the baseline, measured in the same run and interleaved batch by batch).
 *
 * Workloads (bench/plugins/bench.js and bench/plugins/bench.lua export the same three functions):
 *   noop()          -> undefined
 *   two(a, b)       'GET', '/api/users/42' in, a.length + b.length out
 *   onRequest(req)  method, path, 10 headers in; { status: 403 } when headers['x-block'] is set,
 *                   else { setHeader: { 'x-plugin': '1' } }. Inputs ALTERNATE: even calls pass,
 *                   odd calls carry x-block (so both result shapes are copied out).
 *   readAll(req)    the same request in; reads every header and returns { setHeaders } with 10
 *                   headers (x-echo-<name>: value), so a large result is copied out too.
 *   readStr(req)    the same request in; builds strings: for every header returns 'x-seen-<name>' =
 *                   '<value length>:<method>' (issue 28's string-building read-all workload).
 * Also the copy floors: JSON.parse(JSON.stringify(req)) in V8 (the request workload's), and for
 * readAll and readStr a V8 JSON round trip of the request in and of the 10-header result out.
 *
 * Breakdown of one request call, per engine, measured by difference between workloads of a
 * second plugin written to a temp directory at run time (same host, same run):
 *   enter + exit     noop(): proxy, deadline, guest entry and return, nothing copied
 *   copy req in      take(req) - noop()          (take ignores its argument)
 *   plugin's work    (work(req, 101) - work(req, 1)) / 100   (the onRequest decision, in the guest)
 *   copy result out  give(blocked) - noop() - its construction in the guest, i.e. (make(req, 101) - make(req, 1)) / 100
 * The parts need not add up to the onRequest figure exactly (each is a median of its own batches).
 *
 * Method: every engine is warmed up for WARMUP_MS first (V8 tiers WASM up in the background), each
 * contender gets a batch size calibrated to ~BATCH_MS, then BATCHES rounds run one batch of every
 * contender in turn; the figure is the median µs/call over the batches.
 * The Lua rows appear automatically once bench/plugins/bench.lua exists and the Lua engine loads it.
 *
 * Run alone:  npm run build && node --import tsx bench/calls.ts
 * (npm run bench runs it with the other scenarios and rewrites bench/RESULTS.md.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHost, type Host } from 'terrarium-plugins';
import {
  JS_PLUGIN,
  LUA_PLUGIN,
  REQS,
  REQ_BLOCK,
  REQ_PASS,
  calibrate,
  fmt,
  isMain,
  luaPluginExists,
  ratio,
  runFor,
  sample,
  table,
  type Req,
  type Sampled,
  type ScenarioResult,
} from './lib.js';

const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 2000);
const BATCH_MS = Number(process.env.BENCH_BATCH_MS ?? 40);
const BATCHES = Number(process.env.BENCH_BATCHES ?? 15);

/** Research figures (shared/research/peers.md, quickjs.md, lua-engines.md): NOT measured in this run. */
const RESEARCH = {
  isolatedVm: { label: 'isolated-vm 5.0.4 (applySync, copy, timeout)', us: 7.9, text: '7.9' },
  quickjsRaw: { label: 'quickjs-emscripten raw (runtime per plugin, JSON each way)', lo: 22, hi: 36, text: '22-36' },
  fengariRaw: { label: 'fengari raw (lua_pcall, table marshalling)', lo: 20, hi: 40, text: '20-40' },
} as const;

interface BenchApi {
  noop(): undefined;
  two(a: string, b: string): number;
  onRequest(req: Req): { status: number } | { setHeader: Record<string, string> };
  readAll(req: Req): { setHeaders: Record<string, string> };
  readStr(req: Req): { setHeaders: Record<string, string> };
}

/** JSON with sorted keys: Lua tables have no key order, so results are compared canonically. */
function canonical(v: unknown): string {
  return JSON.stringify(v ?? null, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x,
  );
}

/** The plain JS baseline: the same three functions, called directly in V8. */
const plain: BenchApi = {
  noop() {
    return undefined;
  },
  two(a, b) {
    return a.length + b.length;
  },
  onRequest(req) {
    if (req.headers['x-block']) return { status: 403 };
    return { setHeader: { 'x-plugin': '1' } };
  },
  readAll(req) {
    const out: Record<string, string> = {};
    for (const k in req.headers) out[`x-echo-${k}`] = req.headers[k]!;
    return { setHeaders: out };
  },
  readStr(req) {
    const out: Record<string, string> = {};
    for (const k in req.headers) out['x-seen-' + k] = String(req.headers[k]!.length) + ':' + req.method;
    return { setHeaders: out };
  },
};

interface Target {
  /** Row label, e.g. 'Terrarium JS (quickjs)'. */
  label: string;
  engine: string;
  api: BenchApi;
  host: Host;
}

interface Contender {
  label: string;
  kind: 'baseline' | 'floor' | 'plugin';
  engine?: string;
  fn: (i: number) => unknown;
}

export interface CallsResult extends ScenarioResult {
  /** µs/call medians keyed `${workload}/${label}`. */
  figures: Record<string, number>;
  notes: string[];
}

const READALL_FLOOR = 'copy floor: JSON round trip of req in and of the result out';
const A = 'GET';
const B = '/api/users/42';

/** Load one engine's bench plugin in its own host; returns a note instead when it is not usable. */
async function loadTarget(file: string, label: string): Promise<Target | string> {
  let host: Host;
  try {
    host = await createHost({ files: [file] });
  } catch (e) {
    return `${label}: createHost threw: ${(e as Error).message}`;
  }
  const info = host.plugins[0];
  if (!info || info.status !== 'ready') {
    const why = info?.error?.message ?? `status ${info?.status ?? 'missing'}`;
    await host.close();
    return `${label}: plugin not loaded (${info?.status ?? 'missing'}): ${why}`;
  }
  const api = host.get<BenchApi>(info.name);
  // Sanity: the plugin must compute what the baseline computes, or its timings mean nothing.
  const checks: [string, unknown, unknown][] = [
    ['noop()', api.noop(), plain.noop()],
    ['two()', api.two(A, B), plain.two(A, B)],
    ['onRequest(pass)', api.onRequest(REQ_PASS), plain.onRequest(REQ_PASS)],
    ['onRequest(block)', api.onRequest(REQ_BLOCK), plain.onRequest(REQ_BLOCK)],
    ['readAll()', api.readAll(REQ_PASS), plain.readAll(REQ_PASS)],
    ['readStr()', api.readStr(REQ_PASS), plain.readStr(REQ_PASS)],
  ];
  for (const [what, got, want] of checks) {
    if (canonical(got) !== canonical(want)) {
      await host.close();
      return `${label}: ${what} returned ${JSON.stringify(got)}, expected ${JSON.stringify(want)}; rows skipped`;
    }
  }
  return { label, engine: info.engine, api, host };
}

function contenders(workload: 'noop' | 'two' | 'request' | 'readAll' | 'readStr', targets: readonly Target[]): Contender[] {
  const list: Contender[] = [];
  switch (workload) {
    case 'noop':
      list.push({ label: 'plain JS function', kind: 'baseline', fn: () => plain.noop() });
      for (const t of targets) list.push({ label: t.label, kind: 'plugin', engine: t.engine, fn: () => t.api.noop() });
      break;
    case 'two':
      list.push({ label: 'plain JS function', kind: 'baseline', fn: () => plain.two(A, B) });
      for (const t of targets) list.push({ label: t.label, kind: 'plugin', engine: t.engine, fn: () => t.api.two(A, B) });
      break;
    case 'request':
      list.push({ label: 'plain JS function', kind: 'baseline', fn: (i) => plain.onRequest(REQS[i & 1]!) });
      list.push({ label: 'copy floor: JSON.parse(JSON.stringify(req))', kind: 'floor', fn: (i) => JSON.parse(JSON.stringify(REQS[i & 1]!)) as unknown });
      for (const t of targets) list.push({ label: t.label, kind: 'plugin', engine: t.engine, fn: (i) => t.api.onRequest(REQS[i & 1]!) });
      break;
    case 'readAll':
    case 'readStr': {
      // Both read the whole request; their floor copies it in and the result out.
      const name = workload;
      list.push({ label: 'plain JS function', kind: 'baseline', fn: (i) => plain[name](REQS[i & 1]!) });
      list.push({
        label: READALL_FLOOR,
        kind: 'floor',
        fn: (i) => JSON.parse(JSON.stringify(plain[name](JSON.parse(JSON.stringify(REQS[i & 1]!)) as Req))) as unknown,
      });
      for (const t of targets) list.push({ label: t.label, kind: 'plugin', engine: t.engine, fn: (i) => t.api[name](REQS[i & 1]!) });
      break;
    }
  }
  return list;
}

/** Interleaved sampling: round r runs one batch of every contender, so drift hits all alike. */
function measure(list: readonly Contender[]): Sampled[] {
  const sizes = list.map((c) => calibrate(c.fn, BATCH_MS));
  const perContender: number[][] = list.map(() => []);
  for (let r = 0; r < BATCHES; r++) {
    list.forEach((c, k) => {
      const s = sample(c.fn, 1, sizes[k]!);
      perContender[k]!.push(s.us);
    });
  }
  return perContender.map((xs, k) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    const med = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    return { us: med, min: sorted[0]!, max: sorted[sorted.length - 1]!, batches: xs.length, callsPerBatch: sizes[k]! };
  });
}

function targetFor(workload: string, c: Contender): string {
  if (c.kind !== 'plugin') return '';
  if (workload === 'noop') return '< 1 µs';
  if (workload === 'request') return c.engine === 'quickjs' ? '<= 7.9 µs' : '< 10 µs, <= 1.5x JS';
  return '';
}

function verdict(ok: boolean): string {
  return ok ? 'met' : 'NOT met';
}

/** The breakdown plugins: the request workload cut into its parts (see the header). */
const BREAKDOWN_JS = `
export function noop() {}
export function take(req) {}
const decide = (req) => (req.headers['x-block'] ? { status: 403 } : { setHeader: { 'x-plugin': '1' } });
export function give(blocked) { return blocked ? { status: 403 } : { setHeader: { 'x-plugin': '1' } }; }
export function work(req, n) { let r; for (let i = 0; i < n; i++) r = decide(req); return r === undefined ? 0 : 1; }
export function make(blocked, n) { let r; for (let i = 0; i < n; i++) r = blocked ? { status: 403 } : { setHeader: { 'x-plugin': '1' } }; return r === undefined ? 0 : 1; }
`;
const BREAKDOWN_LUA = `
local M = {}
function M.noop() end
function M.take(req) end
local function decide(req) if req.headers['x-block'] then return { status = 403 } end return { setHeader = { ['x-plugin'] = '1' } } end
function M.give(blocked) if blocked then return { status = 403 } end return { setHeader = { ['x-plugin'] = '1' } } end
function M.work(req, n) local r for i = 1, n do r = decide(req) end if r == nil then return 0 end return 1 end
function M.make(blocked, n) local r for i = 1, n do if blocked then r = { status = 403 } else r = { setHeader = { ['x-plugin'] = '1' } } end end if r == nil then return 0 end return 1 end
return M
`;

interface BreakdownApi {
  noop(): undefined;
  take(req: Req): undefined;
  give(blocked: boolean): unknown;
  work(req: Req, n: number): number;
  make(blocked: boolean, n: number): number;
}

/** The request call cut into parts, per engine, measured by difference (see the header). */
async function breakdown(engines: readonly string[], requestFigures: Record<string, number>, log: (line: string) => void): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'terrarium-breakdown-'));
  const rows: string[][] = [];
  try {
    const files: [string, string, string][] = [
      ['quickjs', 'breakdown.js', BREAKDOWN_JS],
      ['lua', 'breakdown.lua', BREAKDOWN_LUA],
    ];
    for (const [engine, file, source] of files) {
      if (!engines.includes(engine)) continue;
      writeFileSync(join(dir, file), source);
      const host = await createHost({ files: [join(dir, file)] });
      try {
        const info = host.plugins[0];
        if (!info || info.status !== 'ready') {
          log(`note: breakdown plugin for ${engine} did not load: ${info?.error?.message ?? 'missing'}`);
          continue;
        }
        const api = host.get<BreakdownApi>(info.name);
        log(`measuring the call breakdown for ${engine}...`);
        runFor(WARMUP_MS / 2, (i) => (i % 3 === 0 ? api.noop() : i % 3 === 1 ? api.take(REQS[i & 1]!) : api.give((i & 1) === 1)));
        const list: Contender[] = [
          { label: 'noop', kind: 'plugin', fn: () => api.noop() },
          { label: 'take', kind: 'plugin', fn: (i) => api.take(REQS[i & 1]!) },
          { label: 'give', kind: 'plugin', fn: (i) => api.give((i & 1) === 1) },
          { label: 'work1', kind: 'plugin', fn: (i) => api.work(REQS[i & 1]!, 1) },
          { label: 'work101', kind: 'plugin', fn: (i) => api.work(REQS[i & 1]!, 101) },
          { label: 'make1', kind: 'plugin', fn: (i) => api.make((i & 1) === 1, 1) },
          { label: 'make101', kind: 'plugin', fn: (i) => api.make((i & 1) === 1, 101) },
        ];
        const res = measure(list);
        const us = (k: number) => res[k]!.us;
        const enter = us(0);
        const copyIn = us(1) - enter;
        const work = (us(4) - us(3)) / 100;
        const construct = (us(6) - us(5)) / 100;
        const copyOut = us(2) - enter - construct;
        const total = requestFigures[engine];
        const label = engine === 'quickjs' ? 'Terrarium JS (quickjs)' : 'Terrarium Lua (fengari)';
        rows.push([label, fmt(enter), fmt(copyIn), fmt(work), fmt(copyOut), fmt(construct), total === undefined ? '-' : fmt(total)]);
      } finally {
        await host.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return table(['engine', 'enter + exit (noop)', 'copy req in', "plugin's work (decision)", 'copy result out', 'result construction in guest', 'onRequest total (table above)'], rows);
}

export async function runCalls(log: (line: string) => void = console.log): Promise<CallsResult> {
  const notes: string[] = [];
  const targets: Target[] = [];
  const js = await loadTarget(JS_PLUGIN, 'Terrarium JS (quickjs)');
  if (typeof js === 'string') notes.push(js);
  else targets.push(js);
  if (!luaPluginExists()) {
    notes.push(`Lua rows skipped: ${LUA_PLUGIN.replace(/.*\/bench\//, 'bench/')} does not exist yet (they appear automatically once it does and the Lua engine loads it).`);
  } else {
    const lua = await loadTarget(LUA_PLUGIN, 'Terrarium Lua (fengari)');
    if (typeof lua === 'string') notes.push(`Lua rows skipped: ${lua} (they appear automatically once the Lua engine loads bench/plugins/bench.lua).`);
    else targets.push(lua);
  }
  for (const n of notes) log(`note: ${n}`);

  // Warm-up: every engine runs a mix of all workloads for WARMUP_MS; the baselines a little too.
  for (const t of targets) {
    log(`warming up ${t.label} for ${WARMUP_MS} ms...`);
    runFor(WARMUP_MS, (i) => (i % 4 === 0 ? t.api.noop() : i % 4 === 1 ? t.api.two(A, B) : i % 4 === 2 ? t.api.onRequest(REQS[(i >> 2) & 1]!) : (i >> 2) & 1 ? t.api.readAll(REQ_PASS) : t.api.readStr(REQ_PASS)));
  }
  runFor(300, (i) => (i % 3 === 0 ? plain.noop() : i % 3 === 1 ? plain.two(A, B) : JSON.parse(JSON.stringify(plain.onRequest(REQS[i & 1]!)))));

  const figures: Record<string, number> = {};
  const rows: string[][] = [];
  const workloads = [
    ['noop', 'noop() -> undefined'],
    ['two', "two('GET', '/api/users/42') -> 16"],
    ['request', 'onRequest(req), 10 headers, pass/block alternating'],
    ['readAll', 'readAll(req): reads every header, returns 10 headers'],
    ['readStr', "readStr(req): every header, 10 built strings ('x-seen-' .. k = #v .. ':' .. method)"],
  ] as const;
  for (const [w, title] of workloads) {
    const list = contenders(w, targets);
    log(`measuring ${w} (${list.length} contenders x ${BATCHES} batches)...`);
    const res = measure(list);
    const base = res[0]!.us;
    list.forEach((c, k) => {
      const s = res[k]!;
      figures[`${w}/${c.label}`] = s.us;
      let met = '';
      if (c.kind === 'plugin' && w === 'noop') met = verdict(s.us < 1);
      if (c.kind === 'plugin' && w === 'request' && c.engine === 'quickjs') met = verdict(s.us <= 7.9);
      rows.push([
        k === 0 ? title : '',
        c.label,
        fmt(s.us),
        `${fmt(s.min)} - ${fmt(s.max)}`,
        k === 0 ? '1x' : ratio(s.us, base),
        fmt(s.callsPerBatch),
        targetFor(w, c),
        met,
      ]);
    });
  }
  const jsReq = targets.find((t) => t.engine === 'quickjs');
  const luaReq = targets.find((t) => t.engine !== 'quickjs');
  const jsUs = jsReq && figures[`request/${jsReq.label}`];
  const luaUs = luaReq && figures[`request/${luaReq.label}`];
  // Fill the Lua target verdict now that both engines are known.
  if (luaReq && luaUs !== undefined) {
    const row = rows.find((r) => r[1] === luaReq.label && r[6]?.startsWith('< 10'));
    if (row) row[7] = `${verdict(luaUs < 10)} (< 10 µs); ${jsUs ? verdict(luaUs / jsUs <= 1.5) : '-'} (${jsUs ? ratio(luaUs, jsUs) : '-'} JS)`;
  }
  for (const t of targets) await t.host.close();
  const requestByEngine: Record<string, number> = {};
  for (const t of targets) requestByEngine[t.engine] = figures[`request/${t.label}`]!;
  const parts = await breakdown(
    targets.map((t) => t.engine),
    requestByEngine,
    log,
  );

  const main = table(['workload', 'contender', 'µs/call (median)', 'min - max of batches', 'vs plain JS', 'calls/batch', 'target', 'target met?'], rows);

  // The request workload against the copy floor and the peers' research figures.
  const floor = figures['request/copy floor: JSON.parse(JSON.stringify(req))'];
  const base = figures['request/plain JS function'];
  const cmpRows: string[][] = [];
  for (const t of targets) {
    const us = figures[`request/${t.label}`]!;
    cmpRows.push([
      t.label,
      fmt(us),
      ratio(us, base),
      ratio(us, floor),
      ratio(us, RESEARCH.isolatedVm.us),
      `${fmt(us / RESEARCH.quickjsRaw.hi)}x - ${fmt(us / RESEARCH.quickjsRaw.lo)}x`,
      `${fmt(us / RESEARCH.fengariRaw.hi)}x - ${fmt(us / RESEARCH.fengariRaw.lo)}x`,
    ]);
  }
  const cmp = table(
    ['request workload', 'µs/call', 'vs plain JS', 'vs copy floor', 'vs isolated-vm 7.9 µs*', 'vs quickjs-emscripten raw 22-36 µs*', 'vs fengari raw 20-40 µs*'],
    cmpRows,
  );
  const peers = table(
    ['peer (research figure, not measured in this run)', 'µs/call, request workload'],
    [
      [RESEARCH.isolatedVm.label, RESEARCH.isolatedVm.text],
      [RESEARCH.quickjsRaw.label, RESEARCH.quickjsRaw.text],
      [RESEARCH.fengariRaw.label, RESEARCH.fengariRaw.text],
    ],
  );
  // The fast-path targets: each engine against the copy floor of the same workload, same run.
  const floorAll = figures[`readAll/${READALL_FLOOR}`];
  const floorStr = figures[`readStr/${READALL_FLOOR}`];
  const fastRows: string[][] = [];
  for (const t of targets) {
    const req = figures[`request/${t.label}`]!;
    const all = figures[`readAll/${t.label}`]!;
    fastRows.push([t.label, 'request / its copy floor', `${fmt(req / floor!)}x`, '<= 1.0x', verdict(req / floor! <= 1)]);
    fastRows.push([t.label, 'readAll / its copy floor', `${fmt(all / floorAll!)}x`, '<= 2.0x', verdict(all / floorAll! <= 2)]);
    const str = figures[`readStr/${t.label}`]!;
    fastRows.push([t.label, 'readStr (string building) / its copy floor', `${fmt(str / floorStr!)}x`, '<= 2.0x', verdict(str / floorStr! <= 2)]);
  }
  const fast = table(['engine', 'ratio', 'measured', 'target', 'met?'], fastRows);
  const luaJs = jsUs !== undefined && luaUs !== undefined ? `Lua/JS ratio, request workload: **${fmt(luaUs / jsUs)}x** (target <= 1.5x: ${verdict(luaUs / jsUs <= 1.5)}).` : 'Lua/JS ratio, request workload: - (no Lua rows in this run).';

  const md = [
    `Warm-up ${WARMUP_MS} ms per engine; ${BATCHES} interleaved batches of ~${BATCH_MS} ms per contender; figures are medians of the batches' µs/call.`,
    '',
    main,
    '',
    cmp,
    '',
    fast,
    '',
    '\\* research figure, not measured in this run (shared/research/peers.md, quickjs.md, lua-engines.md; same request workload, same kind of 2-core machine, ±30%). Ratios below 1x mean Terrarium was faster than that figure.',
    '',
    peers,
    '',
    luaJs,
    '',
    'Breakdown of one request call (µs, medians; by difference between workloads of a second plugin, see bench/calls.ts):',
    '',
    parts,
    ...(notes.length ? ['', ...notes.map((n) => `- Note: ${n}`)] : []),
  ].join('\n');
  log('');
  log(md);
  return { title: 'Call overhead (bench/calls.ts)', markdown: md, figures, notes };
}

if (isMain(import.meta.url)) {
  await runCalls();
}
