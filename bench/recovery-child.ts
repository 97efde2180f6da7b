/**
 * Child process of bench/recovery.ts: what a standby costs. Loads `count` small plugins of one
 * engine in one host, with or without standbys, waits until every standby is built, and prints one
 * JSON line: RSS before and after (after gc), and the time createHost + ready() took.
 *
 * Run alone:  npm run build && node --expose-gc --import tsx bench/recovery-child.ts js 50 1
 *             (engine: js | lua; count; standby: 1 | 0)
 */
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHost } from 'terrarium-plugins';
import { JS_PLUGIN, LUA_PLUGIN, gc } from './lib.js';

export interface StandbySample {
  engine: string;
  count: number;
  standby: boolean;
  ok: boolean;
  error?: string;
  /** createHost + host.ready() (standbys built) for `count` plugins. */
  readyMs: number;
  rssBefore: number;
  rssAfter: number;
}

const settle = () => new Promise((r) => setTimeout(r, 100));

async function main(): Promise<void> {
  const [engineArg = 'js', countArg = '50', standbyArg = '1'] = process.argv.slice(2);
  const count = Number(countArg);
  const standby = standbyArg === '1';
  const src = engineArg === 'lua' ? LUA_PLUGIN : JS_PLUGIN;
  const ext = path.extname(src);
  const out: StandbySample = { engine: engineArg, count, standby, ok: false, readyMs: NaN, rssBefore: NaN, rssAfter: NaN };
  const root = await mkdtemp(path.join(tmpdir(), 'terrarium-bench-standby-'));
  try {
    const warmDir = path.join(root, 'warm');
    const dir = path.join(root, 'plugins');
    await mkdir(warmDir);
    await mkdir(dir);
    await copyFile(src, path.join(warmDir, `warm${ext}`));
    for (let i = 0; i < count; i++) await copyFile(src, path.join(dir, `p${String(i).padStart(3, '0')}${ext}`));
    // The engine import and the WASM compile are paid by a warm-up host, kept open.
    const warm = await createHost({ dir: warmDir, standby });
    await warm.ready();
    gc();
    await settle();
    gc();
    out.rssBefore = process.memoryUsage().rss;
    const t0 = performance.now();
    const host = await createHost({ dir, standby });
    await host.ready();
    out.readyMs = performance.now() - t0;
    gc();
    await settle();
    gc();
    out.rssAfter = process.memoryUsage().rss;
    const plugins = host.plugins;
    const wrong = plugins.find((p) => p.status !== 'ready' || p.standby !== (standby ? 'ready' : 'none'));
    if (wrong) out.error = `${wrong.name}: status ${wrong.status}, standby ${wrong.standby}`;
    else out.ok = true;
    await host.close();
    await warm.close();
  } catch (e) {
    out.error = (e as Error).message;
  } finally {
    await rm(root, { recursive: true, force: true });
    process.stdout.write(`${JSON.stringify(out)}\n`);
  }
}

await main();
