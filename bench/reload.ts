/**
 * Scenario: hot reload. How long a reload takes, and whether calls are delayed during it.
 *
 * For each engine, a host serves the bench plugin (bench/plugins/bench.{js,lua}) from a temporary
 * directory while a caller loop makes one request-workload call per event-loop turn
 * (setImmediate). Then the file is changed REPEATS times:
 * - **reload (ms)**: `host.reload()` after a change: read, build a fresh instance, run the checks,
 *   swap. This is the time a new version takes to serve, without the watcher's debounce.
 * - **via watcher (ms)**: from the file write to the `reloaded` event with `watch: { debounceMs: 50 }`
 *   (includes the 50 ms quiet period and chokidar's own latency).
 * - **longest gap between calls**: the caller loop's largest pause between two consecutive calls,
 *   during reloads and, as the baseline, during the same time without any reload. Building the new
 *   instance runs on the host's thread, so the gap during a reload is about the build time.
 * - **failed calls**: calls that threw during the whole run (expected: 0).
 *
 * Run alone:  npm run build && node --import tsx bench/reload.ts
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHost, type Host } from 'terrarium-plugins';
import { JS_PLUGIN, LUA_PLUGIN, REQS, fmt, isMain, median, table, type ScenarioResult } from './lib.js';

const REPEATS = Number(process.env.BENCH_RELOAD_REPEATS ?? 20);
const tick = () => new Promise<void>((r) => setImmediate(r));

interface Caller {
  stop(): Promise<{ calls: number; failed: number; gaps: number[] }>;
}

/** One request-workload call per event-loop turn, recording the gap since the previous call. */
function startCaller(host: Host, name: string): Caller {
  const plugin = host.get<{ onRequest(r: unknown): unknown }>(name);
  let running = true;
  let calls = 0;
  let failed = 0;
  const gaps: number[] = [];
  const done = (async () => {
    let last = performance.now();
    while (running) {
      try {
        plugin.onRequest(REQS[calls & 1]);
      } catch {
        failed++;
      }
      calls++;
      const now = performance.now();
      gaps.push(now - last);
      last = now;
      await tick();
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return { calls, failed, gaps };
    },
  };
}

export interface ReloadRow {
  engine: string;
  reloadMs: number;
  watchedMs: number;
  gapDuring: number;
  gapBaseline: number;
  p99GapBaseline: number;
  calls: number;
  failed: number;
}

async function measure(label: string, source: string, ext: string): Promise<ReloadRow> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'terrarium-bench-reload-'));
  const file = path.join(dir, `bench${ext}`);
  await copyFile(source, file);
  const text = await readFile(source, 'utf8');
  const comment = ext === '.lua' ? '--' : '//';
  let rev = 0;
  const change = () => writeFile(file, `${text}\n${comment} revision ${++rev}\n`);
  const host = await createHost({ dir, watch: { debounceMs: 50 } });
  try {
    // Warm-up: calls and a few reloads, so V8 has tiered up the paths measured below.
    let caller = startCaller(host, 'bench');
    for (let i = 0; i < 5; i++) {
      await change();
      await host.reload();
    }
    await new Promise((r) => setTimeout(r, 300));
    let warm = await caller.stop();
    let calls = warm.calls;
    let failed = warm.failed;

    // Baseline: the caller alone, for as long as the reloads below will take.
    caller = startCaller(host, 'bench');
    await new Promise((r) => setTimeout(r, 500));
    const base = await caller.stop();
    calls += base.calls;
    failed += base.failed;

    // Direct reloads (no debounce), each while the caller runs.
    const reloadMs: number[] = [];
    const gapsDuring: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      caller = startCaller(host, 'bench');
      await tick();
      await change();
      const t0 = performance.now();
      await host.reload();
      reloadMs.push(performance.now() - t0);
      await tick();
      const r = await caller.stop();
      gapsDuring.push(Math.max(...r.gaps));
      calls += r.calls;
      failed += r.failed;
    }

    // Through the watcher: file write -> 'reloaded' event.
    const watchedMs: number[] = [];
    caller = startCaller(host, 'bench');
    for (let i = 0; i < Math.min(REPEATS, 10); i++) {
      const reloaded = new Promise<void>((resolve) => {
        const off = host.on('reloaded', () => {
          off();
          resolve();
        });
      });
      const t0 = performance.now();
      await change();
      await reloaded;
      watchedMs.push(performance.now() - t0);
    }
    warm = await caller.stop();
    calls += warm.calls;
    failed += warm.failed;

    const sorted = [...base.gaps].sort((a, b) => a - b);
    return {
      engine: label,
      reloadMs: median(reloadMs),
      watchedMs: median(watchedMs),
      gapDuring: median(gapsDuring),
      gapBaseline: Math.max(...base.gaps),
      p99GapBaseline: sorted[Math.floor(sorted.length * 0.99)] ?? 0,
      calls,
      failed,
    };
  } finally {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function runReload(log: (line: string) => void = console.log): Promise<ScenarioResult & { rows: ReloadRow[] }> {
  const rows: ReloadRow[] = [];
  for (const [label, source, ext] of [
    ['JS (quickjs)', JS_PLUGIN, '.js'],
    ['Lua (fengari)', LUA_PLUGIN, '.lua'],
  ] as const) {
    log(`reload: ${label}, ${REPEATS} reloads...`);
    rows.push(await measure(label, source, ext));
  }
  const md = [
    `${REPEATS} reloads per engine (medians); the caller makes one request-workload call per event-loop turn throughout.`,
    '',
    table(
      ['engine', 'reload: build + checks + swap (ms)', 'file write -> reloaded event, debounce 50 ms (ms)', 'longest gap between calls during a reload (ms)', 'longest gap without reload (ms)', 'p99 gap without reload (ms)', 'calls made', 'failed calls'],
      rows.map((r) => [r.engine, fmt(r.reloadMs), fmt(r.watchedMs), fmt(r.gapDuring), fmt(r.gapBaseline), fmt(r.p99GapBaseline), String(r.calls), String(r.failed)]),
    ),
  ].join('\n');
  log('');
  log(md);
  return { title: 'Hot reload (bench/reload.ts)', markdown: md, rows };
}

if (isMain(import.meta.url)) {
  await runReload();
}
