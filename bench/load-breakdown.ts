/**
 * Scenario: where one QuickJS instance's build time goes (bench/results/load-js-2.md). Builds
 * ROUNDS x BATCH instances of bench/plugins/bench.js with the engine's own steps, timing each step
 * with performance.now, instances kept alive per batch (as a host keeps its plugins) then disposed.
 *
 * Run alone:  node --expose-gc --import tsx bench/load-breakdown.ts   (BENCH_BATCH=100 BENCH_ROUNDS=3)
 */
import { readFileSync } from 'node:fs';
import { JS_PLUGIN, isMain, median } from './lib.js';
import { DEFAULT_LIMITS } from '../src/host/limits.js';
import { QuickJSInstance } from '../src/engines/quickjs/instance.js';
import { currentSnapshot, loadQuickJSSync, snapshotStatus } from '../src/engines/quickjs/index.js';
import { newModuleSync } from '../src/engines/quickjs/sync-module.js';
import type { LoadRequest } from '../src/engine.js';

const STEPS = ['memory', 'module (Instance + emscripten init)', 'runtime+context+image', 'probe', 'load (glue handle, install, plugin eval, reflect)'] as const;

export function breakdown(batch: number, rounds: number): { steps: Record<string, number>; total: number; whole: number } {
  const source = readFileSync(JS_PLUGIN, 'utf8');
  const req = (i: number): LoadRequest => ({
    path: `/b/p${i}.js`, file: `p${i}.js`, defaultName: `p${i}`, source, limits: DEFAULT_LIMITS,
    capabilities: [], data: {}, config: () => undefined, log: () => {},
  });
  snapshotStatus(); // the one-time image
  const samples: Record<string, number[]> = Object.fromEntries(STEPS.map((s) => [s, []]));
  const whole: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const keep: QuickJSInstance[] = [];
    const acc = Object.fromEntries(STEPS.map((s) => [s, 0])) as Record<string, number>;
    for (let i = 0; i < batch; i++) {
      let t = performance.now();
      const lap = (s: string) => { const n = performance.now(); acc[s]! += n - t; t = n; };
      const pages = snapshotStatus().wasmPages;
      const memory = new WebAssembly.Memory({ initial: pages, maximum: DEFAULT_LIMITS.memoryBytes / 65536 });
      lap(STEPS[0]);
      const qjs = newModuleSync(memory);
      lap(STEPS[1]);
      const inst = new QuickJSInstance(req(i), qjs, memory, currentSnapshot());
      lap(STEPS[2]);
      inst.probe(true);
      lap(STEPS[3]);
      inst.load();
      lap(STEPS[4]);
      keep.push(inst);
    }
    for (const s of STEPS) samples[s]!.push(acc[s]! / batch);
    for (const k of keep) k.dispose();
    keep.length = 0;
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) keep.push(loadQuickJSSync(req(i)));
    whole.push((performance.now() - t0) / batch);
    for (const k of keep) k.dispose();
    (globalThis as { gc?: () => void }).gc?.();
  }
  const steps = Object.fromEntries(STEPS.map((s) => [s, median(samples[s]!)]));
  return { steps, total: Object.values(steps).reduce((a, b) => a + b, 0), whole: median(whole) };
}

if (isMain(import.meta.url)) {
  const batch = Number(process.env.BENCH_BATCH ?? 100);
  const r = breakdown(batch, Number(process.env.BENCH_ROUNDS ?? 3));
  console.log(JSON.stringify(r, null, 1));
}
