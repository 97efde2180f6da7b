/**
 * The marshalling codec on random values (a fixed seed, so every run checks the same 400 values):
 * on the host alone, and through a QuickJS plugin's echo, every value must come back equal.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { createHost, type Host } from 'terrarium-plugins';
import { decodeWire, encodeWire, MAX_DEPTH } from '../dist/binding/wire.js';
import { fixtureDir } from './engines/conformance.js';

/** mulberry32: a small seeded PRNG, so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NUMBERS = [0, -0, 1, -1, 0.5, 2 ** 31, -(2 ** 31), 2 ** 53 - 1, 5e-324, 1.7976931348623157e308, NaN, Infinity, -Infinity];
const STRINGS = ['', 'a', 'héllo', '日本語', '🦀', 'a\u0000b', '\ud800', 'x\udc00y', '"quoted"\\', '~', '\u0001', '__proto__', 'line\nbreak'];
const KEYS = ['a', 'b', 'x-y', '', '0', '10', '__proto__', '\u0000', 'constructor', 'ü', '🦀'];

function value(r: () => number, depth: number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const k = r();
  if (depth > 4 || k < 0.45) {
    const s = r();
    if (s < 0.3) return pick(NUMBERS);
    if (s < 0.6) return pick(STRINGS);
    if (s < 0.7) return r() < 0.5;
    if (s < 0.8) return null;
    if (s < 0.9) return undefined;
    return new Uint8Array(Array.from({ length: Math.floor(r() * 5) }, () => Math.floor(r() * 256)));
  }
  if (k < 0.7) {
    const a: unknown[] = [];
    const n = Math.floor(r() * 5);
    for (let i = 0; i < n; i++) a.push(value(r, depth + 1));
    if (r() < 0.15) a.length += 2; // trailing holes
    return a;
  }
  const o: Record<string, unknown> = {};
  const n = Math.floor(r() * 5);
  for (let i = 0; i < n; i++) {
    Object.defineProperty(o, pick(KEYS), { value: value(r, depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return o;
}

/** Holes arrive as undefined elements: compare against that normal form. */
function normal(v: unknown): unknown {
  if (Array.isArray(v)) return Array.from({ length: v.length }, (_, i) => normal(v[i]));
  if (v instanceof Uint8Array || v === null || typeof v !== 'object') return v;
  const o: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    Object.defineProperty(o, k, { value: normal((v as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true });
  }
  return o;
}

const values = (() => {
  const r = rng(20261122);
  return Array.from({ length: 400 }, () => value(r, 0));
})();

describe('wire codec on random values', () => {
  it('round-trips every value on the host', () => {
    for (const v of values) assert.deepStrictEqual(decodeWire(encodeWire(v, MAX_DEPTH)), normal(v));
  });

  it('never pollutes a host prototype while decoding', () => {
    for (const v of values) decodeWire(encodeWire(v, MAX_DEPTH));
    assert.equal(Object.getPrototypeOf({}), Object.prototype);
    assert.deepEqual(Object.keys(Object.prototype), []);
  });
});

describe('wire codec through a QuickJS plugin', () => {
  let dir: string;
  let host: Host;
  before(async () => {
    dir = await fixtureDir({ 'echo.js': 'export function echo(x) { return x; }\nexport function echoAll(xs) { return xs; }\n' });
    host = await createHost({ dir });
  });
  after(async () => {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('returns every random value unchanged, one call each', () => {
    const echo = host.get<{ echo(x: unknown): unknown }>('echo');
    for (const v of values) assert.deepStrictEqual(echo.echo(v), normal(v));
  });

  it('returns all of them in one call', () => {
    assert.deepStrictEqual(host.get<{ echoAll(x: unknown): unknown }>('echo').echoAll(values), normal(values));
  });
});

describe('host-side checks of guest text', () => {
  it('refuses wire text nested deeper than the rule before parsing it, strings and tags included', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    assert.throws(() => decodeWire(deep, MAX_DEPTH), (e: { marshalReason?: string }) => /deeper than 64/.test(e.marshalReason ?? ''));
    const ok = encodeWire({ a: ['[[[[', { b: [1, undefined, new Uint8Array([1])] }] }, MAX_DEPTH);
    assert.deepEqual(decodeWire(ok, MAX_DEPTH), { a: ['[[[[', { b: [1, undefined, new Uint8Array([1])] }] });
    let atLimit: unknown = 1;
    for (let i = 0; i < MAX_DEPTH; i++) atLimit = [atLimit];
    assert.deepEqual(decodeWire(JSON.stringify(atLimit), MAX_DEPTH), atLimit);
  });
});

describe('plugin log bounds', () => {
  it('cuts a log line at 8 KiB of UTF-8 with a marker, and drops lines over 256 KiB per second, counting them', async () => {
    const { boundedLog, boundedLogLine, LogBytes, LOG_LINE_BYTES } = await import('../dist/capabilities/index.js');
    const cut = boundedLogLine('é'.repeat(10_000));
    assert.ok(Buffer.byteLength(cut) <= LOG_LINE_BYTES);
    assert.match(cut, /… \[truncated \d+ bytes\]$/);
    assert.equal(boundedLogLine({ msg: 'forged', level: 60 }), '{"msg":"forged","level":60}');
    const got: string[] = [];
    const bytes = new LogBytes(1000);
    const log = boundedLog((_level, m) => void got.push(m), bytes);
    for (let i = 0; i < 5; i++) log('info', 'x'.repeat(400));
    assert.equal(got.length, 2);
    assert.equal(bytes.dropped, 1200);
  });
});
