/**
 * The QuickJS glue snapshot and the synchronous load (src/engines/quickjs/snapshot.ts,
 * sync-module.ts): instances copied from one memory image stay isolated from each other, get their
 * own Math.random seed, keep the memory cap (also when the image is larger than a fresh memory),
 * the stack limit and the interrupt; `loadSync` gives an instance that behaves as an async-loaded
 * one that parsed its glue.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadQuickJS, loadQuickJSSync, quickjsEngine, resetSnapshot, snapshotStatus } from '../dist/engines/quickjs/index.js';
import { DEFAULT_LIMITS } from 'terrarium-plugins';
import type { LoadRequest } from '../dist/engine.js';
import { createGate } from 'terrarium-plugins/engine';

type Instance = ReturnType<typeof loadQuickJSSync>;
const MiB = 1024 * 1024;

function request(source: string, limits: Partial<typeof DEFAULT_LIMITS> = {}, extra: Partial<LoadRequest> = {}): LoadRequest {
  return {
    path: '/virtual/p.js',
    file: 'p.js',
    defaultName: 'p',
    source,
    limits: { ...DEFAULT_LIMITS, callTimeoutMs: 5000, loadTimeoutMs: 5000, ...limits },
    capabilities: [],
    data: {},
    config: () => ({}),
    log: () => {},
    ...extra,
  };
}

function expectCode(fn: () => unknown, code: string): Error & { code: string } {
  try {
    fn();
  } catch (e) {
    assert.equal((e as { code?: string }).code, code, (e as Error).message);
    return e as Error & { code: string };
  }
  assert.fail(`expected ${code}`);
}

/** Load `count` instances from the snapshot, disposed at the end of the test. */
function several(source: string, count: number, limits: Partial<typeof DEFAULT_LIMITS> = {}): Instance[] {
  const out: Instance[] = [];
  for (let i = 0; i < count; i++) out.push(loadQuickJSSync(request(source, limits)));
  return out;
}

const ALLOC = `export function grow(mb) { const parts = []; for (let i = 0; i < mb; i++) parts.push(new Uint8Array(1024 * 1024).fill(i)); return parts.length; }`;

describe('quickjs snapshot: the image', () => {
  it('is in use in this build: taken at startup, smaller than a fresh memory, and instances come from it', () => {
    const status = snapshotStatus();
    assert.equal(status.problem, '');
    assert.ok(status.imageBytes > 0 && status.imageBytes < 4 * MiB, `image of ${status.imageBytes} bytes`);
    using inst = loadQuickJSSync(request(`export function f() { return 1; }`));
    assert.equal(inst.fromSnapshot, true);
    assert.equal(inst.call('f', [], Infinity), 1);
  });
});

describe('quickjs snapshot: isolation', () => {
  it('globals, prototypes and glue state set in one instance are not in another', () => {
    const src = `
      export function set(v) { globalThis.mark = v; Array.prototype.extra = v; return String(globalThis.mark); }
      export function get() { return [typeof globalThis.mark, typeof [].extra, typeof host, typeof console.log]; }`;
    const [a, b] = several(src, 2);
    try {
      assert.equal(a!.call('set', ['A'], Infinity), 'A');
      assert.deepEqual(b!.call('get', [], Infinity), ['undefined', 'undefined', 'object', 'function']);
      assert.deepEqual(a!.call('get', [], Infinity), ['string', 'string', 'object', 'function']);
    } finally {
      for (const i of [a, b]) i!.dispose();
    }
  });

  it('each instance has its own memory: filling one leaves the others as they were', () => {
    const [a, b] = several(ALLOC + `\nexport function probe() { return [1, 2, 3].map((x) => x * 2).join(','); }`, 2);
    try {
      assert.equal(a!.call('grow', [20], Infinity), 20);
      assert.ok(a!.memoryBytes() > b!.memoryBytes(), `${a!.memoryBytes()} vs ${b!.memoryBytes()}`);
      assert.equal(b!.call('probe', [], Infinity), '2,4,6');
    } finally {
      for (const i of [a, b]) i!.dispose();
    }
  });

  it('Math.random differs between instances built back to back (each copy is reseeded)', () => {
    const insts = several(`export function draw() { return [Math.random(), Math.random()]; }`, 6);
    try {
      const draws = insts.map((i) => JSON.stringify(i.call('draw', [], Infinity)));
      assert.equal(new Set(draws).size, draws.length, draws.join('\n'));
      for (const d of draws) for (const n of JSON.parse(d) as number[]) assert.ok(n >= 0 && n < 1);
    } finally {
      for (const i of insts) i.dispose();
    }
  });
});

describe('quickjs snapshot: limits on a snapshot instance', () => {
  it('the memory cap holds: an allocation past memoryBytes is ERR_PLUGIN_MEMORY and the memory stays under the cap', () => {
    const gate = createGate();
    using inst = loadQuickJSSync(request(ALLOC, { memoryBytes: 24 * MiB }, { gate }));
    assert.equal(inst.fromSnapshot, true);
    expectCode(() => inst.call('grow', [64], Infinity), 'ERR_PLUGIN_MEMORY');
    assert.ok(inst.memoryBytes() <= 24 * MiB);
    assert.equal(gate.broken?.code, 'ERR_PLUGIN_MEMORY');
  });

  it('a fresh instance starts below 16 MiB (the lowered module minimum) and still grows to what the cap allows', () => {
    const gate = createGate();
    using inst = loadQuickJSSync(request(ALLOC, { memoryBytes: 32 * MiB }, { gate }));
    assert.equal(inst.fromSnapshot, true);
    assert.ok(inst.memoryBytes() < 16 * MiB, `an idle instance reserves ${inst.memoryBytes()} bytes`);
    // 20 MiB of typed arrays: past the start and past the module's declared 16 MiB, under the cap.
    assert.equal(inst.call('grow', [20], Infinity), 20);
    assert.ok(inst.memoryBytes() > 20 * MiB && inst.memoryBytes() <= 32 * MiB, `grew to ${inst.memoryBytes()} bytes`);
    assert.equal(gate.broken, undefined);
  });

  it('an endless loop is interrupted at the call deadline (ERR_PLUGIN_TIMEOUT)', () => {
    const gate = createGate();
    using inst = loadQuickJSSync(request(`export function spin() { for (;;) {} }`, { callTimeoutMs: 100 }, { gate }));
    assert.equal(inst.fromSnapshot, true);
    expectCode(() => inst.call('spin', [], performance.now() + 100), 'ERR_PLUGIN_TIMEOUT');
    assert.equal(gate.broken?.code, 'ERR_PLUGIN_TIMEOUT');
  });

  it("the plugin's own stackBytes applies, not the template's (256 KiB): deeper with 2 MiB, ERR_PLUGIN_STACK with 64 KiB", () => {
    // Measured on this build: at most ~290 frames fit in 64 KiB, ~1170 in 256 KiB, ~2080 in 2 MiB
    // (there V8's own stack ends first); 1500 tells the template's budget from the plugin's.
    const src = `export function deep(n) { const f = (k, a, b, c, d, e) => (k === 0 ? 0 : 1 + f(k - 1, a, b, c, d, e)); return f(n, 1, 2, 3, 4, 5); }`;
    {
      using small = loadQuickJSSync(request(src, { stackBytes: 64 * 1024 }));
      expectCode(() => small.call('deep', [1500], Infinity), 'ERR_PLUGIN_STACK');
    }
    {
      using fits = loadQuickJSSync(request(src, { stackBytes: 2 * MiB }));
      assert.equal(fits.fromSnapshot, true);
      assert.equal(fits.call('deep', [1500], Infinity), 1500);
    }
    {
      // The template's own budget is too small for this depth: the test can tell the two apart.
      using tmpl = loadQuickJSSync(request(src, { stackBytes: DEFAULT_LIMITS.stackBytes }));
      expectCode(() => tmpl.call('deep', [1500], Infinity), 'ERR_PLUGIN_STACK');
    }
  });
});

describe('quickjs snapshot: an image larger than a fresh memory', () => {
  after(() => {
    assert.equal(resetSnapshot(), '');
  });

  it('is used only under a cap it fits in, and the cap holds either way', () => {
    // The template allocates 20 MiB more after its glue, through emscripten's own heap growth.
    assert.equal(resetSnapshot({ extraBytes: 20 * MiB }), '');
    const { wasmPages } = snapshotStatus();
    assert.ok(wasmPages * 65536 > 24 * MiB, `image of ${wasmPages} pages`);
    {
      // 24 MiB: the image does not fit, the glue is parsed instead; the plugin still loads and keeps its cap.
      using small = loadQuickJSSync(request(ALLOC, { memoryBytes: 24 * MiB }));
      assert.equal(small.fromSnapshot, false);
      assert.ok(small.memoryBytes() <= 24 * MiB);
      expectCode(() => small.call('grow', [64], Infinity), 'ERR_PLUGIN_MEMORY');
      assert.ok(small.memoryBytes() <= 24 * MiB);
    }
    {
      // 64 MiB: the image fits; the memory starts at its size and the cap still ends an allocation past it.
      using big = loadQuickJSSync(request(ALLOC, { memoryBytes: 64 * MiB }));
      assert.equal(big.fromSnapshot, true);
      assert.ok(big.memoryBytes() >= wasmPages * 65536);
      expectCode(() => big.call('grow', [64], Infinity), 'ERR_PLUGIN_MEMORY');
      assert.ok(big.memoryBytes() <= 64 * MiB);
    }
  });
});

describe('quickjs loadSync', () => {
  const PLUGIN = `
    export const meta = { name: 'same', version: '1.2.3' };
    export function echo(v) { return v; }
    export function greet(name) { console.log('hi ' + name); return host.greeting + ', ' + name + ' (' + host.tools.shout(name) + ')'; }
    export function fail() { throw new TypeError('nope'); }
    export async function later(x) { await null; return x * 2; }
    export function shape(a, b = 1) { return { list: [1, 'two', null, { three: 3 }], n: -0.5, s: 'é\u{1F980}' }; }`;

  function req(logs: string[]): LoadRequest {
    return request(PLUGIN, {}, {
      data: { greeting: 'hello' },
      capabilities: [{ path: ['tools', 'shout'], fn: (s: unknown) => String(s).toUpperCase() }],
      log: (level, message) => logs.push(`${level}:${message}`),
    });
  }

  it('is on the engine, and gives what an async load that parses its glue gives', async () => {
    assert.equal(typeof quickjsEngine.loadSync, 'function');
    const syncLogs: string[] = [];
    const asyncLogs: string[] = [];
    const viaSync = quickjsEngine.loadSync!(req(syncLogs)) as Instance;
    assert.equal(resetSnapshot({ disable: true }), 'disabled');
    let viaAsync: Instance | undefined;
    try {
      viaAsync = (await loadQuickJS(req(asyncLogs))) as Instance;
    } finally {
      assert.equal(resetSnapshot(), '');
    }
    try {
      assert.equal(viaSync.fromSnapshot, true);
      assert.equal(viaAsync.fromSnapshot, false);
      assert.deepEqual(viaSync.meta, viaAsync.meta);
      assert.deepEqual(viaSync.exports, viaAsync.exports);
      for (const [name, args] of [['echo', [{ a: [1, 2, { b: 'c' }] }]], ['greet', ['ann']], ['shape', []]] as const) {
        assert.deepEqual(viaSync.call(name, args, Infinity), viaAsync.call(name, args, Infinity), name);
      }
      assert.deepEqual(await viaSync.call('later', [21], performance.now() + 5000), 42);
      assert.deepEqual(await viaAsync.call('later', [21], performance.now() + 5000), 42);
      const e1 = expectCode(() => viaSync.call('fail', [], Infinity), 'ERR_PLUGIN_THROWN');
      const e2 = expectCode(() => viaAsync.call('fail', [], Infinity), 'ERR_PLUGIN_THROWN');
      assert.equal(e1.message, e2.message);
      assert.deepEqual(syncLogs, asyncLogs);
      assert.deepEqual(syncLogs, ['info:hi ann']);
    } finally {
      viaSync.dispose();
      viaAsync.dispose();
    }
  });

  it('reports a plugin load error as the async load does (ERR_PLUGIN_LOAD with the line)', async () => {
    const bad = request(`export function f() { return 1; }\nthrow new Error('at load');`);
    const e1 = expectCode(() => loadQuickJSSync(bad), 'ERR_PLUGIN_LOAD');
    const e2 = await loadQuickJS(bad).then(
      () => assert.fail('loaded'),
      (e: Error & { code: string }) => e,
    );
    assert.equal(e2.code, 'ERR_PLUGIN_LOAD');
    assert.equal(e1.message, e2.message);
  });

  it('returns an instance at once, inside a synchronous caller (no promise, no await)', () => {
    const built: Instance[] = [];
    const inner = () => {
      const i = loadQuickJSSync(request(`export function f(x) { return x + 1; }`));
      built.push(i);
      return i.call('f', [1], Infinity);
    };
    try {
      assert.equal(inner(), 2);
      assert.equal(built.length, 1);
    } finally {
      for (const i of built) i.dispose();
    }
  });
});
