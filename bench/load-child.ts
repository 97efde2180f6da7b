/**
 * Child process of bench/load.ts (one fresh process per measurement, so RSS is not polluted by
 * earlier runs). Loads `count` copies of the small bench plugin of one engine in one host and prints
 * one JSON line (LoadSample) on stdout.
 *
 * Run alone:  npm run build && node --expose-gc --import tsx bench/load-child.ts js 10
 *             (engine: js | lua; count: number of plugin copies)
 */
import { copyFile, mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHost } from 'terrarium-plugins';
import { JS_PLUGIN, LUA_PLUGIN, gc } from './lib.js';

export interface LoadSample {
  engine: string;
  count: number;
  ok: boolean;
  /** Why the measurement could not be made (plugin missing, engine failing...). */
  error?: string;
  /** createHost for the first plugin of the process: engine import + WASM compile + load. */
  firstLoadMs: number;
  /** createHost for `count` plugins, after the first host (one-time costs excluded). */
  loadMs: number;
  /**
   * CPU time (user + system, all threads of the process: GC helpers included) spent during that
   * createHost: less sensitive than loadMs to other processes on a shared machine.
   */
  loadCpuMs: number;
  readyCount: number;
  rssBefore: number;
  rssAfter: number;
  /** Sum of host.plugins[].memoryBytes of the measured host (QuickJS: reserved WASM memory). */
  memoryBytesSum: number;
  gcExposed: boolean;
}

function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 100));
}

async function main(): Promise<void> {
  const [engineArg = 'js', countArg = '1'] = process.argv.slice(2);
  const count = Number(countArg);
  const src = engineArg === 'lua' ? LUA_PLUGIN : JS_PLUGIN;
  const ext = path.extname(src);
  const out: LoadSample = {
    engine: engineArg,
    count,
    ok: false,
    firstLoadMs: NaN,
    loadMs: NaN,
    loadCpuMs: NaN,
    readyCount: 0,
    rssBefore: NaN,
    rssAfter: NaN,
    memoryBytesSum: 0,
    gcExposed: typeof (globalThis as { gc?: unknown }).gc === 'function',
  };
  const root = await mkdtemp(path.join(tmpdir(), 'terrarium-bench-load-'));
  try {
    const warmDir = path.join(root, 'warm');
    const dir = path.join(root, 'plugins');
    await mkdir(warmDir);
    await mkdir(dir);
    try {
      await copyFile(src, path.join(warmDir, `warm${ext}`));
    } catch {
      out.error = `${path.relative(process.cwd(), src)} does not exist yet`;
      return;
    }
    for (let i = 0; i < count; i++) await copyFile(src, path.join(dir, `p${String(i).padStart(3, '0')}${ext}`));

    // Warm-up host of 1 plugin: pays the engine import and the WASM compile (kept open on purpose:
    // it is part of "before", so the delta counts only the N measured plugins).
    let t0 = performance.now();
    const warm = await createHost({ dir: warmDir });
    out.firstLoadMs = performance.now() - t0;
    const w = warm.plugins[0];
    if (!w || w.status !== 'ready') {
      out.error = `warm-up plugin ${w?.status ?? 'missing'}: ${w?.error?.message ?? 'no error message'}`;
      await warm.close();
      return;
    }

    gc();
    await settle();
    gc();
    out.rssBefore = process.memoryUsage().rss;

    const cpu0 = process.cpuUsage();
    t0 = performance.now();
    const host = await createHost({ dir });
    out.loadMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    out.loadCpuMs = (cpu.user + cpu.system) / 1000;

    gc();
    await settle();
    gc();
    out.rssAfter = process.memoryUsage().rss;
    const plugins = host.plugins;
    out.readyCount = plugins.filter((p) => p.status === 'ready').length;
    out.memoryBytesSum = plugins.reduce((s, p) => s + p.memoryBytes, 0);
    const failed = plugins.find((p) => p.status !== 'ready');
    if (failed) out.error = `${count - out.readyCount} of ${count} plugins not ready, e.g. ${failed.name}: ${failed.error?.message ?? failed.status}`;
    else out.ok = true;
    await host.close();
    await warm.close();
  } finally {
    await rm(root, { recursive: true, force: true });
    process.stdout.write(`${JSON.stringify(out)}\n`);
  }
}

await main();
