/**
 * The QuickJS direct path (issue 15): arguments built in the guest through the raw FFI and results
 * walked from the host must keep every marshalling rule of the wire codec: plain copies with the
 * ordinary prototypes, no plugin setter or getter run except a result's own getters (once), the
 * codec's refusals with their paths, and the call's deadline while a result is read.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadQuickJS } from '../dist/engines/quickjs/index.js';
import { type GuestGate, createGate } from 'terrarium-plugins/engine';
import { DEFAULT_LIMITS } from 'terrarium-plugins';

type Instance = Awaited<ReturnType<typeof loadQuickJS>>;

function load(source: string, limits: Partial<typeof DEFAULT_LIMITS> = {}, grants?: { bigint?: boolean }, gate?: GuestGate): Promise<Instance> {
  return loadQuickJS({
    path: '/virtual/p.js',
    file: 'p.js',
    defaultName: 'p',
    source,
    limits: { ...DEFAULT_LIMITS, callTimeoutMs: 2000, ...limits },
    capabilities: [],
    data: {},
    config: () => ({}),
    log: () => {},
    grants,
    gate,
  });
}

const REQ = { method: 'GET', path: '/a', headers: { host: 'x', 'x-y': 'z', accept: '*/*' } };

function expectCode(fn: () => unknown, code: string): Error & { code: string } {
  try {
    fn();
  } catch (e) {
    assert.equal((e as { code?: string }).code, code, (e as Error).message);
    return e as Error & { code: string };
  }
  assert.fail(`expected ${code}`);
}

describe('quickjs direct path: arguments', () => {
  it('gives the plugin ordinary objects and arrays with writable, enumerable, configurable properties', async () => {
    const inst = await load(`
export function f(req) {
  const d = Object.getOwnPropertyDescriptor(req.headers, 'host');
  req.headers.host = 'changed';
  req.extra = [1];
  req.list.push(3);
  return {
    objectProto: Object.getPrototypeOf(req) === Object.prototype && Object.getPrototypeOf(req.headers) === Object.prototype,
    arrayProto: Array.isArray(req.list) && Object.getPrototypeOf(req.list) === Array.prototype,
    d: [d.writable, d.enumerable, d.configurable],
    host: req.headers.host,
    keys: Object.keys(req),
    json: JSON.stringify(req),
  };
}`);
    const arg = { ...REQ, list: [1, 2] };
    const r = inst.call('f', [arg]) as Record<string, unknown>;
    assert.equal(r.objectProto, true);
    assert.equal(r.arrayProto, true);
    assert.deepEqual(r.d, [true, true, true]);
    assert.equal(r.host, 'changed');
    assert.deepEqual(r.keys, ['method', 'path', 'headers', 'list', 'extra']);
    assert.equal(r.json, JSON.stringify({ ...arg, headers: { ...REQ.headers, host: 'changed' }, list: [1, 2, 3], extra: [1] }));
    assert.deepEqual(arg, { ...REQ, list: [1, 2] }, 'the host value is untouched');
    inst.dispose();
  });

  it('runs no setter a plugin put on Object.prototype or Array.prototype while it builds arguments', async () => {
    const inst = await load(`
let fired = 0;
Object.defineProperty(Object.prototype, 'method', { set() { fired++; }, configurable: true });
Object.defineProperty(Object.prototype, 'host', { set() { fired++; }, configurable: true });
Object.defineProperty(Array.prototype, '0', { set() { fired++; }, configurable: true });
export function f(req) { return { fired, method: Object.getOwnPropertyDescriptor(req, 'method').value, host: req.headers.host, first: req.list[0] }; }`);
    assert.deepEqual(inst.call('f', [{ ...REQ, list: ['a'] }]), { fired: 0, method: 'GET', host: 'x', first: 'a' });
    inst.dispose();
  });

  it('keeps a reference to an argument across calls as the plugin\'s own copy', async () => {
    const inst = await load(`
let kept;
export function keep(req) { kept = req; kept.headers.seen = 'yes'; }
export function later() { return kept; }`);
    const arg = { ...REQ };
    inst.call('keep', [arg]);
    inst.call('keep', [{ method: 'POST', path: '/b', headers: {} }]);
    assert.deepEqual(inst.call('later', []), { method: 'POST', path: '/b', headers: { seen: 'yes' } });
    assert.equal((arg.headers as Record<string, string>).seen, undefined);
    inst.dispose();
  });

  it('carries strings the C string API cannot (NUL, lone surrogates), Uint8Array, undefined, -0 and __proto__ keys exactly', async () => {
    const inst = await load(`export function echo(x) { return x; }`);
    const values = [
      { s: 'a\u0000b', lone: '\ud800x', pair: '🦀', latin: 'é\u00ff' },
      { u: undefined, z: -0, n: NaN, i: -Infinity, b: new Uint8Array([1, 255]) },
      JSON.parse('{"__proto__": {"p": 1}, "a": [1, 2, 3]}') as unknown,
      [undefined, null, [[]], {}],
      Array.from({ length: 2000 }, (_, i) => i),
    ];
    for (const v of values) assert.deepEqual(inst.call('echo', [v]), v);
    // A hole crosses as an own undefined element (the rule table: holes become undefined).
    // eslint-disable-next-line no-sparse-arrays
    assert.deepEqual(inst.call('echo', [[1, , 3]]), [1, undefined, 3]);
    const proto = inst.call('echo', [JSON.parse('{"__proto__": {"p": 1}}')]) as object;
    assert.equal(Object.getPrototypeOf(proto), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(proto, '__proto__')?.value, { p: 1 });
    inst.dispose();
  });
});

describe('quickjs direct path: results', () => {
  it('runs each getter of a result once (then: once for the thenable check and once as a property, as the codec does)', async () => {
    const inst = await load(`
let reads = 0, thens = 0;
export function f() { return { get a() { reads++; return 'A'; }, get then() { thens++; return undefined; }, nested: { get b() { reads++; return [1]; } } }; }
export function counts() { return [reads, thens]; }`);
    assert.deepEqual(inst.call('f', []), { a: 'A', then: undefined, nested: { b: [1] } });
    assert.deepEqual(inst.call('counts', []), [2, 2]);
    inst.dispose();
  });

  it('refuses what the codec refuses, with its path and reason', async () => {
    const gate = createGate();
    const inst = await load(`
class Point { constructor() { this.x = 1; } }
const cyc = { a: 1 }; cyc.self = cyc;
let deep = 'leaf'; for (let i = 0; i < 70; i++) deep = [deep];
export function fn() { return { headers: ['a', 'b', () => 1] }; }
export function proxy() { return { p: new Proxy({}, { get() { throw new Error('trap ran'); } }) }; }
export function instance() { return { list: [new Point()] }; }
export function cycle() { return cyc; }
export function tooDeep() { return deep; }
export function symbol() { return { 'x-y': Symbol('s') }; }
export function bigint() { return [1n]; }
export function getterThrows() { return { ok: 1, get bad() { throw new Error('getter exploded'); } }; }
export function map() { return new Map(); }`, {}, { bigint: true }, gate);
    const cases: [string, RegExp][] = [
      ['fn', /a function at \$\.headers\[2\]/],
      ['proxy', /a Proxy at \$\.p\b/],
      ['instance', /a Point instance at \$\.list\[0\]/],
      ['cycle', /a cycle at \$\.self/],
      ['tooDeep', /deeper than 64 levels/],
      ['symbol', /a symbol at \$\["x-y"\]/],
      ['bigint', /a bigint at \$\[0\]/],
      ['getterThrows', /getter threw \(getter exploded\) at \$\.bad/],
      ['map', /a Map instance at \$/],
    ];
    for (const [name, re] of cases) {
      const e = expectCode(() => inst.call(name, []), 'ERR_MARSHAL');
      assert.match(e.message, re, name);
      assert.match(e.message, new RegExp(`return value of ${name}`), name);
    }
    assert.equal(gate.broken, undefined, 'a refusal does not break the instance');
    inst.dispose();
  });

  it('reads holes as undefined without running an Array.prototype getter', async () => {
    const inst = await load(`
let ran = 0;
Object.defineProperty(Array.prototype, '1', { get() { ran++; return 'from proto'; }, configurable: true });
export function f() { const a = [1]; a[2] = 3; return { a, ran }; }
export function count() { return ran; }`);
    assert.deepEqual(inst.call('f', []), { a: [1, undefined, 3], ran: 0 });
    assert.equal(inst.call('count', []), 0);
    inst.dispose();
  });

  it('reads results exactly: strings with NUL and lone surrogates, wide strings, numbers JSON cannot carry', async () => {
    const inst = await load(`export function f() { return { s: 'a\\u0000b', lone: '\\udc00', wide: '日本語 🦀', latin: 'caf\\u00e9', long: 'x'.repeat(100000), n: [NaN, -0, Infinity, 2 ** 40 + 0.5], u: undefined, b: new Uint8Array([0, 9]) }; }`);
    assert.deepEqual(inst.call('f', []), {
      s: 'a\u0000b',
      lone: '\udc00',
      wide: '日本語 🦀',
      latin: 'café',
      long: 'x'.repeat(100000),
      n: [NaN, -0, Infinity, 2 ** 40 + 0.5],
      u: undefined,
      b: new Uint8Array([0, 9]),
    });
    inst.dispose();
  });

  it('stops a result getter that never returns with ERR_PLUGIN_TIMEOUT (the call\'s deadline covers the read)', async () => {
    const gate = createGate();
    const inst = await load(`export function f() { return { get slow() { for (;;) {} } }; }`, { callTimeoutMs: 200 }, undefined, gate);
    expectCode(() => inst.call('f', []), 'ERR_PLUGIN_TIMEOUT');
    assert.equal(gate.broken?.code, 'ERR_PLUGIN_TIMEOUT');
    inst.dispose();
  });

  it('reads a result whose getter calls back into the same plugin (re-entrant read)', async () => {
    let inst: Instance | undefined;
    inst = await loadQuickJS({
      path: '/virtual/p.js',
      file: 'p.js',
      defaultName: 'p',
      source: `
export function inner() { return { deep: { x: [1, 2] }, s: 'in' }; }
export function outer() { return { a: 1, get b() { return host.again(); }, c: [3, { d: 'out' }] }; }
export function refused() { return { x: { get b() { return host.again(); }, c: [() => 1] } }; }`,
      limits: { ...DEFAULT_LIMITS, callTimeoutMs: 2000 },
      capabilities: [{ path: ['again'], fn: () => inst!.call('inner', []) }],
      data: {},
      config: () => ({}),
      log: () => {},
    });
    assert.deepEqual(inst.call('outer', []), { a: 1, b: { deep: { x: [1, 2] }, s: 'in' }, c: [3, { d: 'out' }] });
    // The outer read's path survives the inner read.
    assert.match(expectCode(() => inst!.call('refused', []), 'ERR_MARSHAL').message, /a function at \$\.x\.c\[0\]/);
    inst.dispose();
  });

  it('starts an async call for a thenable result and copies what it resolves to', async () => {
    const inst = await load(`export async function f(req) { return { got: req.headers.host }; }
export function thenable() { return { then(resolve) { resolve({ via: 'then' }); } }; }`);
    assert.deepEqual(await inst.call('f', [REQ]), { got: 'x' });
    assert.deepEqual(await inst.call('thenable', []), { via: 'then' });
    inst.dispose();
  });
});
