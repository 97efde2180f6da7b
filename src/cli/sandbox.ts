/**
 * The host an author's command loads one plugin file into (`call`, `test`, `cost`, `replay`):
 * createHost, the path production takes, with the production limits unless a command passes
 * others, granted host.kv (in memory) and host.fs (a fresh temporary directory removed on close).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHost, type Host, type HostOptions } from '../host/host.js';
import { scopedFs } from '../capabilities/fs.js';
import { memoryKv } from './demo.js';

/** A temporary directory removed on dispose (the fs capability of `call` and `test`). */
export async function scratchDir(): Promise<{ path: string } & AsyncDisposable> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'terrarium-fs-'));
  return { path: dir, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

/** A host over one plugin file; closing it also removes its scratch directory. */
export async function hostFor(file: string, options: Omit<HostOptions, 'files' | 'dir' | 'capabilities'> = {}): Promise<Host & AsyncDisposable> {
  const sandbox = await scratchDir();
  let host: Host;
  try {
    host = await createHost({ ...options, files: [file], capabilities: { ...memoryKv(), fs: scopedFs(sandbox.path) } });
  } catch (e) {
    await sandbox[Symbol.asyncDispose]();
    throw e;
  }
  const close = host.close.bind(host);
  return Object.assign(host, {
    close: async () => {
      await close();
      await sandbox[Symbol.asyncDispose]();
    },
    [Symbol.asyncDispose]: async () => {
      await close();
      await sandbox[Symbol.asyncDispose]();
    },
  });
}
