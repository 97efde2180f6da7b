/**
 * Shared helpers of the benchmark scenarios (not a scenario itself): timing, statistics, the request
 * fixture, machine description and Markdown tables.
 */
import os from 'node:os';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_DIR = path.dirname(BENCH_DIR);
export const PLUGIN_DIR = path.join(BENCH_DIR, 'plugins');
export const JS_PLUGIN = path.join(PLUGIN_DIR, 'bench.js');
/** Overridable (BENCH_LUA_PLUGIN) to try the Lua rows against another file before bench.lua lands. */
export const LUA_PLUGIN = process.env.BENCH_LUA_PLUGIN ? path.resolve(process.env.BENCH_LUA_PLUGIN) : path.join(PLUGIN_DIR, 'bench.lua');

/** True when the given module URL is the script Node was started with (`node --import tsx bench/x.ts`). */
export function isMain(url: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && pathToFileURL(path.resolve(entry)).href === url;
}

export function luaPluginExists(): boolean {
  return existsSync(LUA_PLUGIN);
}

export interface Headers {
  [name: string]: string;
}
export interface Req {
  method: string;
  path: string;
  headers: Headers;
}

/** A realistic request: method, path, 10 headers (the 10th, x-block, only in the blocked variant). */
export function makeRequest(blocked: boolean): Req {
  const headers: Headers = {
    host: 'api.example.com',
    'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
    accept: 'application/json, text/plain, */*',
    'accept-encoding': 'gzip, deflate, br',
    'accept-language': 'en-US,en;q=0.9,fr;q=0.8',
    cookie: 'session=8f14e45fceea167a5a36dedd4bea2543; theme=dark',
    'x-request-id': '3f2a9c1e-7b4d-4e8a-9f61-2c5d8e0b1a47',
    'x-forwarded-for': '203.0.113.7, 198.51.100.23',
    'content-type': 'application/json',
  };
  if (blocked) headers['x-block'] = '1';
  else headers['x-trace'] = 'off'; // keep 10 headers in both variants
  return { method: 'GET', path: '/api/users/42', headers };
}

export const REQ_PASS = makeRequest(false);
export const REQ_BLOCK = makeRequest(true);
/** Alternated inputs of the request workload: even calls pass, odd calls are blocked. */
export const REQS: readonly [Req, Req] = [REQ_PASS, REQ_BLOCK];

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  const mid = Math.floor(n / 2);
  return n % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Keeps results alive so V8 cannot drop the measured calls. */
export let sink: unknown;
export function consume(v: unknown): void {
  sink = v;
}

/** Run `fn(i)` for `ms` milliseconds (warm-up). Returns the number of calls made. */
export function runFor(ms: number, fn: (i: number) => unknown): number {
  const end = performance.now() + ms;
  let i = 0;
  while (performance.now() < end) {
    for (let k = 0; k < 64; k++, i++) consume(fn(i));
  }
  return i;
}

/** Calls per batch so that one batch takes about `targetMs`. */
export function calibrate(fn: (i: number) => unknown, targetMs: number): number {
  let n = 16;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) consume(fn(i));
    const dt = performance.now() - t0;
    if (dt >= targetMs / 4 || n >= 1 << 26) return Math.max(16, Math.round((n * targetMs) / Math.max(dt, 1e-3)));
    n *= 4;
  }
}

export interface Sampled {
  /** Median µs per call over the batches. */
  us: number;
  min: number;
  max: number;
  batches: number;
  callsPerBatch: number;
}

/** `batches` batches of `n` calls each; µs per call of every batch, summarised by the median. */
export function sample(fn: (i: number) => unknown, batches: number, n: number): Sampled {
  const per: number[] = [];
  for (let b = 0; b < batches; b++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) consume(fn(i));
    per.push(((performance.now() - t0) * 1000) / n);
  }
  return { us: median(per), min: Math.min(...per), max: Math.max(...per), batches, callsPerBatch: n };
}

export function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

export function machine(): { cpu: string; cores: number; memory: string; node: string; platform: string } {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memory: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  };
}

/** Format a number with about 3 significant digits (µs, ms, ratios). */
export function fmt(x: number | undefined, digits = 3): string {
  if (x === undefined || !Number.isFinite(x)) return '-';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  return Number(x.toPrecision(digits)).toString();
}

export function ratio(x: number | undefined, base: number | undefined): string {
  if (x === undefined || base === undefined || !Number.isFinite(x) || !Number.isFinite(base) || base <= 0) return '-';
  return `${fmt(x / base)}x`;
}

export function mb(bytes: number): string {
  return `${fmt(bytes / (1024 * 1024))} MB`;
}

/** A Markdown table (also readable as plain text in a terminal). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** What a scenario hands back to run.ts: Markdown for RESULTS.md (already printed to the console). */
export interface ScenarioResult {
  title: string;
  markdown: string;
}
