/**
 * Scenario: host memory after repeated memory violations, with the errors retained.
 *
 * A 64 MiB QuickJS plugin exhausts its memory N times (default 100); the application keeps every
 * ERR_PLUGIN_MEMORY error in an array (an error log), and in a second phase keeps N pending
 * promises of async calls that grew to 48 MiB and then awaited a host promise that never settles.
 * Discarded instances must not stay reachable through either. Prints host RSS after a full GC
 * against the RSS before the first violation, and the sum of the limits of the live instances.
 *
 * Run alone:  npm run build && node --import tsx bench/memory-violations.ts [N]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createHost } from 'terrarium-plugins';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const MiB = 1024 * 1024;
const N = Number(process.argv[2] ?? 100);

const rssAfterGc = async (): Promise<number> => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().rss;
};

const dir = await mkdtemp(path.join(tmpdir(), 'terrarium-memv-'));
await writeFile(
  path.join(dir, 'bomb.js'),
  `const keep = [];
export function bomb() { for (;;) keep.push(new Uint8Array(1 << 20)); }
export async function growThenWait() { for (let i = 0; i < 48; i++) keep.push(new Uint8Array(1 << 20)); await host.hang(); }
export function ok() { return 'ok'; }\n`,
);
const hanging: (() => void)[] = [];
const host = await createHost({
  dir,
  limits: { memoryBytes: 64 * MiB, callTimeoutMs: 2000 },
  quarantine: { maxViolations: Infinity },
  capabilities: { hang: () => new Promise<void>((resolve) => hanging.push(resolve)) },
});
const bomb = host.get<{ bomb(): void; growThenWait(): Promise<void>; ok(): string }>('bomb');
bomb.ok();
const before = await rssAfterGc();
const kept: unknown[] = [];
for (let i = 0; i < N; i++) {
  try {
    bomb.bomb();
  } catch (e) {
    kept.push(e);
  }
  await host.ready();
}
const afterErrors = await rssAfterGc();
const codes = new Set(kept.map((e) => (e as { code?: string }).code));
const promises: Promise<unknown>[] = [];
const M = Math.min(N, 20);
for (let i = 0; i < M; i++) {
  const p = bomb.growThenWait();
  p.catch(() => {});
  promises.push(p);
  await p.catch(() => {});
  await host.ready();
}
const afterPending = await rssAfterGc();
await host.close();
for (const r of hanging) r();
await rm(dir, { recursive: true, force: true });

const fmtMiB = (b: number) => `${(b / MiB).toFixed(0)} MiB`;
console.log(`| scenario | host RSS after GC | growth over the first RSS |`);
console.log(`| --- | --- | --- |`);
console.log(`| before any violation | ${fmtMiB(before)} | - |`);
console.log(`| after ${N} memory violations, ${kept.length} errors retained (${[...codes].join(', ')}) | ${fmtMiB(afterErrors)} | ${fmtMiB(afterErrors - before)} |`);
console.log(`| after ${M} more async calls of 48 MiB timed out on a host promise kept pending | ${fmtMiB(afterPending)} | ${fmtMiB(afterPending - before)} |`);
console.log(`\nlimit of the one live instance: 64 MiB; retained errors: ${kept.length}, pending promises: ${promises.length}`);
