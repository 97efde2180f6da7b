/**
 * Scenario: recovery after a limit violation (issue 10), per engine.
 *
 * - **first call after a violation**: a plugin's `spin()` runs past `callTimeoutMs` (10 ms);
 *   right after it fails, on the same stack, `noop()` is called. With a standby (the default) that
 *   call is served by the standby, and its latency is measured; the baseline is `noop()` on a
 *   healthy plugin in the same run. Without a standby (`standby: false`) that call fails with
 *   ERR_PLUGIN_UNAVAILABLE; the figure is then the time until a call can be served again (the
 *   rebuild: `await host.ready()` + `noop()`).
 * - **violating call**: how long the failing `spin()` call took (the limit plus the swap).
 * - **standby cost**: RSS of 50 plugins with and without standbys, each in a fresh child process
 *   (bench/recovery-child.ts, --expose-gc), after `host.ready()`; the difference per plugin is
 *   what one standby costs. Also the time createHost + ready() takes with both.
 *
 * - **the first moment** (bench/results/recovery-first-moment.md): the call after a violation when
 *   no standby can be ready: `spin()` then `noop()` in createHost's own continuation (a fresh
 *   host each time: is the first violation covered?), and `spin(); spin(); noop()` on one stack
 *   (the second violation finds the standby still building: an engine with `loadSync` rebuilds
 *   inside `noop()`, whose latency is then one load). Calls that failed are counted, and for them
 *   the figure is the time until a call is served again.
 *
 * Writes bench/results/recovery.md (included in bench/RESULTS.md by bench/run.ts) and
 * bench/results/recovery-first-moment.md.
 * Run alone:  npm run build && node --import tsx bench/recovery.ts
 * Knobs: BENCH_RECOVERY_REPEATS (30 violations per engine and mode), BENCH_STANDBY_COUNT (50),
 * BENCH_RECOVERY_FRESH (15 fresh hosts per engine), BENCH_RECOVERY_ONLY=first-moment (skip the rest).
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createHost } from 'terrarium-plugins';
import { BENCH_DIR, REPO_DIR, fmt, machine, mb, median, ratio, table } from './lib.js';
import type { StandbySample } from './recovery-child.js';

const REPEATS = Number(process.env.BENCH_RECOVERY_REPEATS ?? 30);
const COUNT = Number(process.env.BENCH_STANDBY_COUNT ?? 50);
const FRESH = Number(process.env.BENCH_RECOVERY_FRESH ?? 15);
const ONLY_FIRST_MOMENT = process.env.BENCH_RECOVERY_ONLY === 'first-moment';
const run = promisify(execFile);

const SOURCES: Record<string, { ext: string; src: string }> = {
  'JS (quickjs)': { ext: '.js', src: 'export function spin() { for (;;) {} }\nexport function noop() {}\n' },
  'Lua (fengari)': { ext: '.lua', src: 'return { spin = function() while true do end end, noop = function() end }\n' },
};

interface LatencyRow {
  engine: string;
  standby: boolean;
  /** µs: noop() right after the violation (standby), or until a call is served again (no standby). */
  firstCall: number;
  /** µs: noop() on a healthy instance. */
  baseline: number;
  /** ms: the violating call. */
  violation: number;
  /** Calls right after a violation that failed. */
  failed: number;
}

async function latency(engine: string, standby: boolean): Promise<LatencyRow> {
  const { ext, src } = SOURCES[engine]!;
  const dir = await mkdtemp(path.join(tmpdir(), 'terrarium-bench-recovery-'));
  await writeFile(path.join(dir, `p${ext}`), src);
  const host = await createHost({ dir, standby, limits: { callTimeoutMs: 10 }, quarantine: { maxViolations: Infinity } });
  const p = host.get<{ spin(): void; noop(): void }>('p');
  const first: number[] = [];
  const base: number[] = [];
  const viol: number[] = [];
  let failed = 0;
  try {
    for (let i = 0; i < 200; i++) p.noop(); // warm-up
    for (let i = 0; i < REPEATS; i++) {
      await host.ready();
      let t = performance.now();
      p.noop();
      base.push((performance.now() - t) * 1000);
      t = performance.now();
      try {
        p.spin();
      } catch {
        // ERR_PLUGIN_TIMEOUT
      }
      const t1 = performance.now();
      viol.push(t1 - t);
      try {
        p.noop();
        first.push((performance.now() - t1) * 1000);
      } catch {
        failed++;
        await host.ready();
        p.noop();
        first.push((performance.now() - t1) * 1000);
      }
    }
  } finally {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  }
  return { engine, standby, firstCall: median(first), baseline: median(base), violation: median(viol), failed };
}

interface MomentRow {
  engine: string;
  scenario: string;
  /** µs: noop() right after the violation(s), or, when it failed, until a call was served again. */
  firstCall: number;
  /** µs: noop() on a healthy instance of the same host. */
  baseline: number;
  failed: number;
  runs: number;
}

type Bench = { spin(): void; noop(): void };

/** noop() right after `violations` on the same stack; µs until served and whether it failed at once. */
async function after(host: { ready(): Promise<void> }, p: Bench, violations: number): Promise<{ us: number; failed: boolean }> {
  for (let i = 0; i < violations; i++) {
    try {
      p.spin();
    } catch {
      // ERR_PLUGIN_TIMEOUT
    }
  }
  const t = performance.now();
  try {
    p.noop();
    return { us: (performance.now() - t) * 1000, failed: false };
  } catch {
    await host.ready();
    p.noop();
    return { us: (performance.now() - t) * 1000, failed: true };
  }
}

/** The first moment, one engine: a violation at once after createHost, and two back to back. */
async function firstMoment(engine: string): Promise<MomentRow[]> {
  const { ext, src } = SOURCES[engine]!;
  const dir = await mkdtemp(path.join(tmpdir(), 'terrarium-bench-moment-'));
  await writeFile(path.join(dir, `p${ext}`), src);
  const options = { dir, limits: { callTimeoutMs: 10 }, quarantine: { maxViolations: Infinity } };
  const rows: MomentRow[] = [];
  try {
    // Warm-up: the engine import and V8's tiers are not what this measures.
    const warm = await createHost(options);
    for (let i = 0; i < 200; i++) warm.get<Bench>('p').noop();
    await warm.close();
    const fresh: number[] = [];
    const freshBase: number[] = [];
    let freshFailed = 0;
    for (let i = 0; i < FRESH; i++) {
      const host = await createHost(options);
      // In createHost's own continuation: nothing else has had a turn.
      const p = host.get<Bench>('p');
      const t = performance.now();
      p.noop();
      freshBase.push((performance.now() - t) * 1000);
      const r = await after(host, p, 1);
      fresh.push(r.us);
      if (r.failed) freshFailed++;
      await host.close();
    }
    rows.push({ engine, scenario: 'spin(); noop() at once after createHost resolved (fresh host each)', firstCall: median(fresh), baseline: median(freshBase), failed: freshFailed, runs: FRESH });
    const host = await createHost(options);
    const p = host.get<Bench>('p');
    const two: number[] = [];
    const base: number[] = [];
    let twoFailed = 0;
    try {
      for (let i = 0; i < 200; i++) p.noop();
      for (let i = 0; i < REPEATS; i++) {
        await host.ready();
        const t = performance.now();
        p.noop();
        base.push((performance.now() - t) * 1000);
        const r = await after(host, p, 2);
        two.push(r.us);
        if (r.failed) twoFailed++;
      }
    } finally {
      await host.close();
    }
    rows.push({ engine, scenario: 'spin(); spin(); noop(): the second violation finds no standby ready', firstCall: median(two), baseline: median(base), failed: twoFailed, runs: REPEATS });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

async function child(engine: string, standby: boolean): Promise<StandbySample> {
  const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(BENCH_DIR, 'recovery-child.ts'), engine, String(COUNT), standby ? '1' : '0'], { cwd: REPO_DIR, maxBuffer: 16 << 20 });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as StandbySample;
}

const m = machine();
const commit = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_DIR, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();
console.log(`machine: ${m.cpu}, ${m.cores} cores, Node ${m.node}; commit ${commit}`);
const loadAvg = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

const moments: MomentRow[] = [];
const loadBefore = loadAvg();
for (const engine of Object.keys(SOURCES)) {
  for (const r of await firstMoment(engine)) {
    console.log(`${engine}: ${r.scenario}: ${fmt(r.firstCall)} µs (baseline ${fmt(r.baseline)} µs), failed ${r.failed}/${r.runs}`);
    moments.push(r);
  }
}
const momentMd = `## The first moment: the call after a violation when no standby can be ready (bench/recovery.ts)

Recorded on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC at commit ${commit}; machine: ${m.cpu}, ${m.cores} cores, ${m.memory}, Node ${m.node}.
Load average (1, 5, 15 min) before: ${loadBefore}, after: ${loadAvg()}; the machine was shared with other work.
Run alone: \`npm run build && BENCH_RECOVERY_ONLY=first-moment node --import tsx bench/recovery.ts\`.

\`spin()\` runs past \`callTimeoutMs\` (10 ms); \`noop()\` is called on the same stack right after. A
call that failed (ERR_PLUGIN_UNAVAILABLE) counts in "failed", and its figure is the time until a
call was served again (\`await host.ready()\` + \`noop()\`). Medians; the baseline is \`noop()\` on a
healthy instance of the same host.

${table(
  ['engine', 'scenario', 'first call after the violation(s)', 'noop() on a healthy instance', 'ratio', 'failed at once'],
  moments.map((r) => [r.engine, r.scenario, `${fmt(r.firstCall)} µs`, `${fmt(r.baseline)} µs`, ratio(r.firstCall, r.baseline), `${r.failed} of ${r.runs}`]),
)}
`;
await writeFile(path.join(BENCH_DIR, 'results', 'recovery-first-moment.md'), momentMd);
console.log('wrote bench/results/recovery-first-moment.md');
if (ONLY_FIRST_MOMENT) process.exit(0);

const latencies: LatencyRow[] = [];
for (const engine of Object.keys(SOURCES)) {
  for (const standby of [true, false]) {
    const r = await latency(engine, standby);
    console.log(`${engine} standby=${standby}: first call ${fmt(r.firstCall)} µs (baseline ${fmt(r.baseline)} µs), violation ${fmt(r.violation)} ms, failed ${r.failed}/${REPEATS}`);
    latencies.push(r);
  }
}

const memory: { engine: string; on: StandbySample; off: StandbySample }[] = [];
for (const [engine, id] of [
  ['JS (quickjs)', 'js'],
  ['Lua (fengari)', 'lua'],
] as const) {
  // Alternate and keep the median of 3 of each, so a load spike of the shared machine weighs less.
  const on: StandbySample[] = [];
  const off: StandbySample[] = [];
  for (let i = 0; i < 3; i++) {
    off.push(await child(id, false));
    on.push(await child(id, true));
  }
  // The median RSS delta and, separately, the median ready time.
  const pick = (xs: StandbySample[]): StandbySample => ({ ...xs.sort((a, b) => a.rssAfter - a.rssBefore - (b.rssAfter - b.rssBefore))[1]!, readyMs: median(xs.map((x) => x.readyMs)), ok: xs.every((x) => x.ok), error: xs.find((x) => !x.ok)?.error });
  memory.push({ engine, on: pick(on), off: pick(off) });
  const r = memory.at(-1)!;
  console.log(`${engine}: RSS per plugin with standby ${mb((r.on.rssAfter - r.on.rssBefore) / COUNT)}, without ${mb((r.off.rssAfter - r.off.rssBefore) / COUNT)}; ready in ${fmt(r.on.readyMs)} ms vs ${fmt(r.off.readyMs)} ms`);
}

const md = `## Recovery after a limit violation (bench/recovery.ts)

Recorded on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC at commit ${commit}; machine: ${m.cpu}, ${m.cores} cores, ${m.memory}, Node ${m.node}.
The machine was shared with other work while this ran: figures are noisy (compare within a row).
Run alone: \`npm run build && node --import tsx bench/recovery.ts\`.

**First call after a violation.** \`spin()\` runs past \`callTimeoutMs\` (10 ms); \`noop()\` is called on the
same stack right after it fails. With a standby it is served by the standby; without one it fails
with ERR_PLUGIN_UNAVAILABLE, and the figure is the time until a call is served again (the rebuild).
Medians of ${REPEATS} violations per row.

${table(
  ['engine', 'standby', 'first call after the violation', 'noop() on a healthy instance', 'calls right after a violation that failed', 'violating call (limit 10 ms)'],
  latencies.map((r) => [r.engine, r.standby ? 'yes (default)' : 'no', r.standby ? `${fmt(r.firstCall)} µs` : `${fmt(r.firstCall / 1000)} ms until served again`, `${fmt(r.baseline)} µs`, `${r.failed} of ${REPEATS}`, `${fmt(r.violation)} ms`]),
)}

**What a standby costs.** ${COUNT} copies of the bench plugin in one host, each measurement in a fresh
child process (bench/recovery-child.ts), RSS after \`host.ready()\` and gc minus RSS before
(median of 3 alternated runs); "ready" is createHost + \`host.ready()\` (every standby built).

${table(
  ['engine', 'RSS per plugin, no standby', 'RSS per plugin, with standby', 'standby cost per plugin', `ready (${COUNT} plugins), no standby`, 'ready, with standby'],
  memory.map((r) => {
    const off = (r.off.rssAfter - r.off.rssBefore) / COUNT;
    const on = (r.on.rssAfter - r.on.rssBefore) / COUNT;
    return [r.engine, mb(off), mb(on), mb(on - off), `${fmt(r.off.readyMs)} ms`, `${fmt(r.on.readyMs)} ms`];
  }),
)}
${memory.some((r) => !r.on.ok || !r.off.ok) ? `\nErrors: ${memory.flatMap((r) => [r.on, r.off]).filter((s) => !s.ok).map((s) => `${s.engine} standby=${s.standby}: ${s.error}`).join('; ')}\n` : ''}`;

await writeFile(path.join(BENCH_DIR, 'results', 'recovery.md'), md);
console.log(`\nwrote bench/results/recovery.md`);
