/**
 * QuickJS handle ownership: every handle a load or a call creates is freed, in reverse order,
 * also when the load fails half way. The debug build of QuickJS asserts on leaked objects when
 * its runtime is freed and its leak sanitizer reports memory never freed; both are checked.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadQuickJS } from '../dist/engines/quickjs/index.js';
import DEBUG_SYNC from '@jitl/quickjs-wasmfile-debug-sync';
import { DEFAULT_LIMITS } from 'terrarium-plugins';

type Variant = Parameters<typeof loadQuickJS>[1];
// The variant's types describe its CommonJS entry; under ESM the default export is the variant.
const DEBUG = DEBUG_SYNC as unknown as Variant;

function request(source: string) {
  return {
    path: '/virtual/p.js',
    file: 'p.js',
    defaultName: 'p',
    source,
    limits: { ...DEFAULT_LIMITS, memoryBytes: 64 * 1024 * 1024, loadTimeoutMs: 20000, callTimeoutMs: 20000 },
    capabilities: [{ path: ['kv', 'get'], fn: async (k: unknown) => `v:${String(k)}` }],
    data: {},
    config: () => ({}),
    log: () => {},
  };
}

/** Load `source` in the debug build; returns the load error and whether the module leaked. */
async function failingLoad(source: string): Promise<{ error: unknown; leaked: boolean }> {
  let module: { leakCheck(): boolean } | undefined;
  const error = await loadQuickJS(request(source), DEBUG, (m) => (module = m)).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(module, 'the module was created');
  return { error, leaked: module.leakCheck() };
}

describe('quickjs handle lifetimes', () => {
  it('frees every handle when the metadata cannot be copied (load fails after the module ran)', async () => {
    const { error, leaked } = await failingLoad(`export const meta = { name: 'p', bad: () => 1 };\nexport function f() { return 1; }`);
    assert.equal((error as { code?: string }).code, 'ERR_PLUGIN_LOAD');
    assert.equal(leaked, false);
  });

  it('frees every handle when the module throws at load', async () => {
    const { error, leaked } = await failingLoad(`const x = { a: [1, 2] };\nthrow new Error('no');\nexport function f() { return x; }`);
    assert.equal((error as { code?: string }).code, 'ERR_PLUGIN_LOAD');
    assert.match((error as Error).message, /no/);
    assert.equal(leaked, false);
  });

  it('frees every handle when top-level await rejects', async () => {
    const { error, leaked } = await failingLoad(`await Promise.reject(new Error('later'));\nexport function f() { return 1; }`);
    assert.equal((error as { code?: string }).code, 'ERR_PLUGIN_LOAD');
    assert.equal(leaked, false);
  });

  it('frees every handle when the source does not parse', async () => {
    const { error, leaked } = await failingLoad(`export function f( {`);
    assert.equal((error as { code?: string }).code, 'ERR_PLUGIN_LOAD');
    assert.equal(leaked, false);
  });

  it('frees every handle of calls with structured values, errors and refusals, and closes without error', async () => {
    const inst = await loadQuickJS(
      request(`
export function echo(x) { return x; }
export function shape(req) { return { method: req.method, n: Object.keys(req.headers).length, h: req.headers }; }
export function fail() { throw new Error('x'); }
export function bad() { return () => 1; }
export async function viaHost(k) { return await host.kv.get(k); }
`),
      DEBUG,
    );
    const req = { method: 'GET', path: '/', headers: { a: '1', b: '2' } };
    assert.deepEqual(inst.call('shape', [req]), { method: 'GET', n: 2, h: { a: '1', b: '2' } });
    assert.deepEqual(inst.call('echo', [[1, 'two', { three: [3] }, null, undefined, -0]]), [1, 'two', { three: [3] }, null, undefined, -0]);
    assert.throws(() => inst.call('fail', []), { code: 'ERR_PLUGIN_THROWN' });
    assert.throws(() => inst.call('bad', []), { code: 'ERR_MARSHAL' });
    assert.equal(await inst.call('viaHost', ['k']), 'v:k');
    inst.dispose();
    assert.equal(inst.closeError, undefined);
    assert.equal(inst.leakCheck(), false);
  });

  it('is idempotent to dispose twice', async () => {
    const inst = await loadQuickJS(request(`export function f() { return 1; }`), DEBUG);
    inst.dispose();
    inst.dispose();
    assert.equal(inst.closeError, undefined);
    assert.equal(inst.leakCheck(), false);
  });
});
