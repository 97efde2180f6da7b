/**
 * Scenario: what the pcall fix (issue "a Lua plugin hangs the host for ever with pcall") costs on
 * calls that break no limit. The fix only adds work where plugin code catches an error (pcall,
 * xpcall, load, coroutine.resume) and before a message handler runs, so the workloads are a plain
 * call (noop, onRequest of bench/plugins/bench.lua) and calls that catch many errors.
 *
 * fengari is patched once per process, so the code before and after the fix cannot share one
 * process: this script runs one child per side (a checkout of the old commit, built, and this
 * one), alternating old/new, and each child measures every workload against a V8 JSON round trip of
 * the request measured in the same child, interleaved batch by batch. The figure compared is that ratio
 * (µs per Lua call / µs per baseline call), median over the children of each side: it cancels
 * most of the load other processes put on the machine at the time of each child.
 *
 * Run: `npm run build && node --import tsx bench/lua-pcall.ts <old checkout dir, built> [pairs=4]`
 * One side only, printing JSON: `node --import tsx bench/lua-pcall.ts --child <dist/index.js of a checkout>`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { REPO_DIR, REQS, median } from './lib.js';

const PLUGIN = `local M = {}
function M.noop() end
function M.onRequest(req)
  if req.headers['x-block'] then return { status = 403 } end
  return { setHeader = { ['x-plugin'] = '1' } }
end
-- 100 errors caught by pcall / xpcall, 100 coroutines resumed until they die of an error
function M.pcallErrors() local n = 0 for i = 1, 100 do if not pcall(error, i) then n = n + 1 end end return n end
function M.xpcallErrors() local n = 0 for i = 1, 100 do if not xpcall(error, function(e) return e end, i) then n = n + 1 end end return n end
function M.resumeErrors() local n = 0 for i = 1, 100 do if not coroutine.resume(coroutine.create(error), i) then n = n + 1 end end return n end
return M
`;

const WARMUP_MS = 1500;
const BATCH_MS = 30;
const BATCHES = 21;

type Api = Record<string, (...a: unknown[]) => unknown>;

/** µs per call of `fn`, batch by batch interleaved with the JS baseline, as ratios to it. */
function measure(fn: (i: number) => unknown, base: (i: number) => unknown): { us: number; ratio: number } {
  const calibrate = (f: (i: number) => unknown): number => {
    let n = 1;
    for (;;) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) f(i);
      if (performance.now() - t0 > BATCH_MS / 4) return Math.max(1, Math.round((n * BATCH_MS) / (performance.now() - t0)));
      n *= 2;
    }
  };
  const nf = calibrate(fn);
  const nb = calibrate(base);
  const us: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < BATCHES; r++) {
    let t0 = performance.now();
    for (let i = 0; i < nf; i++) fn(i);
    const f = ((performance.now() - t0) * 1000) / nf;
    t0 = performance.now();
    for (let i = 0; i < nb; i++) base(i);
    const b = ((performance.now() - t0) * 1000) / nb;
    us.push(f);
    ratios.push(f / b);
  }
  return { us: median(us), ratio: median(ratios) };
}

async function child(hostModule: string): Promise<Record<string, { us: number; ratio: number }>> {
  const { createHost } = (await import(hostModule)) as typeof import('terrarium-plugins');
  const dir = await mkdtemp(path.join(tmpdir(), 'lua-pcall-'));
  await writeFile(path.join(dir, 'p.lua'), PLUGIN);
  const host = await createHost({ dir });
  const api = host.get('p') as unknown as Api;
  // The baseline: a V8 JSON round trip of the request (calls.ts's copy floor), a few µs, so its
  // batches are long enough to time on a loaded machine (a plain JS function was ~0.02 µs: noise).
  const sink: unknown[] = [];
  const base = (i: number) => (sink[i & 7] = JSON.parse(JSON.stringify(REQS[i & 1]!)));
  const workloads: Record<string, (i: number) => unknown> = {
    'noop()': () => api.noop!(),
    'onRequest(req)': (i) => api.onRequest!(REQS[i & 1]!),
    '100 x pcall(error)': () => api.pcallErrors!(),
    '100 x xpcall(error, handler)': () => api.xpcallErrors!(),
    '100 x coroutine.resume to an error': () => api.resumeErrors!(),
  };
  const t0 = performance.now();
  for (let i = 0; performance.now() - t0 < WARMUP_MS; i++) for (const w of Object.values(workloads)) w(i);
  const out: Record<string, { us: number; ratio: number }> = {};
  for (const [name, w] of Object.entries(workloads)) out[name] = measure(w, base);
  await host.close();
  await rm(dir, { recursive: true, force: true });
  return out;
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--child');
  if (at !== -1) {
    process.stdout.write(JSON.stringify(await child(process.argv[at + 1]!)));
    return;
  }
  const oldDir = process.argv[2];
  if (!oldDir) throw new Error('usage: node --import tsx bench/lua-pcall.ts <old checkout dir, built> [pairs]');
  const pairs = Number(process.argv[3] ?? 4);
  const self = fileURLToPath(import.meta.url);
  const sides = { old: pathToFileURL(path.resolve(oldDir, 'dist/index.js')).href, new: pathToFileURL(path.join(REPO_DIR, 'dist/index.js')).href };
  const runs: Record<'old' | 'new', Record<string, { us: number; ratio: number }>[]> = { old: [], new: [] };
  const loads: string[] = [];
  for (let i = 0; i < pairs; i++) {
    for (const side of ['old', 'new'] as const) {
      loads.push((await import('node:os')).loadavg()[0]!.toFixed(1));
      const out = execFileSync(process.execPath, ['--import', 'tsx', self, '--child', sides[side]], { encoding: 'utf8', timeout: 300_000 });
      runs[side].push(JSON.parse(out));
      console.error(`${side} run ${i + 1} done`);
    }
  }
  const names = Object.keys(runs.new[0]!);
  console.log(`load average (1 min) at the start of each child: ${loads.join(', ')}`);
  console.log('| workload | old µs/call | new µs/call | old / baseline | new / baseline | new / old (ratios) |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const n of names) {
    const o = runs.old.map((r) => r[n]!);
    const w = runs.new.map((r) => r[n]!);
    const ro = median(o.map((x) => x.ratio));
    const rn = median(w.map((x) => x.ratio));
    const f = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
    console.log(`| ${n} | ${f(median(o.map((x) => x.us)))} | ${f(median(w.map((x) => x.us)))} | ${f(ro)} | ${f(rn)} | ${(rn / ro).toFixed(2)}x |`);
  }
}

await main();
