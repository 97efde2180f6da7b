/**
 * Scenario: load time and idle memory per plugin. For 1, 10 and 100 copies of the small bench plugin
 * (bench/plugins/bench.js; bench/plugins/bench.lua too once the Lua engine loads it), each
 * measurement runs in a FRESH child process (bench/load-child.ts, with --expose-gc) so RSS is not
 * polluted by earlier runs. In the child: a warm-up host of 1 plugin first (its time is the
 * first-load figure: engine import + WASM compile), then createHost over N copies is timed, and RSS
 * is read (after global.gc()) before and after. Each point is repeated REPEATS times in fresh
 * processes; the tables show medians.
 *
 * Baseline: RSS before = the same process with the engine already loaded and one plugin live; the
 * first-load figure is the one-time cost the per-plugin figures exclude.
 *
 * Run alone:  npm run build && node --import tsx bench/load.ts
 *             (BENCH_LOAD_ENGINES=lua: one engine only; BENCH_LOAD_REPEATS=5: processes per row)
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { BENCH_DIR, REPO_DIR, fmt, isMain, luaPluginExists, mb, median, table, type ScenarioResult } from './lib.js';
import type { LoadSample } from './load-child.js';

const run = promisify(execFile);
const COUNTS = [1, 10, 100] as const;
export const TARGET_LOAD_MS = 1; // issue 15: load per plugin <= 1 ms (was 5 ms)
const TARGET_RSS_BYTES = 1024 * 1024;

export interface LoadResult extends ScenarioResult {
  rows: LoadRow[];
  notes: string[];
}

export interface LoadRow {
  engine: string;
  count: number;
  firstLoadMs: number;
  loadMs: number;
  loadMsPerPlugin: number;
  cpuMsPerPlugin: number;
  rssBefore: number;
  rssAfter: number;
  rssPerPlugin: number;
  memoryBytesPerPlugin: number;
  repeats: number;
}

async function child(engine: string, count: number): Promise<LoadSample> {
  const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(BENCH_DIR, 'load-child.ts'), engine, String(count)], {
    cwd: REPO_DIR,
    maxBuffer: 16 * 1024 * 1024,
  });
  const last = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as LoadSample;
}

export async function runLoad(log: (line: string) => void = console.log): Promise<LoadResult> {
  const REPEATS = Number(process.env.BENCH_LOAD_REPEATS ?? 3);
  const notes: string[] = [];
  // BENCH_LOAD_ENGINES=lua (or js) measures one engine only.
  const only = process.env.BENCH_LOAD_ENGINES?.split(',') ?? ['js', 'lua'];
  const engines: { id: string; label: string }[] = [];
  if (only.includes('js')) engines.push({ id: 'js', label: 'JS (quickjs)' });
  if (only.includes('lua')) {
    if (luaPluginExists()) engines.push({ id: 'lua', label: 'Lua (fengari)' });
    else notes.push('Lua rows skipped: bench/plugins/bench.lua does not exist yet (they appear automatically once it does and the Lua engine loads it).');
  }

  const rows: LoadRow[] = [];
  for (const e of engines) {
    for (const count of COUNTS) {
      const samples: LoadSample[] = [];
      for (let r = 0; r < REPEATS; r++) {
        log(`load: ${e.label} x${count}, run ${r + 1}/${REPEATS}...`);
        const s = await child(e.id, count);
        if (!s.ok) {
          notes.push(`${e.label} x${count}: ${s.error ?? 'failed'}${e.id === 'lua' ? ' (Lua rows skipped; they appear automatically once the Lua engine loads bench/plugins/bench.lua)' : ''}`);
          break;
        }
        if (!s.gcExposed) notes.push('global.gc was not exposed in the child: RSS figures include garbage.');
        samples.push(s);
      }
      if (samples.length < REPEATS) break; // this engine does not load: no point trying larger counts
      const m = (f: (s: LoadSample) => number) => median(samples.map(f));
      rows.push({
        engine: e.label,
        count,
        firstLoadMs: m((s) => s.firstLoadMs),
        loadMs: m((s) => s.loadMs),
        loadMsPerPlugin: m((s) => s.loadMs / count),
        cpuMsPerPlugin: m((s) => s.loadCpuMs / count),
        rssBefore: m((s) => s.rssBefore),
        rssAfter: m((s) => s.rssAfter),
        rssPerPlugin: m((s) => (s.rssAfter - s.rssBefore) / count),
        memoryBytesPerPlugin: m((s) => s.memoryBytesSum / count),
        repeats: samples.length,
      });
    }
  }
  for (const n of notes) log(`note: ${n}`);

  const body = rows.map((r) => [
    r.engine,
    String(r.count),
    fmt(r.firstLoadMs),
    fmt(r.loadMs),
    fmt(r.loadMsPerPlugin),
    fmt(r.cpuMsPerPlugin),
    mb(r.rssBefore),
    mb(r.rssAfter),
    mb(r.rssPerPlugin),
    mb(r.memoryBytesPerPlugin),
    `${r.loadMsPerPlugin <= TARGET_LOAD_MS ? 'met' : 'NOT met'} / ${r.rssPerPlugin < 0 ? 'n/a (noise)' : r.rssPerPlugin < TARGET_RSS_BYTES ? 'met' : 'NOT met'}`,
  ]);
  const md = [
    `${REPEATS} fresh processes per row; medians. Targets: load <= ${TARGET_LOAD_MS} ms and RSS < 1 MB per idle plugin.`,
    '',
    table(
      [
        'engine',
        'plugins (N)',
        'first load, 1 plugin (ms)',
        'createHost, N plugins (ms)',
        'ms per plugin',
        'CPU ms per plugin',
        'RSS before',
        'RSS after',
        'RSS per idle plugin',
        'memoryBytes per plugin (engine-reported)',
        'target load / RSS',
      ],
      body,
    ),
    ...(notes.length ? ['', ...[...new Set(notes)].map((n) => `- Note: ${n}`)] : []),
  ].join('\n');
  log('');
  log(md);
  return { title: 'Load time and RSS per plugin (bench/load.ts)', markdown: md, rows, notes };
}

if (isMain(import.meta.url)) {
  await runLoad();
}
