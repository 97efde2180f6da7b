/**
 * The storage example: a host program that serves puts and gets in a loop while its Storage
 * backend is swapped, by replacing the plugin file, from the in-memory JavaScript backend to the
 * file-system Lua backend, and shows that no call failed during the swap.
 *
 *   npm run build && node --import tsx scripts-examples/storage/host/swap.ts
 *
 * test/storage.test.ts runs the same function and asserts on what it returns.
 */
import { copyFile, mkdir, mkdtemp, readdir, rm, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHost, scopedFs, type HostEvent } from 'terrarium-plugins';

/** The Storage contract both backends implement. */
export interface Storage {
  get(key: string): string | undefined;
  put(key: string, value: string): boolean;
  delete(key: string): boolean;
  health(): { ok: boolean; keys: number };
}

export interface SwapReport {
  calls: number;
  failed: number;
  /** A get that did not return what the put before it (on the same backend, same tick) stored. */
  mismatches: number;
  /** Backend versions in the order they served, e.g. ['1.0.0-memory', '1.0.0-fs']. */
  served: string[];
  /** Calls made while the new backend was being built and checked (between the file change and the swap). */
  callsDuringSwap: number;
  /** Keys the file-system backend holds at the end (its files under the scoped directory). */
  filesWritten: number;
  events: string[];
}

/** The backends live one folder up (a plugin directory; this host program is kept out of it). */
const here = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const tick = () => new Promise<void>((r) => setImmediate(r));

/** Run the swap scenario in a temporary directory; `say` receives a line per step. */
export async function runSwap(say: (line: string) => void = () => {}): Promise<SwapReport> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'terrarium-storage-'));
  const plugins = path.join(work, 'plugins');
  const data = path.join(work, 'data');
  await mkdir(plugins, { recursive: true });
  await copyFile(path.join(here, 'memory-storage.js'), path.join(plugins, 'storage.js'));
  const report: SwapReport = { calls: 0, failed: 0, mismatches: 0, served: [], callsDuringSwap: 0, filesWritten: 0, events: [] };
  const host = await createHost({ dir: plugins, watch: { debounceMs: 100 }, capabilities: { fs: scopedFs(data) } });
  try {
    const version = () => host.plugins.find((p) => p.name === 'storage')?.version ?? '?';
    report.served.push(version());
    say(`serving with storage ${version()} (storage.js)`);
    for (const e of ['reloaded', 'failed', 'unloaded', 'loaded'] as const) {
      host.on(e, (x: HostEvent) => {
        report.events.push(`${x.event} ${x.plugin} ${x.version ?? ''}`.trim());
        if (x.event === 'reloaded') report.served.push(x.version ?? '?');
      });
    }
    const storage = host.get<Storage>('storage');
    let i = 0;
    let swapping = false;
    const step = () => {
      // put and get in one synchronous step: both reach the same backend version.
      const key = `k${i}`;
      try {
        report.calls += 2;
        if (swapping) report.callsDuringSwap += 2;
        storage.put(key, `v${i}`);
        if (storage.get(key) !== `v${i}`) report.mismatches++;
      } catch (e) {
        report.failed++;
        say(`call failed: ${(e as Error).message}`);
      }
      i++;
    };
    for (let n = 0; n < 300; n++) {
      step();
      await tick();
    }
    say(`${report.calls} calls on the memory backend; replacing storage.js with storage.lua`);
    const reloaded = new Promise<void>((resolve) => {
      const off = host.on('reloaded', () => {
        off();
        resolve();
      });
    });
    swapping = true;
    await unlink(path.join(plugins, 'storage.js'));
    await copyFile(path.join(here, 'fs-storage.lua'), path.join(plugins, 'storage.lua'));
    let done = false;
    void reloaded.then(() => {
      done = true;
    });
    const deadline = Date.now() + 15_000;
    while (!done && Date.now() < deadline) {
      step();
      await tick();
    }
    swapping = false;
    say(`swapped to storage ${version()} after ${report.callsDuringSwap} calls made during the swap`);
    for (let n = 0; n < 300; n++) {
      step();
      await tick();
    }
    const h = storage.health();
    report.filesWritten = (await readdir(path.join(data, 'data')).catch(() => [])).length;
    say(`${report.calls} calls in all, ${report.failed} failed, ${report.mismatches} mismatched; the fs backend holds ${report.filesWritten} files (health: ${JSON.stringify(h)})`);
    return report;
  } finally {
    await host.close();
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await runSwap((l) => console.log(l));
  process.exitCode = r.failed === 0 && r.mismatches === 0 ? 0 : 1;
}
