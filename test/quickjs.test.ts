/** QuickJS engine: the shared conformance suite, then JavaScript-specific behaviour. */
import { runConformance } from './engines/conformance.js';
import { jsFixtures } from './engines/js-fixtures.js';

runConformance({ engine: 'quickjs', ext: '.js', fixtures: jsFixtures, lines: { fail: 8, syntax: 3 } });

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { createHost, type Host } from 'terrarium-plugins';
import { builtinEngines, type EngineDescriptor } from 'terrarium-plugins/engine';
import { loadQuickJS } from '../dist/engines/quickjs/index.js';
import DEBUG_SYNC from '@jitl/quickjs-wasmfile-debug-sync';
import { LIMITS, expectCode, fixtureDir } from './engines/conformance.js';

describe('quickjs sandbox', () => {
  let dir: string;
  let host: Host;
  before(async () => {
    dir = await fixtureDir({
      'probe.js': `
export function globals() {
  return ['require', 'process', 'setImmediate', 'XMLHttpRequest', 'WebAssembly', 'Deno', 'Bun', 'module', 'exports', '__dirname', 'std', 'os']
    .filter((n) => typeof globalThis[n] !== 'undefined');
}
export async function fetchUngranted() { try { await fetch('https://example.com/'); return 'reached'; } catch (e) { return e.code; } }
export async function dynamicImport() { return await import('fs'); }
export function pollute() { Object.prototype.polluted = 'yes'; Array.prototype.evil = 1; return 1; }
export function hostIsFrozen() { return Object.isFrozen(host) && Object.isFrozen(host.kv); }
export function escapeViaFunction() { return typeof Function('return this')().process; }
export function readHostData() { return host.version; }
export function protoLiteral() { return { __proto__: { polluted: 'yes' }, a: 1 }; }
export function protoOwnKey() { return JSON.parse('{"__proto__": {"polluted": "yes"}}'); }
export function classInstance() { class Point { constructor() { this.x = 1; } } return new Point(); }
export function throwingGetter() { return { get boom() { throw new Error('no'); } }; }
export function cycle() { const a = {}; a.a = a; return a; }
export function symbol() { return Symbol('s'); }
export function loneSurrogates(s) { return [s, s.length, '\\ud83d' + 'x']; }
export function bytesIn(b) { return [b instanceof Uint8Array, b.length, b[1]]; }
export function specials() { return [undefined, NaN, -0, Infinity, , 5]; }
export function throwString() { throw 'plain string'; }
`,
      'imports.js': `import fs from 'fs';\nexport function ok() { return 'ok'; }\n`,
      'tamper.js': `export function tamper() { JSON.stringify = () => '{not json'; return { a: 1 }; }\n`,
    });
    host = await createHost({ dir, limits: LIMITS, capabilities: { version: '9.9', kv: { get: () => 1 } } });
  });
  after(async () => {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  });
  const probe = () => host.get<Record<string, (...a: unknown[]) => unknown>>('probe');

  it('has no ambient fs, network, process, timers, require or module access', async () => {
    assert.deepEqual(probe().globals!(), []);
    // fetch exists, but reaches nothing without a grants.<plugin>.fetch allowlist; timers are bounded by the call's deadline (test/timers.test.ts)
    assert.equal(await probe().fetchUngranted!(), 'ERR_FETCH_DENIED');
    assert.equal(probe().escapeViaFunction!(), 'undefined');
  });

  it('fails to load a plugin that imports a module', () => {
    const p = host.plugins.find((x) => x.name === 'imports');
    assert.equal(p?.status, 'failed');
    assert.equal(p?.error?.code, 'ERR_PLUGIN_LOAD');
    assert.match(p?.error?.message ?? '', /fs/);
  });

  it('rejects a dynamic import', async () => {
    await expectCode(() => probe().dynamicImport!(), 'ERR_PLUGIN_THROWN');
  });

  it('keeps guest prototype changes inside the guest', () => {
    assert.equal(probe().pollute!(), 1);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(([] as unknown as Record<string, unknown>).evil, undefined);
    const out = probe().protoOwnKey!() as object;
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('binds capabilities into a frozen host global with plain data', () => {
    assert.equal(probe().hostIsFrozen!(), true);
    assert.equal(probe().readHostData!(), '9.9');
  });

  it('refuses results that are not plain data, naming the export and the path', async () => {
    for (const fn of ['protoLiteral', 'classInstance', 'cycle', 'symbol']) {
      const e = await expectCode(() => probe()[fn]!(), 'ERR_MARSHAL');
      assert.match(e.message, new RegExp(`return value of ${fn}`));
    }
    const e = await expectCode(() => probe().throwingGetter!(), 'ERR_MARSHAL');
    assert.match(e.message, /\$\.boom/);
  });

  it('copies lone surrogates, Uint8Array and the values JSON cannot carry', () => {
    assert.deepEqual(probe().loneSurrogates!('a\ud800b'), ['a\ud800b', 3, '\ud83dx']);
    assert.deepEqual(probe().bytesIn!(new Uint8Array([7, 8, 9])), [true, 3, 8]);
    const out = probe().specials!() as unknown[];
    assert.equal(out.length, 6);
    assert.equal(out[0], undefined);
    assert.ok(Number.isNaN(out[1]));
    assert.ok(Object.is(out[2], -0));
    assert.equal(out[3], Infinity);
    assert.ok(4 in out && out[4] === undefined);
    assert.equal(out[5], 5);
  });

  it('reports a thrown string as ERR_PLUGIN_THROWN with that string', async () => {
    const e = await expectCode(() => probe().throwString!(), 'ERR_PLUGIN_THROWN');
    assert.match(e.message, /plain string/);
  });

  it('copies results exactly even from a plugin that replaced its own JSON built-ins (the codec never uses them)', async () => {
    assert.deepEqual(host.get<{ tamper(): unknown }>('tamper').tamper(), { a: 1 });
    assert.equal(probe().readHostData!(), '9.9');
  });

  it('is not mistaken for a thenable when awaited', async () => {
    const p = probe();
    assert.equal(await p, p);
  });
});

describe('quickjs limits', () => {
  let dir: string;
  let host: Host;
  const release: (() => void)[] = [];
  before(async () => {
    dir = await fixtureDir({
      'bombs.js': `
const keep = [];
export function bytes() { for (;;) keep.push(new Uint8Array(1 << 20)); }
export function bigBuffer() { return new ArrayBuffer(1e9).byteLength; }
export function strings() { for (;;) keep.push('x'.repeat(1 << 16) + keep.length); }
export function doubling() { let s = 'x'; for (;;) { s = s + s; keep.push(s.charCodeAt(s.length - 1)); } }
export function smallObjects() { for (;;) keep.push({ a: keep.length, b: [keep.length] }); }
export function hugeRepeat() { return 'x'.repeat(1 << 29).length; }
export function ok() { return 'ok'; }
`,
      'arrays.js': `
export function joinSparse() { return new Array(2 ** 31).join('').length; }
export function indexOfArrayLike() { return Array.prototype.indexOf.call({ length: 2 ** 40 }, 1); }
export function concatSpreadable() { return [].concat({ length: 2 ** 40, [Symbol.isConcatSpreadable]: true }).length; }
export function viaProxy() { return Array.prototype.includes.call(new Proxy([], {}), 1); }
export function lyingGetter() { let n = 0; return Array.prototype.indexOf.call({ get length() { return n++ ? 2 ** 40 : 1; } }, 1); }
export function ordinary() {
  const a = [3, 1, 2];
  a.sort();
  a.push(4);
  return [a.join('-'), a.indexOf(2), [1, [2, [3]]].flat(2), Array.prototype.slice.call({ length: 2, 0: 'a', 1: 'b' }), [1].concat([2], 3), String([1, 2]), a.map((x) => x * 2)];
}
`,
      'timing.js': `
export function inJob() { Promise.resolve().then(() => { for (;;) {} }); return 'returned'; }
export async function afterAwait() { await host.slow(); for (;;) {} }
export async function neverSettles() { await new Promise(() => {}); }
export async function hostNeverSettles() { return await host.hang(); }
export function catastrophicRegex() { return /(a+)+b/.test('a'.repeat(40)); }
export function ok() { return 'ok'; }
`,
      'deep.js': `
export async function asyncRecurse() { const f = (n) => f(n + 1) + 1; return f(0); }
export function ok() { return 'ok'; }
`,
    });
    host = await createHost({
      dir,
      limits: LIMITS,
      // Bombs get a generous time budget so that they meet the memory cap first even on a loaded
      // machine: what they test is memory containment, not speed.
      pluginLimits: { bombs: { callTimeoutMs: 20_000 } },
      quarantine: { maxViolations: Infinity },
      capabilities: {
        slow: async () => 1,
        hang: () => new Promise<void>((resolve) => release.push(resolve)),
      },
    });
  });
  after(async () => {
    for (const r of release) r();
    await host.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const bomb of ['bytes', 'bigBuffer', 'strings', 'doubling', 'smallObjects', 'hugeRepeat']) {
    it(`contains a memory bomb (${bomb}) with ERR_PLUGIN_MEMORY within the cap, then recovers`, async () => {
      const bombs = host.get<Record<string, () => unknown>>('bombs');
      await expectCode(() => bombs[bomb]!(), 'ERR_PLUGIN_MEMORY');
      await host.ready();
      assert.equal(bombs.ok!(), 'ok');
      const info = host.plugins.find((p) => p.name === 'bombs');
      assert.ok(info && info.memoryBytes <= LIMITS.memoryBytes);
    });
  }

  it('keeps the host process within the sum of the caps plus a constant across repeated bombs', async () => {
    const before = process.memoryUsage().rss;
    const bombs = host.get<Record<string, () => unknown>>('bombs');
    for (let i = 0; i < 6; i++) {
      await expectCode(() => bombs.bytes!(), 'ERR_PLUGIN_MEMORY');
      await host.ready();
    }
    const grown = process.memoryUsage().rss - before;
    assert.ok(grown < 6 * LIMITS.memoryBytes, `rss grew by ${grown} bytes`);
  });

  it('refuses Array built-ins over lengths QuickJS could not interrupt, and leaves ordinary use alone', async () => {
    const arrays = host.get<Record<string, () => unknown>>('arrays');
    for (const fn of ['joinSparse', 'indexOfArrayLike', 'concatSpreadable']) {
      const e = await expectCode(() => arrays[fn]!(), 'ERR_PLUGIN_THROWN');
      assert.match(e.message, /cannot be interrupted/);
    }
    await expectCode(() => arrays.viaProxy!(), 'ERR_PLUGIN_THROWN');
    await expectCode(() => arrays.lyingGetter!(), 'ERR_PLUGIN_THROWN');
    assert.deepEqual(arrays.ordinary!(), ['1-2-3-4', 1, [1, 2, 3], ['a', 'b'], [1, 2, 3], '1,2', [2, 4, 6, 8]]);
  });

  it('ends an endless loop in a promise job with ERR_PLUGIN_TIMEOUT', async () => {
    await expectCode(() => host.get<Record<string, () => unknown>>('timing').inJob!(), 'ERR_PLUGIN_TIMEOUT');
    await host.ready();
  });

  it('ends an endless loop after an await (async continuation) with ERR_PLUGIN_TIMEOUT', async () => {
    await expectCode(() => host.get<Record<string, () => unknown>>('timing').afterAwait!(), 'ERR_PLUGIN_TIMEOUT');
    await host.ready();
  });

  it('fails an async call that can never settle with ERR_PLUGIN_TIMEOUT', async () => {
    await expectCode(() => host.get<Record<string, () => unknown>>('timing').neverSettles!(), 'ERR_PLUGIN_TIMEOUT');
    await host.ready();
  });

  it('bounds an async call waiting on a host promise that never settles', async () => {
    await expectCode(() => host.get<Record<string, () => unknown>>('timing').hostNeverSettles!(), 'ERR_PLUGIN_TIMEOUT');
    await host.ready();
    assert.equal(host.get<Record<string, () => unknown>>('timing').ok!(), 'ok');
  });

  it('interrupts catastrophic regex backtracking', async () => {
    await expectCode(() => host.get<Record<string, () => unknown>>('timing').catastrophicRegex!(), 'ERR_PLUGIN_TIMEOUT');
    await host.ready();
  });

  it('ends recursion in an async export with ERR_PLUGIN_STACK and closes cleanly afterwards', async () => {
    await expectCode(() => host.get<Record<string, () => unknown>>('deep').asyncRecurse!(), 'ERR_PLUGIN_STACK');
    await host.ready();
    assert.equal(host.get<Record<string, () => unknown>>('deep').ok!(), 'ok');
  });
});

describe('quickjs under the host\'s guard', () => {
  it('stops the guest at its next host call once the host broke the instance (re-entry cap met in a nested call the plugin caught)', async () => {
    const dir = await fixtureDir({
      'r.js': `
export function again(n) {
  try { host.again(n + 1); } catch {}
  host.after(n);
  return 'survived';
}
export function ok() { return 'ok'; }
`,
    });
    const after: unknown[] = [];
    let host: Host | undefined;
    host = await createHost({
      dir,
      limits: LIMITS,
      capabilities: { again: (n: unknown) => host!.get<{ again(n: unknown): string }>('r').again(n), after: (n: unknown) => void after.push(n) },
    });
    try {
      const e = await expectCode(() => host!.get<{ again(n: number): string }>('r').again(1), 'ERR_PLUGIN_STACK');
      assert.equal(e.exportName, 'again');
      assert.deepEqual(after, [], 'no host function ran once the host had stopped the instance');
      await host.ready();
      assert.equal(host.get<{ ok(): string }>('r').ok(), 'ok', 'a fresh instance serves');
    } finally {
      await host.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('quickjs handle hygiene', () => {
  it('frees every handle on dispose, including after errors and async calls (debug build leak check)', async () => {
    const source = `
export const meta = { name: 'leaky' };
export function echo(x) { return x; }
export function fail() { throw new Error('x'); }
export async function viaHost(k) { return await host.kv.get(k); }
export function bad() { return () => 1; }
`;
    const inst = await loadQuickJS(
      {
        path: '/virtual/leaky.js',
        file: 'leaky.js',
        defaultName: 'leaky',
        source,
        limits: { ...LIMITS, memoryBytes: 64 * 1024 * 1024, loadTimeoutMs: 20000, callTimeoutMs: 20000 },
        capabilities: [{ path: ['kv', 'get'], fn: async (k: unknown) => `v:${String(k)}` }],
        data: {},
        config: () => ({ a: 1 }),
        log: () => {},
      },
      // The variant's types describe its CommonJS entry; under ESM the default export is the variant.
      DEBUG_SYNC as unknown as Parameters<typeof loadQuickJS>[1],
    );
    assert.deepEqual(inst.call('echo', [{ a: [1, 'x', new Uint8Array([1])] }]), { a: [1, 'x', new Uint8Array([1])] });
    assert.throws(() => inst.call('fail', []));
    assert.throws(() => inst.call('bad', []));
    assert.equal(await inst.call('viaHost', ['k']), 'v:k');
    inst.dispose();
    assert.equal(inst.leakCheck(), false);
  });
});

describe('host options', () => {
  it('rejects bad options with ERR_OPTIONS', async () => {
    await expectCode(() => createHost({}), 'ERR_OPTIONS');
    await expectCode(() => createHost({ dir: '/definitely/not/here' }), 'ERR_OPTIONS');
    await expectCode(() => createHost({ dir: '.', limits: { callTimeoutMs: -1 } }), 'ERR_OPTIONS');
    await expectCode(() => createHost({ dir: '.', limits: { memoryBytes: 1024 } }), 'ERR_OPTIONS');
    await expectCode(() => createHost({ dir: '.', limits: { bogus: 1 } as never }), 'ERR_OPTIONS');
    await expectCode(() => createHost({ dir: '.', colour: 'red' } as never), 'ERR_OPTIONS');
    await expectCode(() => createHost({ dir: '.', capabilities: { 'not an identifier': () => 1 } }), 'ERR_OPTIONS');
    await expectCode(() => createHost({ files: ['plugin.txt'] }), 'ERR_OPTIONS');
    await expectCode(() => createHost({ dir: '.', capabilities: { config: () => 1 } }), 'ERR_OPTIONS');
    const e = await expectCode(() => createHost({ dir: '.', capabilities: { db: { opened: new Date() } } }), 'ERR_OPTIONS');
    assert.match(e.message, /host\.db\.opened/);
    const c = await expectCode(() => createHost({ dir: '.', config: { x: { hook: () => 1 } } }), 'ERR_OPTIONS');
    assert.match(c.message, /host\.config\.hook/);
  });

  it('applies per-plugin limit overrides', async () => {
    const dir = await fixtureDir({ 'slow.js': 'export function spin() { for (;;) {} }\n', 'fast.js': 'export function spin() { for (;;) {} }\n' });
    await using host = await createHost({ dir, limits: { callTimeoutMs: 2000 }, pluginLimits: { fast: { callTimeoutMs: 20 } } });
    const e = await expectCode(() => host.get<{ spin(): void }>('fast').spin(), 'ERR_PLUGIN_TIMEOUT');
    assert.match(e.message, /20 ms/);
    await rm(dir, { recursive: true, force: true });
  });

  it('ends recursion with ERR_PLUGIN_STACK at the largest stack budget too, never a host stack overflow', async () => {
    const dir = await fixtureDir({ 'deep.js': 'function f(n) { return f(n + 1) + 1; }\nexport function r() { return f(0); }\n' });
    await using host = await createHost({ dir, limits: { stackBytes: 4 * 1024 * 1024 } });
    await expectCode(() => host.get<{ r(): number }>('deep').r(), 'ERR_PLUGIN_STACK');
    await expectCode(() => createHost({ dir, limits: { stackBytes: 8 * 1024 * 1024 } }), 'ERR_OPTIONS');
    await rm(dir, { recursive: true, force: true });
  });

  it('fails the second of two plugins with the same name, keeps the first', async () => {
    const dir = await fixtureDir({
      'a.js': "export const meta = { name: 'same' }; export function who() { return 'a'; }\n",
      'b.js': "export const meta = { name: 'same' }; export function who() { return 'b'; }\n",
    });
    await using host = await createHost({ dir });
    assert.equal(host.get<{ who(): string }>('same').who(), 'a');
    const b = host.plugins.find((p) => p.file === 'b.js');
    assert.equal(b?.status, 'failed');
    assert.equal(b?.error?.code, 'ERR_PLUGIN_LOAD');
    assert.match(b?.error?.message ?? '', /duplicate/);
    await rm(dir, { recursive: true, force: true });
  });

  it('fails only the plugins of an engine that cannot start', async () => {
    const broken: EngineDescriptor = {
      name: 'broken',
      extensions: ['.brk'],
      load: async () => {
        throw new Error('no such runtime');
      },
    };
    const dir = await fixtureDir({ 'a.brk': 'whatever', 'b.js': 'export function ok() { return 1; }\n' });
    await using host = await createHost({ dir, engines: [...builtinEngines, broken] });
    const a = host.plugins.find((p) => p.file === 'a.brk');
    assert.equal(a?.status, 'failed');
    assert.equal(a?.error?.code, 'ERR_PLUGIN_LOAD');
    assert.match(a?.error?.message ?? '', /broken engine could not start: no such runtime/);
    assert.equal(host.get<{ ok(): number }>('b').ok(), 1);
    await using plain = await createHost({ dir });
    assert.deepEqual(plain.plugins.map((p) => p.file), ['b.js'], 'engines are per host: another host does not see .brk');
    await rm(dir, { recursive: true, force: true });
  });

  it('checks each plugin\'s limits against its engine\'s declared traits', async () => {
    const dir = await fixtureDir({ 'small.lua': 'return { one = function() return 1 end }\n' });
    await using lua = await createHost({ dir, limits: { memoryBytes: 8 * 1024 * 1024 } });
    assert.equal(lua.get<{ one(): number }>('small').one(), 1, 'Lua declares no 16 MiB floor');
    const js = await fixtureDir({ 'small.js': 'export function one() { return 1; }\n' });
    const e = await expectCode(() => createHost({ dir: js, limits: { memoryBytes: 8 * 1024 * 1024 } }), 'ERR_OPTIONS');
    assert.match(e.message, /quickjs engine needs at least 16 MiB/);
    await rm(dir, { recursive: true, force: true });
    await rm(js, { recursive: true, force: true });
  });

  it('refuses calls after close with ERR_PLUGIN_UNAVAILABLE', async () => {
    const dir = await fixtureDir({ 'x.js': 'export function ok() { return 1; }\n' });
    const host = await createHost({ dir });
    const x = host.get<{ ok(): number }>('x');
    assert.equal(x.ok(), 1);
    await host.close();
    await expectCode(() => x.ok(), 'ERR_PLUGIN_UNAVAILABLE');
    assert.equal(host.plugins[0]?.status, 'closed');
    await rm(dir, { recursive: true, force: true });
  });
});
