/**
 * Scenario: what creating one Lua instance costs, the engine alone (no host, no files): a fresh
 * fengari state with the sandbox, the `host` object and bench/plugins/bench.lua loaded, then
 * disposed. A plugin loads two of them (the serving instance and its standby), so this is the
 * engine's share of bench/load.ts. Rows: wall and CPU time per instance (median of ROUNDS rounds
 * of COUNT instances, after WARM instances), bytes allocated per instance (V8's sampling heap
 * profiler, collected objects included) and heap still held per live instance (after a GC).
 *
 * BENCH_LUA_DIST=/path/to/other/dist measures another build of the engine (before/after in the
 * same conditions: same plugin, same limits).
 *
 * Run alone:  npm run build && node --expose-gc --import tsx bench/lua-instance.ts
 */
import { readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EngineInstance, LoadRequest } from '../dist/engine.js';
import { LUA_PLUGIN, REPO_DIR, fmt, isMain, median, table } from './lib.js';

const COUNT = Number(process.env.BENCH_LUA_INSTANCES ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const WARM = 300;

type Load = (req: LoadRequest) => Promise<EngineInstance>;

export async function runLuaInstance(log: (line: string) => void = console.log): Promise<string> {
  const dist = process.env.BENCH_LUA_DIST ?? path.join(REPO_DIR, 'dist');
  const { loadLua } = (await import(pathToFileURL(path.join(dist, 'engines/lua/index.js')).href)) as { loadLua: Load };
  const source = readFileSync(LUA_PLUGIN, 'utf8');
  const limits = { memoryBytes: 32 * 1024 * 1024, callTimeoutMs: 1000, loadTimeoutMs: 5000, stackBytes: 256 * 1024 };
  const capabilities = [
    { path: ['log', 'info'], fn: () => undefined },
    { path: ['kv', 'get'], fn: () => undefined },
    { path: ['kv', 'set'], fn: () => undefined },
  ];
  const make = (i: number) =>
    loadLua({ path: `/bench/p${i}.lua`, file: `p${i}.lua`, defaultName: `p${i}`, source, limits, capabilities, data: {}, config: () => ({}), log: () => undefined });

  for (let i = 0; i < WARM; i++) (await make(i)).dispose();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < COUNT; i++) (await make(i)).dispose();
    wall.push(((performance.now() - t0) * 1000) / COUNT);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / COUNT);
  }

  // allocated per instance: sampling heap profiler, objects collected by GCs included
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  for (let i = 0; i < COUNT; i++) (await make(i)).dispose();
  const { profile } = await session.post('HeapProfiler.stopSampling');
  let allocated = 0;
  const sum = (n: { selfSize: number; children: typeof n[] }): void => {
    allocated += n.selfSize;
    for (const c of n.children) sum(c);
  };
  sum(profile.head as never);
  session.disconnect();

  // held per live instance
  const gc = (globalThis as { gc?: () => void }).gc;
  let held = NaN;
  if (gc) {
    gc();
    gc();
    const h0 = process.memoryUsage().heapUsed;
    const live: EngineInstance[] = [];
    for (let i = 0; i < COUNT; i++) live.push(await make(i));
    gc();
    gc();
    held = (process.memoryUsage().heapUsed - h0) / COUNT;
    for (const x of live) x.dispose();
  }

  const md = [
    `Engine build: ${process.env.BENCH_LUA_DIST ?? 'dist/ of this checkout'}; ${ROUNDS} rounds of ${COUNT} instances after ${WARM} warm-up ones; medians.`,
    '',
    table(
      ['measure', 'per instance'],
      [
        ['wall time: create + load + dispose', `${fmt(median(wall))} µs`],
        ['CPU time (all threads, GC included)', `${fmt(median(cpu))} µs`],
        ['allocated (sampled, collected objects included)', `${fmt(allocated / COUNT / 1024)} KiB`],
        ['V8 heap held by a live instance', gc ? `${fmt(held / 1024)} KiB` : 'n/a (run with --expose-gc)'],
      ],
    ),
  ].join('\n');
  log(md);
  return md;
}

if (isMain(import.meta.url)) {
  await runLuaInstance();
}
