/**
 * A third engine, written outside the package from `terrarium-plugins/engine` alone
 * (test/engines/table-engine.ts), passes the shared conformance suite: the engine kit is enough.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { builtinEngines } from 'terrarium-plugins/engine';
import { runConformance, type FixtureName } from './engines/conformance.js';
import { tableEngineDescriptor } from './engines/table-engine.js';

const j = (v: unknown) => JSON.stringify(v, null, 2);
const fn = (params: string[], body?: unknown, async = false) => ({ params, ...(body === undefined ? {} : { body }), ...(async ? { async } : {}) });
const ok = fn([], 'ok');

/** The conformance fixtures as table plugins (see test/engines/conformance.ts for the contract). */
const tableFixtures: Record<FixtureName, string> = {
  basic: j({
    meta: { name: 'basic', version: '1.2.3', apiVersion: 1, description: 'conformance' },
    state: { n: 0 },
    exports: {
      echo: fn(['x'], { var: 'x' }),
      add: fn(['a', 'b'], { '+': [{ var: 'a' }, { var: 'b' }] }),
      concat: fn(['a', 'b'], { cat: [{ var: 'a' }, { var: 'b' }] }),
      counter: fn([], { set: ['n', { '+': [{ get: 'n' }, 1] }] }),
      fail: fn(['msg'], { throw: { var: 'msg' } }),
      returnFunction: fn([], { fn: 1 }),
      noop: fn([]),
      throwTable: fn([], { throw: { quote: { code: 42 } } }),
    },
  }),
  caps: j({
    exports: {
      readKv: fn(['k'], { host: ['kv.get', { var: 'k' }] }),
      readConfig: fn([], { config: true }),
      logIt: fn(['msg'], { log: ['info', { var: 'msg' }] }),
      printIt: fn(['msg'], { log: ['info', { var: 'msg' }] }),
      fetchUser: fn(['id'], { host: ['users.fetch', { var: 'id' }] }, true),
      hostThrows: fn([], { host: ['fail'] }),
      passFunction: fn([], { host: ['kv.set', 'k', { fn: 1 }] }),
      // The language has no way to write to `host`: there is nothing to try.
      mutateHost: fn([], 'the host is not a value here'),
    },
  }),
  spin: j({ state: { ticks: 0 }, exports: { spin: fn([], { loop: 1 }), ok, tick: fn([], { set: ['ticks', { '+': [{ get: 'ticks' }, 1] }] }) } }),
  recurse: j({
    exports: {
      recurse: fn(['n'], { call: ['recurse', { '+': [{ var: 'n' }, 1] }] }),
      viaHost: fn(['n'], { try: [{ host: ['reenter', { '+': [{ var: 'n' }, 1] }] }, 'caught'] }),
      ok,
    },
  }),
  hog: j({ exports: { hog: fn([], { grow: 1 }), ok } }),
  loadspin: j({ init: { loop: 1 }, exports: { ok } }),
  syntax: '{\n  "exports": {\n    "ok": ]\n  }\n}\n',
  swallow: j({ exports: { swallow: fn([], { try: [{ loop: 1 }, 'escaped'] }) } }),
  badname: j({ meta: { name: 'has spaces!' }, exports: { ok } }),
  fnmeta: j({ meta: { name: 'fnmeta', hook: { fn: 1 } }, exports: { ok } }),
};

runConformance({
  engine: 'table',
  ext: '.table',
  fixtures: tableFixtures,
  lines: { fail: 1, syntax: 3 },
  engines: [...builtinEngines, tableEngineDescriptor],
  skip: {
    'reports a syntax error as ERR_PLUGIN_LOAD with file:line, and loads the others': "Node 20's JSON.parse names no position, so a table syntax error has no line",
    'reports a throw as ERR_PLUGIN_THROWN with its message and file:line': 'JSON keeps no source positions, so a table throw has no line or plugin stack',
  },
});

describe('the engine kit', () => {
  it('builds the table engine from terrarium-plugins/engine alone', async () => {
    const src = await readFile(new URL('./engines/table-engine.ts', import.meta.url), 'utf8');
    const imports = [...src.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
    assert.deepEqual([...new Set(imports)], ['terrarium-plugins/engine']);
  });

  it('does not export the host internals EngineSet and EntryDepth', async () => {
    const kit: Record<string, unknown> = await import('terrarium-plugins/engine');
    assert.equal(kit.EngineSet, undefined);
    assert.equal(kit.EntryDepth, undefined);
    for (const name of ['encodeWire', 'decodeWire', 'classifyValue', 'marshalErrorFrom', 'PluginThrownError', 'PluginTimeoutError', 'loadOrDispose']) {
      assert.equal(typeof kit[name], 'function', name);
    }
  });
});
