/**
 * Regression tests for "operations written as syntax stall the host": a loop whose every iteration
 * is one long C loop inside QuickJS (spread, rest, string comparison, ...) reached the interrupt
 * handler only every 10,000 iterations, i.e. after minutes. Each case here would run far past the
 * test's safety timeout on that code; now each ends in ERR_PLUGIN_TIMEOUT and the next call is
 * served. Also: BigInt, which no interrupt can bound, is off unless granted, for code built at run
 * time too.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createHost } from 'terrarium-plugins';
import { DEFAULT_LIMITS } from 'terrarium-plugins';
import { loadQuickJS } from '../dist/engines/quickjs/index.js';

/** Generous: on the code before the fix each loop ran for minutes. */
const SAFETY = { timeout: 120_000 };

/** Run `for (;;) { body }` after `setup` in a fresh host: the call must time out and the next one be served. */
async function expectTimeoutThenServed(setup: string, body: string): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'terrarium-syntax-'));
  try {
    await writeFile(path.join(dir, 'p.js'), `${setup}\nexport function spin() { for (;;) { ${body} } }\nexport function ok() { return 42; }\n`);
    const host = await createHost({
      dir,
      limits: { memoryBytes: 64 * 1024 * 1024, callTimeoutMs: 300, loadTimeoutMs: 60_000 },
      quarantine: { maxViolations: Infinity },
    });
    try {
      await host.ready();
      const p = host.get<{ spin(): void; ok(): number }>('p');
      assert.throws(() => p.spin(), (e: { code?: string }) => e.code === 'ERR_PLUGIN_TIMEOUT');
      await host.ready();
      assert.equal(p.ok(), 42);
    } finally {
      await host.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const ARR = 'const a = new Array(1 << 18).fill(1);';
const OBJ = "const o = {}; for (let i = 0; i < (1 << 16); i++) o['k' + i] = i;";
const STR = "const s = 'x'.repeat(1 << 22), t = 'x'.repeat(1 << 22);";

describe('a loop of operations written as syntax ends in ERR_PLUGIN_TIMEOUT', () => {
  const cases: [string, string, string][] = [
    ['array spread [...a]', ARR, 'const b = [...a];'],
    ['call spread Math.max(...a) (too many arguments: it throws, after copying them all)', ARR, 'try { Math.max(...a); } catch (e) {}'],
    ['object spread {...o}', OBJ, 'const b = { ...o };'],
    ['object rest destructuring', OBJ, 'const { k0, ...r } = o;'],
    ['array rest destructuring', ARR, 'const [x, ...r] = a;'],
    ['for...of over a large array', ARR, 'for (const x of a) {}'],
    ['=== of two long strings', STR, 'if (s === t) {}'],
    ['< of two long strings', STR, 'if (s < t) {}'],
    ['a long string as a property key', STR, 'const q = {}; q[s] = 1;'],
    ['string spread [...s]', "const s = 'x'.repeat(1 << 18);", 'const b = [...s];'],
    ['new Float64Array(array)', ARR, 'new Float64Array(a);'],
    ['Array.from(array)', ARR, 'Array.from(a);'],
  ];
  for (const [name, setup, body] of cases) {
    it(`${name}: the call times out and the next call is served`, SAFETY, () => expectTimeoutThenServed(setup, body));
  }
  it('a loop of spreads built with eval', SAFETY, () => expectTimeoutThenServed(`${ARR} globalThis.g = a;`, 'eval("for (;;) { const b = [...g]; }");'));
  it('a loop of object spreads built with Function', SAFETY, () => expectTimeoutThenServed(OBJ, 'new Function("o", "for (;;) { const b = { ...o }; }")(o);'));
  it('a loop of evals of a long source', SAFETY, () => expectTimeoutThenServed("const src = '1;'.repeat(1 << 17);", 'eval(src);'));
});

function load(source: string, grants?: { bigint?: boolean }) {
  return loadQuickJS({
    path: '/virtual/p.js',
    file: 'p.js',
    defaultName: 'p',
    source,
    limits: { ...DEFAULT_LIMITS, callTimeoutMs: 5000 },
    capabilities: [],
    data: {},
    config: () => ({}),
    log: () => {},
    grants,
  });
}

describe('BigInt is off unless granted', () => {
  it('refuses a source with a BigInt literal with ERR_PLUGIN_LOAD naming the line', async () => {
    await assert.rejects(load('export function f() {\n  return `${2n ** 64n}`;\n}'), (e: { code?: string; line?: number; hint?: string }) => {
      assert.equal(e.code, 'ERR_PLUGIN_LOAD');
      assert.equal(e.line, 2);
      assert.match(e.hint ?? '', /grant BigInt/);
      return true;
    });
  });
  it('refuses hex, binary and separated literals too', async () => {
    for (const lit of ['0x1fn', '0b101n', '1_000n', '0o7n']) {
      await assert.rejects(load(`export const x = ${lit};`), (e: { code?: string }) => e.code === 'ERR_PLUGIN_LOAD', lit);
    }
  });
  it('has no BigInt, BigInt64Array, BigUint64Array or DataView BigInt methods', async () => {
    const inst = await load(`export function f() { const d = DataView.prototype; return [typeof BigInt, typeof BigInt64Array, typeof BigUint64Array, typeof d.getBigInt64, typeof d.setBigInt64, typeof d.getBigUint64, typeof d.setBigUint64].join(); }`);
    try {
      assert.equal(inst.call('f', []), Array(7).fill('undefined').join());
    } finally {
      inst.dispose();
    }
  });
  it('refuses BigInt literals in code built with eval and every Function constructor', async () => {
    // The literals are assembled at run time: the source itself must load.
    const inst = await load(`
const n = 'n';
const attempt = (f) => { try { f(); return 'ran'; } catch (e) { return e instanceof SyntaxError && /BigInt literal/.test(e.message) ? 'refused' : 'other: ' + e; } };
export function f() {
  return [
    attempt(() => eval('1' + n + ' + 1' + n)),
    attempt(() => (0, eval)('(2' + n + ') ** 10' + n)),
    attempt(() => new Function('return 3' + n)()),
    attempt(() => Function('x', 'return x * 4' + n)),
    attempt(() => (function () {}).constructor('return 5' + n)),
    attempt(() => (async function () {}).constructor('return 6' + n)),
    attempt(() => (function* () {}).constructor('yield 7' + n)),
    attempt(() => (async function* () {}).constructor('yield 8' + n)),
    attempt(() => new Function({ toString() { return 'return 9' + n; } })),
  ].join();
}
export function plain() { return [eval('40 + 2'), new Function('a', 'b', 'return a + b')(1, 2), (function () {}) instanceof Function, Function.prototype.constructor === Function].join(); }`);
    try {
      assert.equal(inst.call('f', []), Array(9).fill('refused').join());
      assert.equal(inst.call('plain', []), '42,3,true,true');
    } finally {
      inst.dispose();
    }
  });
  it('createHost grants BigInt per plugin (grants.<plugin>.bigint): the granted plugin loads, another with a literal does not', SAFETY, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'terrarium-bigint-'));
    try {
      const src = 'export function f() { return String(2n ** 64n); }';
      await writeFile(path.join(dir, 'big.js'), src);
      await writeFile(path.join(dir, 'other.js'), src);
      const errors: string[] = [];
      const host = await createHost({ dir, grants: { big: { bigint: true } }, logger: { debug() {}, info() {}, warn() {}, error: (o: unknown) => errors.push(JSON.stringify(o)) } as never });
      try {
        assert.equal(host.get<{ f(): string }>('big').f(), '18446744073709551616');
        const other = host.plugins.find((p) => p.name === 'other');
        assert.notEqual(other?.status, 'ready', 'the plugin without the grant did not load');
      } finally {
        await host.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  it('a grant that is not a boolean is refused by createHost with ERR_OPTIONS', async () => {
    await assert.rejects(createHost({ files: [], grants: { big: { bigint: 'yes' as never } } }), (e: { code?: string }) => e.code === 'ERR_OPTIONS');
  });
  it('with the grant, BigInt works (literals, the constructor, eval)', async () => {
    const inst = await load(`export function f() { return [String(2n ** 64n), typeof BigInt64Array, String(eval('3n * 3n')), String(BigInt(7))].join(); }`, { bigint: true });
    try {
      assert.equal(inst.call('f', []), '18446744073709551616,function,9,7');
    } finally {
      inst.dispose();
    }
  });
});
