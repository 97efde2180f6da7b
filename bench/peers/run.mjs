/**
 * `npm run bench:peers`: Terrarium against what a Node.js user would pick instead, measured side by
 * side in one run on this machine. Writes bench/peers/RESULTS.md, chart-calls.svg and
 * chart-containment.svg.
 *
 *   npm run bench:peers    (= npm run build && node --import tsx bench/peers/run.mjs)
 *
 * Phases:
 *  1. install: `npm install` in bench/peers (its own package.json and lock; isolated-vm is an
 *     optionalDependency built with node-gyp: when it fails its rows say skipped, with the reason).
 *  2. calls: every peer loaded in this process, warmed up, then ROUNDS interleaved rounds of the
 *     request workload (bench/lib.ts REQS, pass/blocked alternating); µs per call median and p99,
 *     calls/s, and the ratio to "plain JS + JSON round trip" measured in the same rounds.
 *  3. startup + memory: one fresh process per peer (mem-child.mjs): first instance, then N instances.
 *  4. containment: one fresh process per peer x fault (fault-child.mjs), with --max-old-space-size=512,
 *     a kill timer and a memory watchdog: did the host survive, how long until the plugin was
 *     stopped, what error the host saw, peak RSS.
 *
 * Knobs (environment): BENCH_QUICK=1 (fast smoke run), BENCH_WARMUP_MS (1500), BENCH_ROUNDS (15),
 * BENCH_ROUND_MS (40), BENCH_MEM_N (50), BENCH_KILL_MS (20000), BENCH_JOBS (2 loop/recursion cases at
 * once), BENCH_BOMB_JOBS (1 memory-bomb case at once), BENCH_PEERS=id,id (subset), BENCH_FAULTS=id,id (subset), BENCH_PEERS_SKIP_INSTALL=1.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { REQS, REQ_BLOCK, REQ_PASS, REPO_DIR, consume, fmt, machine, median, table } from '../lib';

const PEERS_DIR = path.dirname(fileURLToPath(import.meta.url));
const QUICK = process.env.BENCH_QUICK === '1';
const env = (k, full, quick) => Number(process.env[k] ?? (QUICK ? quick : full));
const WARMUP_MS = env('BENCH_WARMUP_MS', 1500, 300);
const ROUNDS = env('BENCH_ROUNDS', 15, 4);
const ROUND_MS = env('BENCH_ROUND_MS', 40, 15);
const MEM_N = env('BENCH_MEM_N', 50, 10);
const KILL_MS = env('BENCH_KILL_MS', 20000, 8000);
const JOBS = env('BENCH_JOBS', 2, 2);
const BOMB_JOBS = env('BENCH_BOMB_JOBS', 1, 2);
/** Host RSS past this: the bench kills the host (it would take the machine down otherwise). */
const HOST_RSS_CAP = 3 * 1024 ** 3;
/** Plugin processes (children of the host) past this in total: the bench kills them, as the OOM killer would. */
const CHILD_RSS_CAP = 3 * 1024 ** 3;
/**
 * A memory fault counts as contained only if host + plugin processes grew by less than this over
 * their RSS just before the fault: 4x the 64 MiB the plugin is allowed.
 */
const MEM_BOUND = 256 * 1024 ** 2;
/** One micro-batch of calls lasts about this long; its mean is one sample (p99 is over samples). */
const SAMPLE_US = 25;
const CHILD_HEAP_FLAG = '--max-old-space-size=512';

const started = Date.now();
const log = (...a) => console.log(...a);

// Research figures (shared/research/peers.md): same workload, measured before the project started.
const RESEARCH_US = {
  plain: '~0.0005',
  json: '4.4',
  'vm-direct': '~0.01',
  'vm-timeout': '57',
  'isolated-vm': '7.9',
  'worker-async': '24.8',
  'worker-sab': '19.8',
  'child-stdio': '42.6',
  'child-socket': '42.0',
  vm2: '5.9',
  'sw-quickjs': '790',
  'quickjs-raw': '22.4',
  'fengari-raw': '20.8',
  'terrarium-js': '~17 (earlier bench runs)',
  'terrarium-lua': '~7 (earlier bench runs)',
};

// ---------------------------------------------------------------------------------------------
// helpers

function p99(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)];
}
const MB = (b) => (Number.isFinite(b) ? `${fmt(b / 1024 ** 2)} MB` : '-');
const ms = (x) => (Number.isFinite(x) ? (x >= 1000 ? `${fmt(x / 1000)} s` : `${fmt(x)} ms`) : '-');
const oneLine = (s, n = 90) => {
  const t = String(s ?? '').replace(/\s+/g, ' ').trim();
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
};
const mdCell = (s) => String(s).replace(/\|/g, '\\|');

/** Run a command; resolves { code, signal, stdout, stderr }. */
function run(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.on('error', (e) => resolve({ code: -1, signal: null, stdout, stderr: `${stderr}\n${e.message}` }));
  });
}

function readStatus(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const get = (k) => {
      const m = new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s);
      return m ? Number(m[1]) * 1024 : 0;
    };
    return { rss: get('VmRSS'), hwm: get('VmHWM') };
  } catch {
    return null;
  }
}

/** Every descendant pid of `root` (from /proc/<pid>/stat parent links). */
function descendants(root) {
  const kids = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(d));
    } catch {
      /* gone */
    }
  }
  const out = [];
  const stack = [root];
  while (stack.length) {
    for (const c of kids.get(stack.pop()) ?? []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// 1. install

let install = { skipped: true, seconds: 0, log: '', ok: true };
if (process.env.BENCH_PEERS_SKIP_INSTALL !== '1') {
  log('== installing bench/peers (npm install; isolated-vm builds from source with node-gyp, ~1 min the first time) ==');
  const t = Date.now();
  const r = await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=warn'], { cwd: PEERS_DIR });
  install = { skipped: false, seconds: (Date.now() - t) / 1000, log: `${r.stdout}\n${r.stderr}`, ok: r.code === 0 };
  const logFile = path.join(tmpdir(), 'terrarium-bench-peers-logs', 'install.log');
  mkdirSync(path.dirname(logFile), { recursive: true });
  writeFileSync(logFile, install.log);
  install.logFile = logFile;
  log(`npm install in bench/peers: exit ${r.code} in ${install.seconds.toFixed(1)} s (log: ${logFile})`);
  if (r.code !== 0) log(oneLine(r.stderr, 2000));
}

// Temporary plugin files and sockets of this run and of its child processes, removed at the end.
process.env.BENCH_PEERS_TMP = mkdtempSync(path.join(tmpdir(), 'terrarium-bench-peers-run-'));
process.on('exit', () => rmSync(process.env.BENCH_PEERS_TMP, { recursive: true, force: true }));

const { PEERS, FAULTS, pluginSources, packageVersion, CALL_TIMEOUT_MS } = await import('./peers.mjs');
const { callsChart, containmentChart } = await import('./svg.mjs');

const only = process.env.BENCH_PEERS?.split(',').filter(Boolean);
const onlyFaults = process.env.BENCH_FAULTS?.split(',').filter(Boolean);
const peers = PEERS.filter((p) => !only || only.includes(p.id));
const faults = FAULTS.filter((f) => !onlyFaults || onlyFaults.includes(f.id));

const m = machine();
log(`machine: ${m.cpu}, ${m.cores} cores, ${m.memory}, Node ${m.node}, ${m.platform}${QUICK ? ' (BENCH_QUICK=1)' : ''}`);

// Which peers load at all; a missing one is reported as skipped with the reason, never dropped.
const skipped = new Map();
for (const p of peers) {
  try {
    await p.load();
  } catch (e) {
    let why = `${p.package ?? p.id} could not be loaded: ${oneLine(e.message, 160)}`;
    if (p.package && !existsSync(path.join(PEERS_DIR, 'node_modules', p.package, 'package.json'))) {
      const lines = install.log.split('\n').filter((l) => l.includes(p.package) || /gyp ERR!|error:/i.test(l));
      why = `${p.package} is not installed (optional dependency of bench/peers; its install or native build failed${install.logFile ? `, see ${install.logFile}` : ''})${lines.length ? `: ${oneLine(lines.slice(0, 3).join(' / '), 200)}` : ''}`;
    }
    skipped.set(p.id, why);
    log(`skipped ${p.id}: ${why}`);
  }
}
const live = peers.filter((p) => !skipped.has(p.id));

// ---------------------------------------------------------------------------------------------
// 2. calls (in this process, interleaved)

log(`\n== µs per call, request workload (warm-up ${WARMUP_MS} ms each, ${ROUNDS} interleaved rounds of ~${ROUND_MS} ms) ==`);
const calls = new Map(); // id -> { median, p99, callsPerSec, samples, k }
{
  const src = pluginSources();
  const want = [JSON.stringify({ setHeader: { 'x-plugin': '1' } }), JSON.stringify({ status: 403 })];
  const insts = [];
  for (const p of live) {
    try {
      const inst = await p.create(src, { mode: 'calls' });
      const got = [JSON.stringify(await inst.call('onRequest', REQ_PASS)), JSON.stringify(await inst.call('onRequest', REQ_BLOCK))];
      if (got[0] !== want[0] || got[1] !== want[1]) throw new Error(`wrong results ${got.join(' / ')}`);
      insts.push({ p, inst, samples: [], calls: 0, us: 0, k: 1 });
    } catch (e) {
      skipped.set(p.id, `could not create an instance: ${oneLine(e.message, 160)}`);
      log(`skipped ${p.id}: ${skipped.get(p.id)}`);
    }
  }
  const syncRun = (x, untilMs, record) => {
    const { inst, k } = x;
    let j = 0;
    for (;;) {
      const t0 = performance.now();
      for (let i = 0; i < k; i++) consume(inst.call('onRequest', REQS[j++ & 1]));
      const t1 = performance.now();
      if (record) {
        x.samples.push(((t1 - t0) * 1000) / k);
        x.calls += k;
        x.us += (t1 - t0) * 1000;
      }
      if (t1 >= untilMs) return j;
    }
  };
  const asyncRun = async (x, untilMs, record) => {
    const { inst, k } = x;
    let j = 0;
    for (;;) {
      const t0 = performance.now();
      for (let i = 0; i < k; i++) consume(await inst.call('onRequest', REQS[j++ & 1]));
      const t1 = performance.now();
      if (record) {
        x.samples.push(((t1 - t0) * 1000) / k);
        x.calls += k;
        x.us += (t1 - t0) * 1000;
      }
      if (t1 >= untilMs) return j;
    }
  };
  const runOne = (x, dur, record) => (x.p.async ? asyncRun(x, performance.now() + dur, record) : syncRun(x, performance.now() + dur, record));
  for (const x of insts) {
    const t0 = performance.now();
    const n = await runOne(x, WARMUP_MS, false);
    const est = ((performance.now() - t0) * 1000) / Math.max(1, n);
    x.k = Math.max(1, Math.ceil(SAMPLE_US / est));
    log(`  warmed up ${x.p.id}: ~${fmt(est)} µs/call, ${x.k} call(s) per sample`);
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < insts.length; i++) await runOne(insts[(i + r) % insts.length], ROUND_MS, true);
  }
  for (const x of insts) {
    const res = { median: median(x.samples), p99: p99(x.samples), callsPerSec: (x.calls * 1e6) / x.us, samples: x.samples.length, k: x.k, calls: x.calls };
    calls.set(x.p.id, res);
    log(`  ${x.p.label}: median ${fmt(res.median)} µs, p99 ${fmt(res.p99)} µs, ${fmt(res.callsPerSec)} calls/s`);
  }
  for (const x of insts) {
    try {
      await Promise.race([Promise.resolve(x.inst.close()), new Promise((r) => setTimeout(r, 2000).unref())]);
    } catch {
      /* ignore */
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 3. startup + memory per instance (fresh process per peer)

log(`\n== startup and memory per instance (fresh process per peer, N = ${MEM_N}) ==`);
const mem = new Map();
for (const p of live) {
  if (p.id === 'json' || skipped.has(p.id)) continue;
  const r = await run(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(PEERS_DIR, 'mem-child.mjs'), p.id, String(MEM_N)], { cwd: REPO_DIR, timeout: 180_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (line) {
    const res = JSON.parse(line.slice(7));
    mem.set(p.id, res);
    log(`  ${p.label}: first ${fmt(res.firstMs)} ms, then ${fmt(res.startupMs)} ms each, ${MB(res.perInstance)} per instance`);
  } else {
    mem.set(p.id, { error: oneLine(r.stderr.split('\n').filter(Boolean).slice(-2).join(' '), 160) || `exit ${r.code ?? r.signal}` });
    log(`  ${p.label}: failed: ${mem.get(p.id).error}`);
  }
}

// ---------------------------------------------------------------------------------------------
// 4. containment (fresh process per peer x fault, kill timer, memory watchdog)

function crashReason(stderr, code, signal) {
  if (/heap out of memory|Reached heap limit/i.test(stderr)) return 'OOM: V8 heap limit';
  const abort = /Aborted\((.*?)\)/.exec(stderr);
  if (abort) return `abort: ${oneLine(abort[1], 70)}`;
  if (/Maximum call stack/i.test(stderr)) return 'stack overflow';
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('at ') && !/^Node\.js v/.test(l));
  const last = lines.find((l) => /\b\w*Error\b|ERR_[A-Z_]+/.test(l)) ?? lines.pop();
  if (signal) return `signal ${signal}${last ? `: ${oneLine(last, 60)}` : ''}`;
  return `exit ${code}${last ? `: ${oneLine(last, 60)}` : ''}`;
}

function containCase(p, f) {
  return new Promise((resolve) => {
    const args = [CHILD_HEAP_FLAG, '--import', 'tsx', path.join(PEERS_DIR, 'fault-child.mjs'), p.id, f.id];
    const child = spawn(process.execPath, args, { cwd: REPO_DIR, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const res = { peer: p.id, fault: f.id, hostPeak: 0, treePeak: 0 };
    let stdout = '';
    let stderr = '';
    let killedBy = null;
    let faultStart = null;
    let killedChildren = false;
    const t0 = Date.now();
    const killGroup = () => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    };
    child.stdout.on('data', (d) => {
      stdout += d;
      if (faultStart === null && stdout.includes('FAULT_START')) {
        faultStart = Date.now();
        res.treeBefore = treeRss()?.total;
      }
    });
    child.stderr.on('data', (d) => {
      stderr = (stderr + d).slice(-8192);
    });
    const treeRss = () => {
      const st = readStatus(child.pid);
      if (!st) return null;
      let kidsRss = 0;
      const kids = descendants(child.pid);
      for (const k of kids) kidsRss += readStatus(k)?.rss ?? 0;
      return { st, kids, kidsRss, total: st.rss + kidsRss };
    };
    const poll = () => {
      const t = treeRss();
      if (!t) return;
      const { st, kids, kidsRss } = t;
      res.hostPeak = Math.max(res.hostPeak, st.hwm);
      res.treePeak = Math.max(res.treePeak, st.rss + kidsRss, st.hwm);
      if (st.rss > HOST_RSS_CAP && !killedBy) {
        killedBy = 'watchdog';
        killGroup();
      } else if (kidsRss > CHILD_RSS_CAP) {
        killedChildren = true;
        for (const k of kids) {
          try {
            process.kill(k, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      }
    };
    const watch = setInterval(poll, 50);
    const timer = setTimeout(() => {
      killedBy ??= 'timer';
      poll();
      killGroup();
    }, KILL_MS);
    child.on('close', (code, signal) => {
      clearInterval(watch);
      clearTimeout(timer);
      killGroup(); // plugin processes the host left behind
      res.wallMs = Date.now() - t0;
      res.sinceFaultMs = faultStart === null ? null : Date.now() - faultStart;
      res.killedChildren = killedChildren;
      const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
      if (line && !killedBy) {
        Object.assign(res, JSON.parse(line.slice(7)));
        res.hostPeak = Math.max(res.hostPeak, res.peakRss ?? 0);
        res.treePeak = Math.max(res.treePeak, res.hostPeak);
        res.status = 'done';
      } else if (killedBy === 'timer') {
        res.status = faultStart === null ? 'setup-hung' : 'hung';
      } else if (killedBy === 'watchdog') {
        res.status = 'watchdog';
      } else {
        res.status = faultStart === null ? 'setup-failed' : 'crashed';
        res.crash = crashReason(stderr, code, signal);
      }
      if (res.status !== 'done') {
        res.stderrFile = path.join(tmpdir(), 'terrarium-bench-peers-logs', `${p.id}-${f.id}.stderr.log`);
        mkdirSync(path.dirname(res.stderrFile), { recursive: true });
        writeFileSync(res.stderrFile, stderr);
      }
      resolve(res);
    });
  });
}

/** `CODE: message`, without the code repeated in the message and without the temporary plugin paths. */
function errorText(e) {
  const code = e.code ?? e.name ?? '';
  let msg = String(e.message ?? '').replace(/\/[^\s"'()]*terrarium-peers-[^/\s]+\/p\d+\//g, '');
  if (code && msg.startsWith(`${code}: `)) msg = msg.slice(code.length + 2);
  return code ? `${code}: ${msg}` : msg;
}

/** Verdict and short texts of one case. */
function judge(r) {
  if (!r) return { verdict: 'skipped', cell: 'skipped', long: 'skipped' };
  const isMemFault = r.fault !== 'loop' && r.fault !== 'recursion';
  switch (r.status) {
    case 'hung':
      return { verdict: 'no', cell: `hung (killed ${KILL_MS / 1000} s)`, long: `no (host hung, killed at ${KILL_MS / 1000} s)` };
    case 'watchdog':
      return { verdict: 'no', cell: `RSS > ${HOST_RSS_CAP / 1024 ** 3} GB`, long: `no (host RSS passed ${HOST_RSS_CAP / 1024 ** 3} GB: killed by the bench's watchdog)` };
    case 'crashed':
      return { verdict: 'no', cell: /OOM/.test(r.crash) ? 'crashed: OOM' : 'crashed', long: `no (host crashed: ${r.crash})` };
    case 'setup-hung':
    case 'setup-failed':
      return { verdict: 'skipped', cell: 'setup failed', long: `not measured: the instance could not be set up (${r.crash ?? 'hung'})` };
    default:
      break;
  }
  if (!r.survived) {
    return { verdict: 'no', cell: 'host unusable', long: `no (host could not answer a normal call afterwards: ${oneLine(r.recoveryError?.message ?? '', 60)})` };
  }
  const stopped = r.outcome === 'error' ? `stopped in ${ms(r.stoppedMs)}` : 'fault returned';
  const peakText = MB(r.treePeak);
  if (isMemFault && r.treePeak - (r.treeBefore ?? 0) > MEM_BOUND) {
    return {
      verdict: 'partial',
      cell: `${fmt(r.treePeak / 1024 ** 3, 2)} GB, survived`,
      long: `partial (host survived, ${stopped}, but memory reached ${peakText}${r.killedChildren ? '; the bench killed the plugin process past 3 GB, as the OOM killer would' : ''})`,
    };
  }
  if (r.outcome !== 'error') return { verdict: 'partial', cell: 'returned?', long: `the fault returned ${r.returned}` };
  const took = r.stoppedMs >= 900 ? `${fmt(r.stoppedMs / 1000, 2)} s` : r.stoppedMs < 1 ? '<1 ms' : `${Math.round(r.stoppedMs)} ms`;
  return { verdict: 'yes', cell: `yes, ${took}`, long: `yes (${stopped}${r.recovery === 'new instance' ? ', instance recreated' : ''})` };
}

const contained = new Map(); // `${peer}/${fault}` -> result
const setupNotes = [];
const containPeers = live.filter((p) => p.containment && !skipped.has(p.id));
{
  // Loops and recursion run JOBS at a time; the memory bombs one at a time, because how far a bomb
  // gets before a 1 s timeout depends on the CPU and page-fault bandwidth it is given.
  const cpuCases = [];
  const bombCases = [];
  for (const p of containPeers) for (const f of faults) (f.id === 'loop' || f.id === 'recursion' ? cpuCases : bombCases).push([p, f]);
  log(`\n== containment: ${cpuCases.length + bombCases.length} cases, each in its own process (${CHILD_HEAP_FLAG}, kill timer ${KILL_MS / 1000} s; loops and recursion ${JOBS} at a time, memory bombs ${BOMB_JOBS} at a time) ==`);
  const runAll = async (cases, jobs) => {
    let next = 0;
    const worker = async () => {
      while (next < cases.length) {
        const [p, f] = cases[next++];
        let r = await containCase(p, f);
        if (r.status.startsWith('setup-')) {
          // The fault never ran: not a containment result. Say so, and try once more.
          const first = `${r.status === 'setup-hung' ? 'hung' : r.crash} (stderr: ${r.stderrFile})`;
          log(`  ${p.id} / ${f.id}: the instance could not be set up before the fault: ${first}; retrying once`);
          r = await containCase(p, f);
          r.firstAttempt = first;
          setupNotes.push(`${p.label} / ${f.label}: the first attempt failed before the fault ran (${first}); the result shown is the retry's.`);
        }
        contained.set(`${p.id}/${f.id}`, r);
        const j = judge(r);
        log(`  ${p.id} / ${f.id}: ${j.long}; error: ${oneLine(r.error ? errorText(r.error) : r.crash ?? '-', 90)}; host peak ${MB(r.hostPeak)}, with plugin processes ${MB(r.treePeak)}`);
      }
    };
    await Promise.all(Array.from({ length: jobs }, worker));
  };
  await runAll(cpuCases, JOBS);
  await runAll(bombCases, BOMB_JOBS);
}

// ---------------------------------------------------------------------------------------------
// results

const seconds = Math.round((Date.now() - started) / 1000);
const now = new Date();
const base = calls.get('json')?.median;
const kindLabel = { floor: 'floor', baseline: 'baseline', 'in-process': 'in-process', 'out-of-process': 'out-of-process', terrarium: 'Terrarium' };

const versionRows = [
  ['Node.js', process.version, 'node:vm, worker_threads, child_process'],
  ...[
    ['terrarium', 'this repository (dist/, built by the same command)'],
    ['isolated-vm', 'optionalDependency, native build (node-gyp); 7.x needs Node >= 24'],
    ['vm2', ''],
    ['@sebastianwessel/quickjs', 'with @jitl/quickjs-ng-wasmfile-release-sync (its default variant)'],
    ['@jitl/quickjs-ng-wasmfile-release-sync', ''],
    ['quickjs-emscripten-core', 'raw quickjs-emscripten peer'],
    ['@jitl/quickjs-wasmfile-release-sync', 'raw quickjs-emscripten peer (bellard release-sync, as Terrarium uses)'],
    ['fengari', 'raw fengari peer (bench/peers copy, unpatched)'],
  ].map(([n, note]) => [n, packageVersion(n) ?? 'not installed', note]),
];

const callRows = [];
const chartRows = [];
for (const p of peers) {
  const c = calls.get(p.id);
  const mm = mem.get(p.id);
  const skip = skipped.get(p.id);
  if (skip) {
    callRows.push([p.label, kindLabel[p.kind], `skipped: ${mdCell(oneLine(skip, 140))}`, '-', '-', '-', '-', '-', '-', RESEARCH_US[p.id] ?? '-']);
    chartRows.push({ label: p.label, kind: p.kind, median: NaN, p99: NaN, note: 'skipped (see RESULTS.md)' });
    continue;
  }
  callRows.push([
    p.kind === 'terrarium' ? `**${p.label}**` : p.label,
    kindLabel[p.kind],
    c ? fmt(c.median) : '-',
    c ? fmt(c.p99) : '-',
    c ? fmt(c.callsPerSec) : '-',
    c && base ? `${fmt(c.median / base)}x` : '-',
    p.id === 'json' ? '(as plain JS)' : mm?.error ? `failed: ${mdCell(mm.error)}` : mm ? fmt(mm.firstMs) : '-',
    p.id === 'json' ? '' : mm && !mm.error ? fmt(mm.startupMs) : '-',
    p.id === 'json' ? '' : mm && !mm.error ? `${mm.perInstance < 0 ? '~0 (noise: RSS fell)' : MB(mm.perInstance)}${mm.childPss ? ' (incl. child Pss)' : ''}` : '-',
    RESEARCH_US[p.id] ?? '-',
  ]);
  if (c) chartRows.push({ label: p.label, kind: p.kind, median: c.median, p99: c.p99 });
}

const gridPeers = peers.filter((p) => p.containment);
const cells = gridPeers.map((p) =>
  faults.map((f) => {
    if (skipped.has(p.id)) return { verdict: 'skipped', text: 'skipped' };
    const j = judge(contained.get(`${p.id}/${f.id}`));
    return { verdict: j.verdict, text: j.cell };
  }),
);
const faultHeader = faults.map((f) => f.label);
const gridRows = gridPeers.map((p, i) => [
  p.kind === 'terrarium' ? `**${p.label}**` : p.label,
  ...faults.map((f, j) => {
    if (skipped.has(p.id)) return 'skipped';
    const jj = judge(contained.get(`${p.id}/${f.id}`));
    const mark = cells[i][j].verdict === 'yes' ? '✅' : cells[i][j].verdict === 'partial' ? '🟠' : cells[i][j].verdict === 'no' ? '❌' : '⚪';
    return `${mark} ${mdCell(jj.long)}`;
  }),
]);
const detailRows = [];
for (const p of gridPeers) {
  if (skipped.has(p.id)) continue;
  for (const f of faults) {
    const r = contained.get(`${p.id}/${f.id}`);
    if (!r) continue;
    const err = r.error ? errorText(r.error) : r.crash ? r.crash : r.status === 'hung' ? '(none: the call never returned)' : '-';
    detailRows.push([
      p.label,
      f.label,
      r.status === 'done'
        ? r.survived
          ? `yes (${r.recovery})`
          : 'no'
        : r.status === 'hung'
          ? 'no (hung)'
          : r.status === 'watchdog'
            ? 'no (watchdog)'
            : r.status === 'crashed'
              ? 'no (crashed)'
              : 'not measured (setup failed)',
      r.status === 'done' ? ms(r.stoppedMs) : r.status === 'hung' ? `not stopped (killed at ${KILL_MS / 1000} s)` : r.sinceFaultMs !== null ? `host died after ${ms(r.sinceFaultMs)}` : '-',
      mdCell(oneLine(err, 110)),
      MB(r.treeBefore),
      MB(r.hostPeak),
      MB(r.treePeak),
    ]);
  }
}

// Targets
const v = (ok) => (ok ? '**met**' : '**NOT met**');
const allYes = (id) => faults.length === FAULTS.length && faults.every((f) => judge(contained.get(`${id}/${f.id}`)).verdict === 'yes');
const tJs = calls.get('terrarium-js')?.median;
const tLua = calls.get('terrarium-lua')?.median;
const ivm = calls.get('isolated-vm')?.median;
const oop = live.filter((p) => p.kind === 'out-of-process' && calls.has(p.id));
const oopMin = Math.min(...oop.map((p) => calls.get(p.id).median));
const inProcFull = (lang) => containPeers.filter((p) => p.lang === lang && (p.kind === 'in-process' || p.kind === 'floor') && allYes(p.id)).map((p) => p.label);
const targets = [];
if (contained.size) {
  const both = allYes('terrarium-js') && allYes('terrarium-lua');
  targets.push([
    'Terrarium contains all five faults, both engines',
    'every cell green for both Terrarium rows',
    faults.length < FAULTS.length ? 'not all faults run (BENCH_FAULTS)' : `QuickJS ${faults.filter((f) => judge(contained.get(`terrarium-js/${f.id}`)).verdict === 'yes').length}/5, Lua ${faults.filter((f) => judge(contained.get(`terrarium-lua/${f.id}`)).verdict === 'yes').length}/5`,
    v(both),
  ]);
  const others = { js: inProcFull('js'), lua: inProcFull('lua') };
  targets.push([
    '... and is the only in-process option that does',
    'no other in-process row all green (JS or Lua)',
    `JavaScript: ${others.js.length ? `also all green: ${others.js.join(', ')}` : 'no other in-process option contains all five'}; Lua: ${others.lua.length ? `also all green: ${others.lua.join(', ')}` : 'no other in-process option contains all five'}`,
    v(others.js.length + others.lua.length === 0),
  ]);
}
if (tJs !== undefined) {
  targets.push([
    'Terrarium QuickJS µs/call <= isolated-vm',
    ivm !== undefined ? `<= ${fmt(ivm)} µs (isolated-vm, this run); research 7.9 µs` : '<= 7.9 µs (research; isolated-vm not measured in this run)',
    `${fmt(tJs)} µs (${ivm !== undefined ? `${fmt(tJs / ivm)}x isolated-vm` : `${fmt(tJs / 7.9)}x 7.9 µs`})`,
    v(tJs <= (ivm ?? 7.9)),
  ]);
}
if (tLua !== undefined && oop.length) {
  targets.push([
    'Terrarium Lua µs/call below every out-of-process option',
    `< ${fmt(oopMin)} µs (fastest out-of-process row, this run; research 20-43 µs)`,
    `${fmt(tLua)} µs (${fmt(tLua / oopMin)}x)`,
    v(tLua < oopMin),
  ]);
}

const callsTitle = 'µs per call, request workload (method, path, 10 headers in; decision out)';
const callsSvg = callsChart(chartRows, {
  title: callsTitle,
  subtitle: `Median of interleaved samples, one run on ${m.cores}x ${m.cpu.slice(0, 40)}, Node ${m.node}, ${now.toISOString().slice(0, 10)}`,
});
const containSvg = containmentChart(
  gridPeers.map((p) => ({ label: p.label, kind: p.kind })),
  faults,
  cells,
  {
    title: 'Containment: does the host survive a hostile plugin?',
    subtitle: `Each case in its own process (--max-old-space-size=512, killed at ${KILL_MS / 1000} s); limits 64 MiB / ${CALL_TIMEOUT_MS} ms where the peer has them`,
  },
);
writeFileSync(path.join(PEERS_DIR, 'chart-calls.svg'), callsSvg);
writeFileSync(path.join(PEERS_DIR, 'chart-containment.svg'), containSvg);

const limitsRows = peers.map((p) => [p.label, mdCell(p.limits)]);
const quickNote = QUICK ? '\n> **BENCH_QUICK=1**: a fast smoke run with short warm-up, few rounds and small N; do not quote these numbers.\n' : '';
const subsetNote = only || onlyFaults ? `\n> Subset run: BENCH_PEERS=${only?.join(',') ?? 'all'} BENCH_FAULTS=${onlyFaults?.join(',') ?? 'all'}.\n` : '';

const md = `# Terrarium against the alternatives

Generated by \`npm run bench:peers\` (bench/peers/run.mjs) on ${now.toISOString().slice(0, 10)} at ${now.toISOString().slice(11, 16)} UTC in ${seconds} s
(${install.skipped ? 'install step skipped' : `including \`npm install\` in bench/peers: ${fmt(install.seconds)} s`}). Do not edit by hand: it is rewritten on every run.
${quickNote}${subsetNote}
**Machine:** ${m.cpu}, ${m.cores} cores, ${m.memory} RAM, Node ${m.node} (${m.platform}).
The machine is small and shared: absolute numbers move by ±30% between runs. Compare the **ratios**,
taken against "plain JS + JSON round trip" measured in the same interleaved rounds.

![µs per call](chart-calls.svg)

![containment grid](chart-containment.svg)

## Targets
${targets.length ? table(['target', 'goal', 'measured', 'status'], targets) : 'Not evaluated in this (subset) run.'}

## Per call, startup and memory
Same plugin everywhere: \`onRequest(req)\` of bench/plugins/bench.js (bench.lua for the Lua rows), with the request
fixture of bench/lib.ts (method, path, 10 headers), **alternating** a passing request and a blocked one
(\`x-block\`), so both result shapes are copied out.
- **µs/call median / p99**: every peer is loaded in one process, warmed up for ${WARMUP_MS} ms (V8 tiers WASM up in the background),
  then ${ROUNDS} rounds run ~${ROUND_MS} ms of every peer in turn (start rotated each round). A sample is the mean of a
  micro-batch of consecutive calls lasting ~${SAMPLE_US} µs (a single call for anything slower), so p99 is per call for
  the slow peers and per micro-batch for the sub-µs ones. Async peers (workers with postMessage, child processes,
  @sebastianwessel/quickjs) are awaited call by call: one caller, no pipelining.
- **calls/s**: calls made / time spent in them, one caller.
- **vs plain JS + JSON**: median / the median of \`JSON.parse(JSON.stringify(...))\` of the argument and of the result around a plain call.
- **first instance**: create + load of the first instance in a fresh process (module import, WASM compile, isolate or process start).
- **startup**: median create + load time of the next ${MEM_N} instances, in that same process, each ready to serve a call
  (Terrarium: one \`createHost({ files: [plugin] })\` per instance).
- **memory / instance**: RSS after \`global.gc()\`, after minus before those ${MEM_N} instances (each having served a call), / ${MEM_N}.
  Child-process rows add the children's proportional set size (Pss); worker threads are inside the host's RSS.

${table(['peer', 'kind', 'µs/call median', 'µs/call p99', 'calls/s', 'vs plain JS + JSON', 'first instance (ms)', 'startup (ms)', 'memory / instance', 'research µs/call (peers.md)'], callRows)}

## Containment
Five hostile plugins (JavaScript; Lua twins for the Lua rows), each case in its **own process** started with
\`${CHILD_HEAP_FLAG}\` (so heap bombs end quickly), a kill timer of ${KILL_MS / 1000} s, and a watchdog that kills the
host past ${HOST_RSS_CAP / 1024 ** 3} GB RSS (and the host's plugin processes past ${CHILD_RSS_CAP / 1024 ** 3} GB, as the OOM killer would).
Loops and recursion run ${JOBS} cases at a time; the memory bombs run ${BOMB_JOBS} at a time, since how far a bomb gets before a
1 s timeout depends on the CPU it is given: for peers with no memory cap (node:vm with a timeout, workers, child processes)
a 🟠 can turn ✅ on a loaded machine or the other way round: their ✅ means the timeout fired before the bomb grew past
the bound, not that their memory is capped (see "Limits given to each peer").

| fault | JavaScript | Lua |
|---|---|---|
${FAULTS.map((f) => `| ${f.label} | \`${f.js.replace('export function fault() ', '')}\` | \`${f.lua.replace('function M.fault() ', '').replace(/\|/g, '\\|')}\` |`).join('\n')}

The ArrayBuffer bomb allocates 10 MB chunks and touches them (\`fill(1)\`; string.rep in Lua): with 100 MB chunks every QuickJS
build refuses the very first allocation as larger than its limit, which hides that \`setMemoryLimit\` does not cap the total
(the raw quickjs-emscripten and @sebastianwessel/quickjs rows). JavaScript engines with rope strings (V8, and QuickJS
since 2025) end the string doubling at their maximum string length without allocating it.

**Contained** (✅) = the host answered a normal call afterwards (on the same instance, or on a new one when the peer's
instance died, as a host would do), the plugin was stopped by the peer's own mechanism, and for the memory faults
the RSS of the host plus its plugin processes grew by less than ${MEM_BOUND / 1024 ** 2} MB over its value just before the fault
(4x the 64 MiB the plugin was allowed).
🟠 = the host survived but memory was not bounded. ❌ = the host hung, crashed, or had to be killed.

${table(['peer', ...faultHeader], gridRows)}

### Every case
**stopped after**: from the fault call to the error the host saw. **host peak RSS**: the host process's VmHWM.
**RSS before / peak RSS incl. plugin processes**: host plus its child processes, sampled every 50 ms (a short spike between samples can be missed).
Runaway loops and deep recursion are judged on survival and stopping only; the memory-bound rule applies to the three bombs.

${table(['peer', 'fault', 'host survived', 'stopped after', 'error the host saw', 'RSS before the fault (incl. plugin processes)', 'host peak RSS', 'peak RSS incl. plugin processes'], detailRows)}
${setupNotes.length ? `\n${setupNotes.map((n) => `- Note: ${mdCell(n)}`).join('\n')}\n` : ''}

### Limits given to each peer
${table(['peer', 'limits configured'], limitsRows)}

## Versions
${table(['package', 'version', 'note'], versionRows)}
${skipped.size ? `\n## Skipped\n${[...skipped].map(([id, why]) => `- **${id}**: ${why}`).join('\n')}\n` : ''}
## How to run
- \`npm run bench:peers\` (from the repository root): builds Terrarium, installs bench/peers (its own package.json and
  package-lock.json; the first install builds isolated-vm with node-gyp, ~1 min), runs everything and rewrites this
  file and the two SVG charts. About ${Math.max(1, Math.round(seconds / 60))} min on this machine.
- Fast smoke run: \`BENCH_QUICK=1 npm run bench:peers\`. Subsets: \`BENCH_PEERS=terrarium-js,isolated-vm\`,
  \`BENCH_FAULTS=loop,heap\`. Other knobs: \`BENCH_WARMUP_MS\`, \`BENCH_ROUNDS\`, \`BENCH_ROUND_MS\`, \`BENCH_MEM_N\`,
  \`BENCH_KILL_MS\`, \`BENCH_JOBS\` (loop/recursion cases at once), \`BENCH_BOMB_JOBS\` (memory-bomb cases at once), \`BENCH_PEERS_SKIP_INSTALL=1\`.
- One containment case by hand: \`node --max-old-space-size=512 --import tsx bench/peers/fault-child.mjs terrarium-lua buffer\`.
- Peer ids: ${PEERS.map((p) => `\`${p.id}\``).join(', ')}. Fault ids: ${FAULTS.map((f) => `\`${f.id}\``).join(', ')}.
`;
writeFileSync(path.join(PEERS_DIR, 'RESULTS.md'), md);

log('\n== targets ==');
log(table(['target', 'goal', 'measured', 'status'], targets));
log(`\nwrote bench/peers/RESULTS.md, chart-calls.svg, chart-containment.svg (${seconds} s)`);
process.exit(0);
