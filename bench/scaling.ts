/**
 * Scenario: scaling out (issue 17). Two measurements, both on the same small shared machine:
 *
 * 1. **One kv call from inside a plugin.** A JS plugin whose export calls `host.kv.incr(key, 1,
 *    60000)`, against the same plugin's export that returns at once (the call's own cost), with the
 *    `memory` backend and the `redis` backend (a redis-server started on a free loopback port, as
 *    the tests do). The difference is what one incr costs a middleware. The redis backend's call
 *    is synchronous for the plugin: the gateway thread waits for the answer (see kv-redis.ts).
 * 2. **Requests per second with 1 and 2 workers.** `terrarium serve` (the built CLI) with the echo
 *    service behind one JS middleware, with `--workers 1` and `--workers 2`, and the example rate
 *    limiter with its counters in memory (1 worker) and in Redis (1 and 2 workers). autocannon (32
 *    connections, keep-alive) runs in its own process on the same 2 cores, so with 2 workers the
 *    three processes (two workers, the load generator; plus the primary's connection hand-off and
 *    Redis) compete for 2 cores: the ratio is what this machine can show, not what 2 free cores
 *    would give. Scenarios are measured in rounds, in alternating order; figures are medians.
 *
 * Run:   npm run build && node --import tsx bench/scaling.ts   (~2 minutes)
 * Knobs: SCALE_BENCH_SECONDS (4), SCALE_BENCH_ROUNDS (3), SCALE_BENCH_WARMUP (3).
 * Writes bench/results/scaling.md (a section of bench/RESULTS.md) and prints it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { createHost } from 'terrarium-plugins';
import { openKv } from '../dist/gateway/kv/open.js';
import { startRedis } from '../test/fixtures/redis.js';
import { BENCH_DIR, REPO_DIR, calibrate, fmt, isMain, machine, median, runFor, sample, table, type ScenarioResult } from './lib.js';

const SECONDS = Number(process.env.SCALE_BENCH_SECONDS ?? 4);
const ROUNDS = Number(process.env.SCALE_BENCH_ROUNDS ?? 3);
const WARMUP = Number(process.env.SCALE_BENCH_WARMUP ?? 3);
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
const CLI = path.join(REPO_DIR, 'dist', 'cli', 'main.js');
const silent = { debug() {}, info() {}, warn() {}, error() {} };

const KV_PLUGIN = `export const meta = { name: 'kvb', version: '1.0.0', apiVersion: 1 };
export function incr(k) { return host.kv.incr(k, 1, 60000); }
export function none(k) { return 0; }
export function cap(k) { return host.noop(k); }
`;
const MW = `export const meta = { name: 'mw', version: '1.0.0', apiVersion: 1, gateway: { requestHeaders: ['x-block'] } };
export function onRequest(req) {
  if (req.headers['x-block']) return { respond: { status: 403 } };
  return { setHeaders: { 'x-plugin': '1' } };
}
`;

interface KvRow {
  backend: string;
  /** The same call through a capability that does nothing (the crossing into the host alone). */
  capUs: number;
  callUs: number;
  incrUs: number;
  min: number;
  max: number;
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_DIR, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function kvCost(redisUrl: string): Promise<KvRow[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'terrarium-scale-kv-'));
  await writeFile(path.join(dir, 'kvb.js'), KV_PLUGIN);
  const rows: KvRow[] = [];
  try {
    for (const backend of ['memory', 'redis'] as const) {
      const kv = await openKv(
        backend === 'memory'
          ? { maxKeys: 100_000, backend }
          : { maxKeys: 100_000, backend, redis: { url: redisUrl, keyPrefix: 'bench:', dialTimeoutMs: 2000, timeoutMs: 1000 } },
        silent,
      );
      const host = await createHost({ dir, capabilities: { ...kv.capability, noop: (k: string) => k.length } });
      const p = host.get<{ incr(k: string): number; none(k: string): number; cap(k: string): number }>('kvb');
      const keys = Array.from({ length: 64 }, (_, i) => `k${i}`);
      const incr = (i: number) => p.incr(keys[i & 63]!);
      const none = (i: number) => p.none(keys[i & 63]!);
      const cap = (i: number) => p.cap(keys[i & 63]!);
      runFor(1500, (i) => (i & 1 ? incr(i) : none(i)));
      const ni = calibrate(incr, 40);
      const nn = calibrate(none, 40);
      const nc = calibrate(cap, 40);
      const si: number[] = [];
      const sn: number[] = [];
      const sc: number[] = [];
      const all: number[] = [];
      for (let b = 0; b < 15; b++) {
        const a = sample(incr, 1, ni);
        si.push(a.us);
        all.push(a.us);
        sn.push(sample(none, 1, nn).us);
        sc.push(sample(cap, 1, nc).us);
      }
      const callUs = median(sn);
      const total = median(si);
      rows.push({ backend, capUs: median(sc), callUs, incrUs: total - callUs, min: Math.min(...all), max: Math.max(...all) });
      await host.close();
      kv.dispose();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

interface Scenario {
  key: string;
  label: string;
  workers: number;
  kv: 'none' | 'memory' | 'redis';
}

const SCENARIOS: Scenario[] = [
  { key: 'w1', label: '1 worker, 1 JS middleware', workers: 1, kv: 'none' },
  { key: 'w2', label: '2 workers, 1 JS middleware', workers: 2, kv: 'none' },
  { key: 'w1mem', label: '1 worker, example rate limiter, memory kv', workers: 1, kv: 'memory' },
  { key: 'w1redis', label: '1 worker, example rate limiter, redis kv', workers: 1, kv: 'redis' },
  { key: 'w2redis', label: '2 workers, example rate limiter, redis kv', workers: 2, kv: 'redis' },
];

function yamlFor(s: Scenario, dir: string, redisUrl: string): string {
  const limiter = s.kv !== 'none';
  return `entryPoints:
  web:
    address: 127.0.0.1:0
http:
  routers:
    all:
      rule: "PathPrefix(\`/\`)"
      middlewares: [${limiter ? 'limit' : 'mw'}]
      service: echo
  middlewares:
    mw:
      plugin:
        mw: {}
    limit:
      plugin:
        rate-limit:
          limit: 1000000000
          windowSeconds: 3600
  services:
    echo:
      echo: {}
plugins:
  dir: ${JSON.stringify(dir)}
${s.kv === 'none' ? '' : s.kv === 'memory' ? '  capabilities:\n    kv: true\n' : `  capabilities:\n    kv:\n      backend: redis\n      redis:\n        url: ${redisUrl}\n        keyPrefix: "bench-${s.key}:"\n        timeout: 1s\n`}accessLog: false
`;
}

async function start(s: Scenario, dir: string, redisUrl: string): Promise<{ url: string; child: ChildProcess }> {
  const file = path.join(dir, `${s.key}.yaml`);
  await writeFile(file, yamlFor(s, dir, redisUrl));
  const child = spawn(process.execPath, [CLI, '--log-level', 'warn', 'serve', file, '--no-watch', '--workers', String(s.workers)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /web\s+(http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`serve (${s.key}) exited with ${code}`)));
  });
  return { url, child };
}

function autocannon(url: string, seconds: number): Promise<{ rps: number; p50: number; p99: number; bad: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AUTOCANNON, '--json', '-n', '-c', '32', '-d', String(seconds), `${url}/api/users/42`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', () => {
      try {
        const r = JSON.parse(out) as { duration: number; errors: number; non2xx: number; requests: { total: number }; latency: { p50: number; p99: number } };
        resolve({ rps: r.requests.total / r.duration, p50: r.latency.p50, p99: r.latency.p99, bad: r.errors + r.non2xx });
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    process.kill(child.pid!, 'SIGTERM');
  });
}

export async function runScaling(): Promise<ScenarioResult> {
  const redis = await startRedis();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'terrarium-scale-'));
  const running: ChildProcess[] = [];
  try {
    const kvRows = await kvCost(redis.url);
    await writeFile(path.join(dir, 'mw.js'), MW);
    await writeFile(path.join(dir, 'rate-limit.js'), await readFile(path.join(REPO_DIR, 'scripts-examples', 'rate-limit.js'), 'utf8'));
    const load0 = os.loadavg()[0]!;
    const servers = new Map<string, string>();
    for (const s of SCENARIOS) {
      const { url, child } = await start(s, dir, redis.url);
      running.push(child);
      servers.set(s.key, url);
      await autocannon(url, WARMUP);
    }
    const runs = new Map<string, { rps: number; p50: number; p99: number; bad: number }[]>(SCENARIOS.map((s) => [s.key, []]));
    const ratios: number[] = [];
    const redisRatios: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? SCENARIOS : [...SCENARIOS].reverse();
      const round = new Map<string, number>();
      for (const s of order) {
        const x = await autocannon(servers.get(s.key)!, SECONDS);
        runs.get(s.key)!.push(x);
        round.set(s.key, x.rps);
      }
      ratios.push(round.get('w2')! / round.get('w1')!);
      redisRatios.push(round.get('w2redis')! / round.get('w1redis')!);
    }
    const load1 = os.loadavg()[0]!;
    const base = median(runs.get('w1')!.map((x) => x.rps));
    const rows = SCENARIOS.map((s) => {
      const xs = runs.get(s.key)!;
      const rps = median(xs.map((x) => x.rps));
      return [s.label, Math.round(rps).toLocaleString('en-US'), `${median(xs.map((x) => x.p50))} ms`, `${median(xs.map((x) => x.p99))} ms`, `${fmt(rps / base)}x`, String(xs.reduce((n, x) => n + x.bad, 0))];
    });
    const m = machine();
    const now = new Date().toISOString();
    const md = `## Scaling out: workers and the redis kv (bench/scaling.ts)

Run on ${now.slice(0, 10)} at ${now.slice(11, 16)} UTC by \`npm run build && node --import tsx bench/scaling.ts\` (commit ${commit()}); machine: ${m.cpu}, ${m.cores} cores, ${m.memory} RAM, Node ${m.node}; redis-server on loopback.
The machine was shared with other work (load average ${fmt(load0)} at the start, ${fmt(load1)} at the end, on ${m.cores} cores)${
      load0 > m.cores * 1.5 ? ': **it was oversubscribed**, so every figure below mostly measures waiting for a core (a Redis round trip needs three threads in two processes to be scheduled in turn; a second worker competes with the load generator and everyone else). Read them as an upper bound, not as what the code costs on a quiet machine' : ': absolute numbers are noisy'
    }.

**One kv call from inside a plugin** (a JS export calling \`host.kv.incr(key, 1, 60000)\`, minus the same export returning at once; 15 interleaved batches of ~40 ms, medians):

${table(
  ['backend', 'plugin call with incr, µs', 'the call alone, µs', 'one incr, µs', 'min - max of batches (with incr)', 'the call with a do-nothing capability, µs'],
  kvRows.map((r) => [r.backend, fmt(r.callUs + r.incrUs), fmt(r.callUs), fmt(r.incrUs), `${fmt(r.min)} - ${fmt(r.max)}`, fmt(r.capUs)]),
)}

The last column is the same export calling a capability that does nothing (\`host.noop(k)\`): most of a memory incr is
that crossing from the plugin into the host and back, not the store.

The redis backend's incr is a round trip to Redis during which the gateway thread waits (Atomics.wait on the answer from the
thread that owns the connection): that time is spent by the request, and the event loop serves nothing else meanwhile.

**Requests per second** (\`terrarium serve\` on the echo service, autocannon 32 connections, keep-alive; ${ROUNDS} rounds of ${SECONDS} s in alternating order after ${WARMUP} s of warm-up each; medians):

${table(['scenario', 'req/s', 'p50', 'p99', 'vs 1 worker, 1 JS middleware', 'errors + non-2xx'], rows)}

- **2 workers / 1 worker** (paired per round, median): ${fmt(median(ratios))}x with one JS middleware; ${fmt(median(redisRatios))}x with the rate limiter on the redis kv.
  The load generator (autocannon, one process) and Redis run on the same 2 cores as the workers, so two workers cannot get two
  free cores here: on a machine with cores to spare for them the ratio is what to expect per added core, minus the primary's
  connection hand-off (node:cluster round robin, at accept time only: keep-alive connections stay with their worker).
`;
    console.log(md);
    await writeFile(path.join(BENCH_DIR, 'results', 'scaling.md'), `${md.trim()}\n`);
    return { title: 'Scaling out', markdown: md };
  } finally {
    for (const c of running) await stop(c);
    await rm(dir, { recursive: true, force: true });
    await redis.stop();
  }
}

if (isMain(import.meta.url)) await runScaling();
