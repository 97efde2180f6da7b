/**
 * Scenario: where a call's time goes inside the busy gateway (issue 28). One gateway process per
 * scenario (gw0, js1, lua1, chain5, jsrs, luars: the middlewares of bench/gateway.ts), run under
 * `--cpu-prof` and `--trace-gc-nvp`, loaded by autocannon (bench/gateway.ts's request, 32
 * connections) for GW_PROF_SECONDS after a warm-up; then the profile's self time is grouped by
 * where the code lives (exchange, middleware adapter, marshal, engine/host, fengari, QuickJS WASM,
 * node http/net, GC) and divided by the requests served, so the rows read as µs per request.
 * GC: scavenges and mark-compacts, their pause and the bytes allocated (V8's `allocated=`), per request.
 * Deopts: with GW_PROF_DEOPT=1 the gateway also runs with --trace-deopt, and the deoptimised
 * functions of the gateway and the engines are counted.
 *
 * Run:   npm run build && nice node --import tsx bench/gateway-profile.ts
 * Knobs: GW_PROF_ONLY (js1,lua1,chain5), GW_PROF_SECONDS (6), GW_PROF_WARMUP (3), GW_PROF_TOP (12 functions listed
 *        per scenario), GW_PROF_DEOPT (0), GW_PROF_DIST (a dist directory to profile instead of ./dist, e.g. a
 *        copy of the build before a change).
 * Prints Markdown (nothing is written: paste what matters into bench/results/).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { BENCH_DIR, fmt, table } from './lib.js';
import { selfTimes, type CpuProfile } from './cpu-profile.js';
import { chainsOf, HEADERS, writeBenchPlugins } from './gateway.js';

const SECONDS = Number(process.env.GW_PROF_SECONDS ?? 6);
const WARMUP = Number(process.env.GW_PROF_WARMUP ?? 3);
const TOP = Number(process.env.GW_PROF_TOP ?? 12);
const DEOPT = process.env.GW_PROF_DEOPT === '1';

const ONLY = (process.env.GW_PROF_ONLY ?? 'js1,lua1,chain5').split(',').map((s) => s.trim());
const CHILD = path.join(BENCH_DIR, 'gateway-child.ts');
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

const SCENARIOS = chainsOf(['gw0', 'js1', 'lua1', 'chain5', 'jsrs', 'luars']);

function analyse(p: CpuProfile, requests: number): { groups: [string, number][]; top: [string, string, number][] } {
  const { groups, fns } = selfTimes(p);
  const per = (us: number) => us / Math.max(1, requests);
  return {
    groups: [...groups].sort((a, b) => b[1] - a[1]).map(([g, us]) => [g, per(us)]),
    top: [...fns].sort((a, b) => b[1].us - a[1].us).slice(0, TOP).map(([k, f]) => [k, f.group, per(f.us)]),
  };
}

interface Gc {
  scavenges: number;
  markCompacts: number;
  pauseMs: number;
  allocated: number;
}

/** Sum the --trace-gc-nvp lines printed after `from` (a byte offset of the child's stdout). */
function gcOf(text: string): Gc {
  const g: Gc = { scavenges: 0, markCompacts: 0, pauseMs: 0, allocated: 0 };
  for (const m of text.matchAll(/pause=([\d.]+).*? gc=(\w+).*? allocated=(\d+)/g)) {
    if (m[2] === 's') g.scavenges++;
    else g.markCompacts++;
    g.pauseMs += Number(m[1]);
    g.allocated += Number(m[3]);
  }
  return g;
}

function deoptsOf(text: string): [string, number][] {
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/\[bailout \(kind: ([^,]+), reason: ([^)]*)\): begin\. deoptimizing [^<]*<JSFunction ([^ >]+)/g)) {
    const key = `${m[3]} (${m[1]}: ${m[2]!.trim()})`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]);
}

function start(args: string[], nodeFlags: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string; out: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
    let out = '';
    let ready = false;
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = ready ? null : /READY (\S+)/.exec(out);
      if (m) {
        ready = true;
        resolve({ child, url: m[1]!, out: () => out });
      }
    });
    child.on('exit', (code) => {
      if (!ready) reject(new Error(`${args[0]} child exited with ${code} before it was ready`));
    });
  });
}

function load(url: string, seconds: number): Promise<number> {
  const args = [AUTOCANNON, '--json', '-n', '-c', '32', '-d', String(seconds)];
  for (const [k, v] of Object.entries(HEADERS)) args.push('-H', `${k}=${v}`);
  args.push(`${url}/api/users/42`);
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    c.on('exit', () => {
      try {
        resolve((JSON.parse(out) as { requests: { total: number } }).requests.total);
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}

const tmp = await mkdtemp(path.join(os.tmpdir(), 'terrarium-gw-prof-'));
const children: ChildProcess[] = [];
let md = `## Where a request's CPU goes in the busy gateway (bench/gateway-profile.ts)\n\n${new Date().toISOString().slice(0, 16)} UTC, load average ${os.loadavg().map((x) => fmt(x)).join(' / ')} at the start; ${WARMUP} s warm-up, ${SECONDS} s profiled under autocannon (32 connections). Self time of the sampled functions divided by the requests served in the profiled window (µs per request; sampling and the profiler itself add to every row).\n`;
try {
  const plugins = path.join(tmp, 'plugins');
  await mkdir(plugins);
  await writeBenchPlugins(plugins);
  const up = await start(['upstream'], [], process.env);
  children.push(up.child);
  const env = { ...process.env };
  if (process.env.GW_PROF_DIST) env.GW_CHILD_DIST = path.resolve(process.env.GW_PROF_DIST);
  for (const key of ONLY) {
    const mws = SCENARIOS[key];
    if (!mws) throw new Error(`unknown scenario ${key}; expected ${Object.keys(SCENARIOS).join(', ')}`);
    const config = {
      entryPoints: { web: { address: '127.0.0.1:0' } },
      accessLog: false,
      http: {
        routers: { api: { rule: 'PathPrefix(`/`)', middlewares: mws, service: 'up' } },
        middlewares: Object.fromEntries(mws.map((m) => [m, { plugin: { [m]: {} } }])),
        services: { up: { loadBalancer: { servers: [{ url: up.url }] } } },
      },
      plugins: { dir: plugins },
    };
    const file = path.join(tmp, `${key}.json`);
    await writeFile(file, JSON.stringify(config));
    const profDir = path.join(tmp, `prof-${key}`);
    const flags = ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--trace-gc-nvp', ...(DEOPT ? ['--trace-deopt'] : [])];
    const gw = await start(['gateway', file], flags, env);
    await load(gw.url, WARMUP);
    const from = gw.out().length;
    const t0 = Date.now();
    const requests = await load(gw.url, SECONDS);
    const wallMs = Date.now() - t0;
    const text = gw.out().slice(from);
    await new Promise<void>((resolve) => {
      gw.child.once('exit', () => resolve());
      gw.child.kill('SIGTERM');
    });
    const file0 = (await readdir(profDir)).find((f) => f.endsWith('.cpuprofile'))!;
    const prof = JSON.parse(await readFile(path.join(profDir, file0), 'utf8')) as CpuProfile;
    // The profile covers the whole process life: keep the samples of the measured window only.
    const endUs = prof.endTime;
    const fromUs = endUs - (Date.now() - t0) * 1000;
    let at = prof.startTime;
    const keep: number[] = [];
    const deltas: number[] = [];
    for (let i = 0; i < prof.samples.length; i++) {
      at += prof.timeDeltas[i] ?? 0;
      if (at >= fromUs && at <= fromUs + wallMs * 1000) {
        keep.push(prof.samples[i]!);
        deltas.push(prof.timeDeltas[i] ?? 0);
      }
    }
    const a = analyse({ ...prof, samples: keep, timeDeltas: deltas }, requests);
    const gc = gcOf(text);
    const total = a.groups.reduce((s, [, us]) => s + us, 0);
    md += `\n### ${key} (${mws.join(', ') || 'no middleware'}): ${requests} requests, ${fmt(total)} µs sampled per request\n\n`;
    md += table(['where', 'µs / request', 'share'], a.groups.map(([g, us]) => [g, fmt(us), `${fmt((us / total) * 100)}%`]));
    md += `\n\n${table(['function (self time)', 'group', 'µs / request'], a.top.map(([f, g, us]) => [`\`${f}\``, g, fmt(us)]))}\n`;
    md += `\nGC in the window: ${gc.scavenges} scavenges, ${gc.markCompacts} mark-compacts, ${fmt(gc.pauseMs)} ms of pauses (${fmt((gc.pauseMs * 1000) / Math.max(1, requests))} µs per request), ${fmt(gc.allocated / Math.max(1, requests) / 1024)} KiB allocated per request (V8's allocated=).\n`;
    if (DEOPT) {
      const d = deoptsOf(text).filter(([k]) => !/^(node:|<anonymous>)/.test(k));
      md += d.length ? `\nDeopts in the window (function, kind, reason, count):\n\n${table(['deopt', 'count'], d.slice(0, 15).map(([k, n]) => [k, String(n)]))}\n` : '\nNo deopt in the window.\n';
    }
  }
  console.log(md);
} finally {
  for (const c of children) c.kill('SIGTERM');
  await rm(tmp, { recursive: true, force: true });
}
