/**
 * Scenario: the gateway's own per-request work, in one process, without sockets: an Exchange (the
 * real one, with its real middlewares bound to plugins of a real host) runs on a stub request,
 * a stub response and an upstream that answers at once, so what is timed is the exchange, the
 * middleware adapter, the host gate and the engines (bench/gateway.ts's js1, lua1 and chain5
 * middlewares), never node:http or the loopback. Two builds run side by side in the same process:
 * ./dist ("after") and a copy of an earlier build ("before", GW_INPROC_BEFORE, default
 * bench/.before/dist: `cp -r dist bench/.before/` before a change), each in its own child process
 * (fengari is patched once per process) with its own host, driven in turn by this one.
 * On a shared machine that is the steadier measure: both builds see the same load, in alternating
 * rounds (ABBA), and the ratios are paired within a round.
 *
 * Run:   npm run build && nice node --import tsx bench/gateway-inproc.ts
 * Knobs: GW_INPROC_ROUNDS (7), GW_INPROC_N (1500 requests per measurement), GW_INPROC_WARMUP (3000 requests),
 *        GW_INPROC_BEFORE (the earlier build's dist directory; absent: only ./dist is measured), GW_INPROC_AFTER
 *        (./dist), GW_INPROC_ONLY (a subset of gw0,js1,lua1,chain5,jsrs,luars), GW_INPROC_PROFILE (1: instead of
 *        the comparison, profile each scenario of the after build with the inspector, 50 µs sampling, and print
 *        the shares of its self time by where the code lives, bench/cpu-profile.ts).
 * Prints Markdown (CPU µs per request of this process, medians over rounds, and ratios).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BENCH_DIR, fmt, isMain, median, REPO_DIR, table } from './lib.js';
import { selfTimes, type CpuProfile } from './cpu-profile.js';
import { chainsOf, HEADERS, writeBenchPlugins } from './gateway.js';

const ROUNDS = Number(process.env.GW_INPROC_ROUNDS ?? 7);
const N = Number(process.env.GW_INPROC_N ?? 1500);
const WARMUP = Number(process.env.GW_INPROC_WARMUP ?? 3000);
const BEFORE = path.resolve(process.env.GW_INPROC_BEFORE ?? path.join(BENCH_DIR, '.before', 'dist'));
const AFTER = path.resolve(process.env.GW_INPROC_AFTER ?? path.join(REPO_DIR, 'dist'));

const SCENARIOS = chainsOf(['gw0', 'js1', 'lua1', 'chain5', 'jsrs', 'luars']);

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any -- the two builds' modules, loaded by URL

interface Build {
  name: string;
  host: Any;
  run: Record<string, () => void>;
}

const REQ_HEADERS: Record<string, string> = { host: '127.0.0.1:8000', ...HEADERS };

export async function build(name: string, dist: string, pluginDir: string): Promise<Build> {
  const imp = (p: string) => import(pathToFileURL(path.join(dist, p)).href) as Promise<Any>;
  const { createHost } = await imp('index.js');
  const { PluginCatalog, ActiveMiddleware } = await imp('gateway/middleware/plugin.js');
  const { Exchange, newExchange } = await imp('gateway/exchange/exchange.js');
  const { GatewayStats } = await imp('gateway/stats/stats.js');
  const { refreshRouter } = await imp('gateway/exchange/runtime.js');
  const host = await createHost({ dir: pluginDir });
  await host.ready();
  const catalog = new PluginCatalog(host);
  const stats = new GatewayStats();
  const env = { logger: { info() {}, warn() {}, error() {}, debug() {} }, host, closing: false, tunnels: new Set(), jsonErrors: false };
  const socket = { remoteAddress: '127.0.0.1', remotePort: 40000, localAddress: '127.0.0.1', localPort: 8000 };
  const upRes = { statusCode: 200, headers: { 'content-type': 'application/json', 'content-length': '33' }, complete: true, on() {}, pipe() {}, resume() {} };
  const lb = { forward: (_o: unknown, cb: (f: unknown, r: unknown) => void) => (cb(undefined, upRes), { abort() {} }) };
  const run: Record<string, () => void> = {};
  for (const [key, mws] of Object.entries(SCENARIOS)) {
    const chain = mws.map((m) => {
      const mw = new ActiveMiddleware({ name: `${key}-${m}`, plugin: m, config: {}, failOpen: false }, stats);
      const issues = mw.bind(catalog, () => ({}));
      if (issues.length) throw new Error(`${name}: ${JSON.stringify(issues)}`);
      return mw;
    });
    const router = {
      name: key,
      spec: {},
      match: () => true,
      chain,
      service: { name: 'up', kind: 'loadBalancer', lb, stats: stats.service('up') },
      stats: stats.router(key),
      responsePhase: false,
      requestBodyMax: 0,
      responseBodyMax: 0,
    };
    refreshRouter(router);
    run[key] = () => {
      // node:http gives every request its own headers object.
      const req = { method: 'GET', url: '/api/users/42', httpVersion: '1.1', headers: { ...REQ_HEADERS }, socket };
      const res = { headersSent: false, shouldKeepAlive: true, writeHead() {}, end() {}, write() {}, destroy() {}, on() {} };
      // newExchange: the exchange as composition (this branch); an earlier build's Exchange class takes the same arguments.
      const x = newExchange ? newExchange(env, router, req, res, '/api/users/42', '', false, req.headers, req.headers.host, false) : new Exchange(env, router, req, res, '/api/users/42', '', false, req.headers, req.headers.host, false);
      x.start();
      x.release();
    };
  }
  return { name, host, run };
}

export function cpuUs(fn: () => void, n: number): number {
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}

type Msg = { key: string; n: number; profile?: boolean } | { close: true };

/** Profile `n` runs of `fn` in this process; the shares of the self time by group (the inspector's own frames left out). */
async function profileShares(fn: () => void, n: number): Promise<string> {
  const { Session } = await import('node:inspector/promises');
  const s = new Session();
  s.connect();
  await s.post('Profiler.enable');
  await s.post('Profiler.setSamplingInterval', { interval: 50 });
  await s.post('Profiler.start');
  for (let i = 0; i < n; i++) fn();
  const { profile } = (await s.post('Profiler.stop')) as unknown as { profile: CpuProfile };
  s.disconnect();
  const { groups } = selfTimes(profile, (g) => g === 'idle' || g === 'native (dispatch)' || g === 'native (cpuUsage)');
  const total = [...groups.values()].reduce((a, b) => a + b, 0);
  return [...groups].sort((a, b) => b[1] - a[1]).filter(([, us]) => us / total >= 0.01).map(([g, us]) => `${g} ${fmt((us / total) * 100, 2)}%`).join('; ');
}

if (process.argv[2] === 'child') {
  // One build in this process: `child <name> <dist> <pluginDir>`; answers each { key, n } with { us }.
  const b = await build(process.argv[3]!, process.argv[4]!, process.argv[5]!);
  process.on('message', (m: Msg) => {
    if ('close' in m) {
      void b.host.close().then(() => process.exit(0));
      return;
    }
    if (m.profile) void profileShares(b.run[m.key]!, m.n).then((shares) => process.send!({ shares }));
    else process.send!({ us: cpuUs(b.run[m.key]!, m.n) });
  });
  process.send!({ ready: true });
} else if (isMain(import.meta.url)) {
  await main();
}

interface Child {
  name: string;
  proc: ChildProcess;
  ask(key: string, n: number): Promise<number>;
  profile(key: string, n: number): Promise<string>;
}

function child(name: string, dist: string, dir: string): Promise<Child> {
  const proc = fork(fileURLToPath(import.meta.url), ['child', name, dist, dir], { execArgv: ['--import', 'tsx'] });
  let waiting: ((v: number) => void) | undefined;
  let profiling: ((v: string) => void) | undefined;
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`${name} child exited with ${code}`)));
    proc.on('message', (m: { ready?: true; us?: number; shares?: string }) => {
      if (m.ready)
        resolve({
          name,
          proc,
          ask: (key, n) => new Promise((r) => ((waiting = r), proc.send({ key, n }))),
          profile: (key, n) => new Promise((r) => ((profiling = r), proc.send({ key, n, profile: true }))),
        });
      else if (m.shares !== undefined) profiling?.(m.shares);
      else waiting?.(m.us!);
    });
  });
}

async function main(): Promise<void> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'terrarium-gw-inproc-'));
  const builds: Child[] = [];
  try {
    const dir = path.join(tmp, 'plugins');
    await mkdir(dir);
    await writeBenchPlugins(dir);
    builds.push(await child('after', AFTER, dir));
    const keys0 = (process.env.GW_INPROC_ONLY?.split(',') ?? Object.keys(SCENARIOS)).filter((k) => k in SCENARIOS);
    if (process.env.GW_INPROC_PROFILE === '1') {
      const rows: string[][] = [];
      for (const k of keys0) {
        await builds[0]!.ask(k, WARMUP);
        rows.push([k, await builds[0]!.profile(k, N * 10)]);
      }
      console.log(`## Self time by where the code lives, in process (bench/gateway-inproc.ts GW_INPROC_PROFILE=1)\n\n${new Date().toISOString().slice(0, 16)} UTC, load average ${fmt(os.loadavg()[0]!)}; ${N * 10} requests per scenario after ${WARMUP} of warm-up, inspector sampling every 50 µs.\n\n${table(['scenario', 'shares of the sampled self time'], rows)}\n`);
      return;
    }
    if (existsSync(path.join(BEFORE, 'gateway', 'exchange'))) builds.push(await child('before', BEFORE, dir));
    const keys = keys0;
    for (const b of builds) for (const k of keys) await b.ask(k, WARMUP);
    const load0 = os.loadavg()[0]!;
    const us = new Map<string, number[]>();
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? builds : [...builds].reverse();
      for (const k of keys)
        for (const b of order) {
          const id = `${b.name} ${k}`;
          (us.get(id) ?? us.set(id, []).get(id)!).push(await b.ask(k, N));
        }
    }
    const load1 = os.loadavg()[0]!;
    const two = builds.length > 1;
    const med = (id: string) => median(us.get(id) ?? []);
    /** Median over rounds of (scenario - gw0) within the round: the cost the middlewares add. */
    const added = (b: string, k: string) => median((us.get(`${b} ${k}`) ?? []).map((x, i) => x - (us.get(`${b} gw0`)?.[i] ?? NaN)));
    const rows = keys.map((k) => [
      k,
      two ? fmt(med(`before ${k}`)) : '-',
      fmt(med(`after ${k}`)),
      two ? `${fmt(median(us.get(`after ${k}`)!.map((x, i) => x / us.get(`before ${k}`)![i]!)))}x` : '-',
      k === 'gw0' || !two ? '-' : fmt(added('before', k)),
      k === 'gw0' ? '-' : fmt(added('after', k)),
    ]);
    console.log(`## The gateway's own work per request, in process (bench/gateway-inproc.ts)

${new Date().toISOString().slice(0, 16)} UTC, load average ${fmt(load0)} at the start, ${fmt(load1)} at the end (2 cores). ${ROUNDS} alternating rounds of ${N} requests per build and scenario
after ${WARMUP} warm-up requests each; CPU time of the build's process per request (µs), medians over rounds; "after / before" is the
median of the per-round ratios; "added" is the median over rounds of (scenario - gw0) of the same build and round.

${table(['scenario', 'before µs/req', 'after µs/req', 'after / before', 'added by the middlewares, before', 'added, after'], rows)}
`);
  } finally {
    for (const b of builds) b.proc.send({ close: true });
    await rm(tmp, { recursive: true, force: true });
  }
}
