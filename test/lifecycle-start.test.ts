/**
 * createHost owns what it built while it starts: when the start fails half way, every instance it
 * loaded (serving ones and standbys) is disposed before the error reaches the caller. Shown with a
 * toy engine that counts its instances.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHost, type Logger } from 'terrarium-plugins';
import type { EngineDescriptor, EngineInstance } from 'terrarium-plugins/engine';

interface Counted {
  descriptor: EngineDescriptor;
  loaded: number;
  disposed: number;
}

function countedEngine(): Counted {
  const c: Counted = { loaded: 0, disposed: 0, descriptor: undefined as unknown as EngineDescriptor };
  c.descriptor = {
    name: 'counted',
    extensions: ['.cnt'],
    load: async () => ({
      name: 'counted',
      load: async (): Promise<EngineInstance> => {
        c.loaded++;
        let disposed = false;
        const inst: EngineInstance = {
          meta: undefined,
          exports: [{ name: 'ok', kind: 'function', arity: 0, async: false }],
          call: () => 'ok',
          memoryBytes: () => 0,
          dispose() {
            if (!disposed) c.disposed++;
            disposed = true;
          },
          [Symbol.dispose]() {
            inst.dispose();
          },
        };
        return inst;
      },
    }),
  };
  return c;
}

/** A logger that throws on the first line `fails` says yes to (an application's logger can). */
function throwingLogger(fails: (fields: Record<string, unknown>) => boolean): Logger {
  const line = (fields: unknown) => {
    if (fields !== null && typeof fields === 'object' && fails(fields as Record<string, unknown>)) throw new Error('the logger broke');
  };
  return { debug: line, info: line, warn: line, error: line };
}

async function pluginDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'terrarium-start-'));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

/** Start a host that must fail with the logger's error; every instance it built must be disposed. */
async function expectStartFailureDisposesAll(counted: Counted, files: Record<string, string>, engines: EngineDescriptor[], fails: (fields: Record<string, unknown>) => boolean): Promise<void> {
  const dir = await pluginDir(files);
  try {
    await assert.rejects(createHost({ dir, engines, logger: throwingLogger(fails) }), /the logger broke/);
    assert.ok(counted.loaded >= 1, 'the first plugin was built');
    assert.equal(counted.disposed, counted.loaded, 'every instance built was disposed');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const brokenEngine: EngineDescriptor = { name: 'broken', extensions: ['.brk'], load: () => Promise.reject(new Error('cannot import the broken engine')) };

describe('createHost failing half way', () => {
  it('disposes the plugin it loaded first, and its standby, when the second one fails the start', async () => {
    const counted = countedEngine();
    await expectStartFailureDisposesAll(counted, { 'a.cnt': 'a', 'b.cnt': 'b' }, [counted.descriptor], (f) => f.event === 'loaded' && f.plugin === 'b');
    assert.ok(counted.loaded >= 2, 'both plugins were built');
  });

  it('disposes the plugin it loaded first when the start fails on a plugin whose engine could not be imported', async () => {
    const counted = countedEngine();
    await expectStartFailureDisposesAll(counted, { 'a.cnt': 'a', 'b.brk': 'b' }, [counted.descriptor, brokenEngine], (f) => f.event === 'failed' && f.plugin === 'b');
  });

  it('fails only the plugins of an engine that cannot be imported, and disposes the rest on close', async () => {
    const counted = countedEngine();
    const dir = await pluginDir({ 'a.cnt': 'a', 'b.brk': 'b' });
    try {
      const host = await createHost({ dir, engines: [counted.descriptor, brokenEngine] });
      const b = host.plugins.find((p) => p.file === 'b.brk')!;
      assert.equal(b.status, 'failed');
      assert.match(b.error!.message, /the broken engine could not start: cannot import the broken engine/);
      assert.equal(host.get<{ ok(): string }>('a').ok(), 'ok');
      await host.close();
      assert.equal(counted.disposed, counted.loaded);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
