/**
 * Scenario: what building one QuickJS instance costs, the engine alone (no host, no files), with the
 * glue copied from the snapshot (src/engines/quickjs/snapshot.ts) against the glue parsed (the
 * baseline, the same synchronous WebAssembly instance with `resetSnapshot({ disable: true })`), and
 * the async factory path the engine used before (the debug-free `loadQuickJS` path with the
 * snapshot disabled and the async emscripten factory, measured in the same process). Each round
 * builds COUNT instances of bench/plugins/bench.js, keeps them alive, then disposes them; modes
 * alternate round by round; medians of ROUNDS rounds after a warm-up. RSS per idle instance is read
 * in fresh child processes (one per mode and repeat), after a GC, with COUNT instances alive.
 *
 * Run alone:  npm run build && node --expose-gc --import tsx bench/qjs-snapshot.ts
 *             (BENCH_QJS_INSTANCES=100 instances a round, BENCH_ROUNDS=7 rounds)
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { EngineInstance, LoadRequest } from '../dist/engine.js';
import { JS_PLUGIN, REPO_DIR, fmt, gc, isMain, median, table } from './lib.js';

const COUNT = Number(process.env.BENCH_QJS_INSTANCES ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const MB = 1024 * 1024;

type Mode = 'snapshot' | 'parse' | 'parse-async';
interface Engine {
  loadQuickJS(req: LoadRequest, variant?: unknown, onModule?: (m: unknown) => void): Promise<EngineInstance>;
  loadQuickJSSync(req: LoadRequest): EngineInstance;
  resetSnapshot(o?: { disable?: boolean }): string;
  snapshotStatus(): { problem: string; imageBytes: number; wasmPages: number };
}

async function engine(): Promise<Engine> {
  return (await import('../dist/engines/quickjs/index.js')) as unknown as Engine;
}

function request(): LoadRequest {
  return {
    path: JS_PLUGIN,
    file: 'bench.js',
    defaultName: 'bench',
    source: readFileSync(JS_PLUGIN, 'utf8'),
    limits: { memoryBytes: 64 * MB, callTimeoutMs: 1000, loadTimeoutMs: 2000, stackBytes: 256 * 1024 },
    capabilities: [],
    data: {},
    config: () => ({}),
    log: () => {},
  };
}

/** Build `count` instances in `mode`; the instances stay alive (the caller disposes them). */
async function build(e: Engine, mode: Mode, count: number): Promise<EngineInstance[]> {
  e.resetSnapshot(mode === 'snapshot' ? {} : { disable: true });
  const req = request();
  const out: EngineInstance[] = [];
  for (let i = 0; i < count; i++) {
    // onModule forces the async emscripten factory (the path every load took before this change).
    out.push(mode === 'parse-async' ? await e.loadQuickJS(req, undefined, () => {}) : e.loadQuickJSSync(req));
  }
  return out;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function timed(e: Engine, mode: Mode): Promise<{ wall: number; cpu: number }> {
  gc();
  const c0 = cpuMs();
  const t0 = performance.now();
  const insts = await build(e, mode, COUNT);
  const wall = (performance.now() - t0) / COUNT;
  const cpu = (cpuMs() - c0) / COUNT;
  for (const i of insts) i.dispose();
  return { wall, cpu };
}

/** Child: COUNT live instances of `mode`, RSS per instance after a GC (JSON on stdout). */
async function child(mode: Mode): Promise<void> {
  const e = await engine();
  for (const i of await build(e, mode, 3)) i.dispose(); // engine import, compile, snapshot: not per instance
  gc();
  const before = process.memoryUsage().rss;
  const insts = await build(e, mode, COUNT);
  gc();
  const after = process.memoryUsage().rss;
  process.stdout.write(`${JSON.stringify({ rssPerInstance: (after - before) / COUNT, live: insts.length })}\n`);
}

export async function runQjsSnapshot(log: (line: string) => void = console.log): Promise<string> {
  const e = await engine();
  const status = e.snapshotStatus();
  log(`snapshot: ${status.problem || 'in use'}, ${fmt(status.imageBytes / 1024)} KiB copied per instance, ${status.wasmPages} WebAssembly pages`);
  const modes: Mode[] = ['snapshot', 'parse', 'parse-async'];
  for (const m of modes) for (const i of await build(e, m, 20)) i.dispose(); // warm-up
  const samples = new Map<Mode, { wall: number[]; cpu: number[] }>(modes.map((m) => [m, { wall: [], cpu: [] }]));
  const load0 = loadavg()[0]!;
  for (let r = 0; r < ROUNDS; r++) {
    for (const m of r % 2 ? [...modes].reverse() : modes) {
      const s = await timed(e, m);
      samples.get(m)!.wall.push(s.wall);
      samples.get(m)!.cpu.push(s.cpu);
    }
  }
  const rss = new Map<Mode, number[]>();
  const run = promisify(execFile);
  for (let r = 0; r < 3; r++) {
    for (const m of modes) {
      const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), 'child', m], { cwd: REPO_DIR, env: { ...process.env } });
      const line = JSON.parse(stdout.trim().split('\n').pop()!) as { rssPerInstance: number };
      rss.set(m, [...(rss.get(m) ?? []), line.rssPerInstance]);
    }
  }
  const base = median(samples.get('parse-async')!.cpu);
  const rows = modes.map((m) => {
    const s = samples.get(m)!;
    return [m, fmt(median(s.wall)), fmt(median(s.cpu)), fmt(median(s.cpu) / base, 2) + 'x', fmt(median(rss.get(m)!) / MB)];
  });
  const out = [
    `${COUNT} instances a round, ${ROUNDS} rounds alternating, medians; load average ${fmt(load0, 2)} at start, ${fmt(loadavg()[0]!, 2)} at end.`,
    '',
    table(['build', 'wall ms / instance', 'CPU ms / instance', 'CPU vs parse-async', 'RSS MB / idle instance'], rows),
  ].join('\n');
  log(out);
  return out;
}

if (isMain(import.meta.url)) {
  if (process.argv[2] === 'child') await child(process.argv[3] as Mode);
  else await runQjsSnapshot();
}
