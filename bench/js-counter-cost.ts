/**
 * Scenario: what steering QuickJS's interrupt counter costs (src/engines/quickjs/interrupt-counter.ts):
 * the same QuickJS calls with the policy on (the default) and off (QuickJS's own 10,000-tick
 * windows, i.e. the code before it), interleaved batch by batch in one run, same host.
 *
 * Workloads (one plugin): noop() and two(a, b) (the call fast path: one guest tick, no poll
 * expected), loop(n) (a tight loop of 10,000 iterations: the longest window, 1,000 ticks instead
 * of 10,000, costs about one poll per 1,000 ticks), and request(req) (a small object in, a
 * decision out, like bench/calls.ts's onRequest).
 *
 * Method: warm up WARMUP_MS, calibrate each batch to ~BATCH_MS, then BATCHES rounds of one batch
 * per (workload, policy); the figure is the median us/call and the on/off ratio.
 *
 * Run alone:  npm run build && node --import tsx bench/js-counter-cost.ts
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { createHost } from 'terrarium-plugins';
import { counterPolicy } from '../dist/engines/quickjs/interrupt-counter.js';

const WARMUP_MS = 1500;
const BATCH_MS = 40;
const BATCHES = 31;

const dir = await mkdtemp(path.join(tmpdir(), 'terrarium-counter-cost-'));
await writeFile(
  path.join(dir, 'cost.js'),
  `export function noop() {}
export function two(a, b) { return a.length + b.length; }
export function loop(n) { let k = 0; for (let i = 0; i < n; i++) k += i; return k; }
export function request(req) { return req.headers['x-block'] ? { status: 403 } : { setHeader: { 'x-plugin': '1' } }; }`,
);
const host = await createHost({ dir });
await host.ready();
const p = host.get<{ noop(): void; two(a: string, b: string): number; loop(n: number): number; request(r: unknown): unknown }>('cost');
const req = { method: 'GET', path: '/api/users/42', headers: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`h${i}`, `v${i}`])) };
const work: Record<string, () => unknown> = {
  noop: () => p.noop(),
  two: () => p.two('GET', '/api/users/42'),
  'loop(10000)': () => p.loop(10_000),
  request: () => p.request(req),
};

function batch(fn: () => unknown, n: number): number {
  const t = performance.now();
  for (let i = 0; i < n; i++) fn();
  return ((performance.now() - t) * 1000) / n;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const warmEnd = performance.now() + WARMUP_MS;
while (performance.now() < warmEnd) for (const fn of Object.values(work)) for (const on of [true, false]) ((counterPolicy.enabled = on), batch(fn, 200));
const sizes: Record<string, number> = {};
for (const [name, fn] of Object.entries(work)) {
  counterPolicy.enabled = true;
  const us = batch(fn, 500);
  sizes[name] = Math.max(50, Math.round((BATCH_MS * 1000) / us));
}
const samples: Record<string, { on: number[]; off: number[] }> = {};
for (let b = 0; b < BATCHES; b++) {
  for (const [name, fn] of Object.entries(work)) {
    const s = (samples[name] ??= { on: [], off: [] });
    for (const on of b % 2 ? [true, false] : [false, true]) {
      counterPolicy.enabled = on;
      (on ? s.on : s.off).push(batch(fn, sizes[name]!));
    }
  }
}
counterPolicy.enabled = true;
console.log(`load average: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log('| workload | policy off (QuickJS 10,000-tick windows), us/call | policy on, us/call | on / off |');
console.log('| --- | --- | --- | --- |');
for (const [name, s] of Object.entries(samples)) {
  const off = median(s.off);
  const on = median(s.on);
  console.log(`| ${name} | ${off.toFixed(3)} | ${on.toFixed(3)} | ${(on / off).toFixed(3)}x |`);
}
await host.close();
await rm(dir, { recursive: true, force: true });
