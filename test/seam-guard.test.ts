/**
 * What the host does for every engine (host/guard.ts), shown with a toy engine that does none of
 * it: its plugins are `.toy` files whose text is JSON metadata, its exports run JavaScript
 * functions of this file. The toy has no re-entry cap, no deadlines, no name rules and no error
 * context; the host gives it all of them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHost, type Host } from 'terrarium-plugins';
import { builtinEngines, errorContext, type EngineDescriptor, type EngineInstance, type LoadRequest } from 'terrarium-plugins/engine';
import { PluginThrownError } from 'terrarium-plugins/errors';
import { expectCode } from './engines/conformance.js';

/** What a toy export does, given its load request (to call host functions) and the call's deadline. */
type ToyFn = (req: LoadRequest, args: readonly unknown[], deadline: number) => unknown;

interface Toy {
  descriptor: EngineDescriptor;
  /** Deadlines the engine was handed, in call order. */
  deadlines: number[];
  disposed: number;
}

function toyEngine(fns: Record<string, ToyFn>, traits: EngineDescriptor['traits'] = {}): Toy {
  const toy: Toy = { deadlines: [], disposed: 0, descriptor: undefined as unknown as EngineDescriptor };
  toy.descriptor = {
    name: 'toy',
    extensions: ['.toy'],
    traits,
    load: async () => ({
      name: 'toy',
      load: async (req: LoadRequest): Promise<EngineInstance> => {
        const meta = JSON.parse(req.source) as EngineInstance['meta'];
        const inst: EngineInstance = {
          meta,
          exports: Object.keys(fns).map((name) => ({ name, kind: 'function' as const, arity: 0, async: false })),
          call(exportName: string, args: readonly unknown[], deadline: number) {
            toy.deadlines.push(deadline);
            return fns[exportName]!(req, args, deadline);
          },
          memoryBytes: () => 0,
          dispose() {
            toy.disposed++;
          },
          [Symbol.dispose]() {
            inst.dispose();
          },
        };
        return inst;
      },
    }),
  };
  return toy;
}

/** Call host function `name` of the plugin, as an engine's sandbox would. */
function hostFn(req: LoadRequest, name: string): (...args: unknown[]) => unknown {
  const cap = req.capabilities.find((c) => c.path.join('.') === name);
  assert.ok(cap, `no host function ${name}`);
  return cap.fn;
}

async function toyHost(toy: Toy, files: Record<string, string>, capabilities: (host: () => Host) => Record<string, unknown> = () => ({})) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'terrarium-seam-'));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  let host: Host | undefined;
  host = await createHost({
    dir,
    engines: [...builtinEngines, toy.descriptor],
    limits: { callTimeoutMs: 200 },
    capabilities: capabilities(() => host!) as never,
  });
  return {
    host,
    async [Symbol.asyncDispose]() {
      await host!.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('the host guards every engine', () => {
  it('derives the plugin name from the metadata the engine returns, and validates it', async () => {
    const toy = toyEngine({ hi: () => 'hi' });
    await using h = await toyHost(toy, { 'a.toy': '{"name":"renamed"}', 'b.toy': '{"name":"bad name!"}' });
    assert.equal(h.host.get<{ hi(): string }>('renamed').hi(), 'hi');
    const b = h.host.plugins.find((p) => p.file === 'b.toy')!;
    assert.equal(b.status, 'failed');
    assert.equal(b.error?.code, 'ERR_PLUGIN_LOAD');
    assert.match(b.error!.message, /meta\.name "bad name!"/);
    assert.equal(toy.disposed, 1, 'the instance with bad metadata was disposed');
  });

  it('hands the engine its error context and names the export on the errors it raises', async () => {
    const toy = toyEngine({ boom: (req) => { throw new PluginThrownError('boom', errorContext(req)); } });
    await using h = await toyHost(toy, { 'a.toy': '{"name":"named"}' });
    const e = await expectCode(() => h.host.get<{ boom(): void }>('named').boom(), 'ERR_PLUGIN_THROWN');
    assert.equal(e.plugin, 'named');
    assert.equal(e.engine, 'toy');
    assert.equal(e.file, 'a.toy');
    assert.equal(e.exportName, 'boom');
  });

  it('ends re-entry through host functions at 32 nested calls, and the plugin cannot swallow it', async () => {
    let depth = 0;
    let deepest = 0;
    const toy = toyEngine({
      again: (req) => {
        depth++;
        deepest = Math.max(deepest, depth);
        try {
          hostFn(req, 'again')();
        } catch {
          // A plugin that catches the error and carries on.
        } finally {
          depth--;
        }
        return 'survived';
      },
      ok: () => 'ok',
    });
    await using h = await toyHost(toy, { 'r.toy': '{}' }, (host) => ({ again: () => host().get<{ again(): string }>('r').again() }));
    const e = await expectCode(() => h.host.get<{ again(): string }>('r').again(), 'ERR_PLUGIN_STACK');
    assert.equal(e.plugin, 'r');
    assert.equal(deepest, 32);
    await h.host.ready();
    assert.equal(h.host.get<{ ok(): string }>('r').ok(), 'ok', 'a fresh instance serves');
    assert.equal(h.host.plugins[0]!.counters.restarts, 1);
  });

  it('never lets a nested call run past the deadline of the call it is nested in', async () => {
    const toy = toyEngine({
      outer: (req) => hostFn(req, 'inner')(),
      inner: () => 'in',
    });
    await using h = await toyHost(toy, { 'n.toy': '{}' }, (host) => ({ inner: () => host().get<{ inner(): string }>('n').inner() }));
    const start = performance.now();
    assert.equal(h.host.get<{ outer(): string }>('n').outer(), 'in');
    const [outer, inner] = toy.deadlines;
    assert.ok(outer! >= start + 200 && outer! <= performance.now() + 200, 'the outer deadline is callTimeoutMs from its start');
    assert.ok(inner! <= outer!, 'the nested deadline is not later than the outer one');
  });

  it('fails an async call that has not settled by its deadline with ERR_PLUGIN_TIMEOUT and replaces the instance', async () => {
    const toy = toyEngine({ never: () => new Promise(() => {}), ok: () => 'ok' });
    await using h = await toyHost(toy, { 's.toy': '{}' });
    const e = await expectCode(() => h.host.get<{ never(): Promise<void> }>('s').never(), 'ERR_PLUGIN_TIMEOUT');
    assert.equal(e.exportName, 'never');
    assert.match(e.message, /did not settle in time/);
    await h.host.ready();
    assert.equal(h.host.get<{ ok(): string }>('s').ok(), 'ok');
    assert.equal(h.host.plugins[0]!.counters.timeouts, 1);
  });

  it('fails the calls in flight with ERR_PLUGIN_UNAVAILABLE when the instance is disposed', async () => {
    const toy = toyEngine({ never: () => new Promise(() => {}) });
    await using h = await toyHost(toy, { 'w.toy': '{}' });
    const pending = h.host.get<{ never(): Promise<void> }>('w').never();
    await h.host.close();
    const e = await expectCode(() => pending, 'ERR_PLUGIN_UNAVAILABLE');
    assert.match(e.message, /disposed during the call/);
  });

  it('rethrows the first violation from every later return of a broken instance', async () => {
    // The innermost call meets the cap; each outer one catches what its nested call threw and
    // returns normally, yet every one of them fails with that first error.
    const seen: unknown[] = [];
    const toy = toyEngine({
      loop: (req) => {
        try {
          hostFn(req, 'loop')();
        } catch (e) {
          seen.push(e);
        }
        return 'fine';
      },
    });
    await using h = await toyHost(toy, { 'l.toy': '{}' }, (host) => ({ loop: () => host().get<{ loop(): string }>('l').loop() }));
    const e = await expectCode(() => h.host.get<{ loop(): string }>('l').loop(), 'ERR_PLUGIN_STACK');
    assert.equal(seen.length, 32);
    assert.ok(seen.every((x) => x === e), 'every level saw the same first violation');
  });
});

describe('the empty-table trait', () => {
  const fns = { empty: () => [], state: () => ({ state: [] }) };

  it('reads an ambiguous empty table as either an empty list or an empty mapping, in self-tests too', async () => {
    const toy = toyEngine(fns, { emptyTable: 'array' });
    await using h = await toyHost(toy, { 't.toy': JSON.stringify({ tests: { empty: [{ expect: {} }], state: [{ expect: { state: {} } }] } }) });
    const info = h.host.plugins[0]!;
    assert.equal(info.status, 'ready', info.error?.message);
    assert.deepEqual(info.selftests, { passed: 2, failed: 0 });
    assert.deepEqual(h.host.get<{ empty(): unknown }>('t').empty(), []);
  });

  it('keeps [] and {} apart for an engine that tells them apart', async () => {
    const toy = toyEngine(fns);
    await using h = await toyHost(toy, { 't.toy': JSON.stringify({ tests: { empty: [{ expect: {} }] } }) });
    const info = h.host.plugins[0]!;
    assert.equal(info.status, 'failed');
    assert.equal(info.error?.code, 'ERR_SELFTEST');
  });
});
