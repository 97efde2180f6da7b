/**
 * What the stack-headroom check (src/binding/headroom.ts) costs, and how much stack the host's
 * own part of a capability call needs (what HOST_STACK_RESERVE_BYTES must cover).
 *
 * 1. Cost: `hasHostHeadroom()` alone, against a capability round trip from each engine (a plugin
 *    export that calls `host.noop()` 200 times in a loop, per capability call), all in the same
 *    run, interleaved batches, medians. The ratio is the check's share of a capability call.
 * 2. Need: the stack a function needs, measured by making it run with less and less free stack
 *    (the caller's frame padded by N arguments of 8 bytes) and finding where it starts to fail.
 *    Measured for the wire codec at MAX_DEPTH (what the host does with a capability's arguments
 *    and result) and JSON work of the kind a capability does.
 *
 * Run: `npm run build && node --import tsx bench/stack-headroom.ts`
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { createHost } from '../dist/index.js';
import { HOST_STACK_RESERVE_BYTES, freeStackBytes, hasHostHeadroom } from '../dist/binding/headroom.js';
import { MAX_DEPTH, decodeWire, encodeWire } from '../dist/binding/wire.js';

const BATCHES = 15;
const LOOP = 200;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Stack `fn` needs: free stack here minus the padding at which it starts to fail. */
function need(fn: () => unknown): number {
  const free = freeStackBytes();
  let lo = 0;
  let hi = Math.floor(free / 8);
  const ok = (pad: number) => {
    try {
      return Reflect.apply(() => {
        try {
          fn();
          return true;
        } catch {
          return false;
        }
      }, undefined, new Array(pad)) as boolean;
    } catch {
      return false;
    }
  };
  while (lo < hi) {
    const m = (lo + hi + 1) >> 1;
    if (ok(m)) lo = m;
    else hi = m - 1;
  }
  return free - lo * 8;
}

async function main(): Promise<void> {
  const load0 = loadavg()[0]!.toFixed(1);
  const dir = await mkdtemp(path.join(tmpdir(), 'bench-headroom-'));
  await writeFile(path.join(dir, 'p.js'), `export function f() { for (let i = 0; i < ${LOOP}; i++) host.noop(i); return 1; }\nexport function g() { let s = 0; for (let i = 0; i < ${LOOP}; i++) s += i; return s; }\n`);
  await writeFile(path.join(dir, 'q.lua'), `return { f = function() for i = 1, ${LOOP} do host.noop(i) end return 1 end, g = function() local s = 0 for i = 1, ${LOOP} do s = s + i end return s end }\n`);
  const host = await createHost({ dir, capabilities: { noop: (x: unknown) => x } });
  type Api = { f(): number; g(): number };
  const p = host.get<Api>('p');
  const q = host.get<Api>('q');
  // µs per capability call: the export with the loop of capability calls minus the same loop without them.
  const perCap = (api: Api, n: number) => {
    let t = performance.now();
    for (let i = 0; i < n; i++) api.f();
    const withCaps = performance.now() - t;
    t = performance.now();
    for (let i = 0; i < n; i++) api.g();
    const without = performance.now() - t;
    return ((withCaps - without) * 1000) / (n * LOOP);
  };
  const perCheck = (n: number) => {
    const t = performance.now();
    for (let i = 0; i < n; i++) hasHostHeadroom();
    return ((performance.now() - t) * 1000) / n;
  };
  // Warm-up (V8 tiers WebAssembly and the host's code up in the background).
  const warmEnd = performance.now() + 2000;
  while (performance.now() < warmEnd) {
    perCap(p, 20);
    perCap(q, 20);
    perCheck(2000);
  }
  const js: number[] = [];
  const lua: number[] = [];
  const check: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    js.push(perCap(p, 100));
    lua.push(perCap(q, 100));
    check.push(perCheck(20_000));
  }
  await host.close();
  await rm(dir, { recursive: true, force: true });

  let deep: unknown = 'leaf';
  for (let i = 0; i < MAX_DEPTH - 1; i++) deep = [deep, { k: i }];
  const text = encodeWire(deep, MAX_DEPTH);
  let json: unknown = 'x';
  for (let i = 0; i < 40; i++) json = { json, list: [1, 2, 3] };
  const needs = {
    [`encodeWire, ${MAX_DEPTH} levels`]: need(() => encodeWire(deep, MAX_DEPTH)),
    [`decodeWire, ${MAX_DEPTH} levels`]: need(() => decodeWire(text, MAX_DEPTH)),
    'JSON.parse(JSON.stringify(40 levels))': need(() => JSON.parse(JSON.stringify(json))),
    'hasHostHeadroom() itself': need(() => {
      if (!hasHostHeadroom()) throw new Error('no');
    }),
  };
  const load1 = loadavg()[0]!.toFixed(1);
  const mc = median(check);
  console.log(`# stack headroom (reserve ${HOST_STACK_RESERVE_BYTES / 1024} KiB), load average ${load0} -> ${load1}, Node ${process.version}`);
  console.log('| what | µs (median of 15 batches) | min - max | check / this |');
  console.log('| --- | --- | --- | --- |');
  console.log(`| hasHostHeadroom() | ${mc.toFixed(3)} | ${Math.min(...check).toFixed(3)} - ${Math.max(...check).toFixed(3)} | 1x |`);
  console.log(`| one capability call from JavaScript (quickjs) | ${median(js).toFixed(3)} | ${Math.min(...js).toFixed(3)} - ${Math.max(...js).toFixed(3)} | ${((mc / median(js)) * 100).toFixed(0)}% |`);
  console.log(`| one capability call from Lua (fengari) | ${median(lua).toFixed(3)} | ${Math.min(...lua).toFixed(3)} - ${Math.max(...lua).toFixed(3)} | ${((mc / median(lua)) * 100).toFixed(0)}% |`);
  console.log('\n| host work | stack it needs (bytes) |');
  console.log('| --- | --- |');
  for (const [k, v] of Object.entries(needs)) console.log(`| ${k} | ${v} |`);
}

await main();
