/**
 * The Web platform inside QuickJS plugins (src/platform/): Encoding, base64, Web Crypto, URL,
 * structuredClone, queueMicrotask, performance. Spec data: a subset of web-platform-tests and
 * RFC 4231 (test/fixtures/platform/README.md). Hostile inputs end in the plugin's own error or
 * its memory limit, never in a host crash.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createHash, createHmac } from 'node:crypto';
import { createHost, type Host } from 'terrarium-plugins';
import { expectCode, fixtureDir } from './engines/conformance.js';

const LIMITS = { memoryBytes: 16 * 1024 * 1024, callTimeoutMs: 20_000, loadTimeoutMs: 20_000, stackBytes: 256 * 1024 };
const data = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/platform/${name}`, import.meta.url), 'utf8'));

const PLUGIN = `
const hex = (buf) => Array.from(new Uint8Array(buf), (x) => x.toString(16).padStart(2, '0')).join('');
const unhex = (h) => new Uint8Array(h.match(/../g).map((x) => parseInt(x, 16)));
export function encode(s) { return new TextEncoder().encode(s); }
export function decode(bytes, label, opts) {
  try { return { ok: new TextDecoder(label, opts).decode(bytes) }; } catch (e) { return { name: e.name, isType: e instanceof TypeError, isRange: e instanceof RangeError }; }
}
export function decodeStream(chunks, opts) {
  const d = new TextDecoder('utf-8', opts);
  let out = '';
  for (const c of chunks) out += d.decode(c, { stream: true });
  return out + d.decode();
}
export function encodeInto(s, size) { const dest = new Uint8Array(size); const r = new TextEncoder().encodeInto(s, dest); return [r.read, r.written, dest]; }
export function atobAll(cases) {
  return cases.map((s) => { try { const b = atob(s); return Array.from(b, (c) => c.charCodeAt(0)); } catch (e) { return e.name; } });
}
export function btoaOf(s) { try { return btoa(s); } catch (e) { return e.name; } }
export async function digest(alg, bytes) { return hex(await crypto.subtle.digest(alg, bytes)); }
export async function digestError(alg) { try { await crypto.subtle.digest(alg, new Uint8Array(1)); return 'resolved'; } catch (e) { return e.name; } }
export async function hmac(hash, keyHex, text) {
  const key = await crypto.subtle.importKey('raw', unhex(keyHex), { name: 'HMAC', hash }, false, ['sign', 'verify']);
  const sig = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(text));
  const good = await crypto.subtle.verify('HMAC', key, sig, new TextEncoder().encode(text));
  const flipped = new Uint8Array(sig).slice(); flipped[0] ^= 1;
  const bad = await crypto.subtle.verify({ name: 'HMAC' }, key, flipped, new TextEncoder().encode(text));
  return { sig: hex(sig), good, bad, type: key.type, alg: key.algorithm.name, hashName: key.algorithm.hash.name, keyIsFrozen: Object.isFrozen(key) };
}
export async function ordering() {
  const log = [];
  const p = crypto.subtle.digest('SHA-256', new Uint8Array(0)).then(() => log.push('resolved'));
  log.push('sync');
  await p;
  return log;
}
export function random() {
  const a = crypto.getRandomValues(new Uint8Array(64));
  const b = crypto.getRandomValues(new Uint32Array(4));
  const errs = [];
  try { crypto.getRandomValues(new Uint8Array(65537)); } catch (e) { errs.push(e.name); }
  try { crypto.getRandomValues(new Float64Array(2)); } catch (e) { errs.push(e.name); }
  return { distinct: new Set(a).size > 16, b: b.length, uuid: crypto.randomUUID(), errs, same: crypto.getRandomValues(a) === a };
}
export function urls(cases) {
  const parts = ['href', 'origin', 'protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'hash'];
  return cases.map((c) => {
    try { const u = new URL(c.input, c.base); const o = {}; for (const p of parts) o[p] = u[p]; return o; } catch (e) { return { failure: true, name: e.name }; }
  });
}
export function setters() {
  const u = new URL('https://example.com:8080/a/b?x=1#f');
  u.port = 'garbage';
  const afterPort = u.href;
  u.hostname = 'bad host\\u0000';
  const afterHost = u.href;
  u.protocol = '1nvalid';
  const afterProto = u.href;
  u.pathname = '/c d';
  u.hash = '';
  u.searchParams.append('y', 'a b&c');
  u.searchParams.delete('x');
  let hrefError = '';
  try { u.href = 'not a url'; } catch (e) { hrefError = e.name; }
  return { afterPort, afterHost, afterProto, final: u.href, hrefError, search: u.search, canParse: [URL.canParse('x:'), URL.canParse('http://[::1')], parsed: URL.parse('/p', 'http://h/')?.href };
}
export function params() {
  const p = new URLSearchParams('?b=2&a=1&b=3&c=%20x+y');
  const r = { get: p.get('b'), all: p.getAll('b'), has: p.has('c'), c: p.get('c'), size: p.size };
  p.sort();
  r.sorted = p.toString();
  p.set('b', 'z');
  r.set = [...p].map(([k, v]) => k + '=' + v).join(';');
  const q = new URLSearchParams({ k: 'v w' });
  r.fromRecord = q.toString();
  const u = new URL('http://h/?x=1');
  u.search = '?y=2';
  r.linked = u.searchParams.get('y');
  return r;
}
export function clone() {
  const v = { a: [1, 'two', null, { b: new Uint8Array([1, 2]) }], n: -0 };
  const c = structuredClone(v);
  let err = '';
  try { structuredClone({ f() {} }); } catch (e) { err = e.name; }
  return { equal: JSON.stringify(c) === JSON.stringify(v), fresh: c !== v && c.a !== v.a, bytes: c.a[3].b instanceof Uint8Array, err };
}
export async function micro() {
  const log = [];
  queueMicrotask(() => log.push('micro'));
  log.push('sync');
  await null;
  const t0 = performance.now();
  const t1 = performance.now();
  return { log, mono: t1 >= t0, type: typeof performance.timeOrigin };
}
export function tamper() {
  // A plugin replacing built-ins changes its own code, never the platform's internals.
  Uint8Array.prototype.slice = () => { throw new Error('tampered slice'); };
  String.fromCharCode = () => 'tampered';
  Array.prototype[Symbol.iterator] = function* () { yield 'tampered'; };
  const s = new TextDecoder().decode(new TextEncoder().encode('héllo'));
  const b = atob(btoa('ok'));
  let redefine = 'kept';
  try { globalThis.TextEncoder = null; } catch (e) { redefine = e.name; }
  let del = true;
  try { del = delete globalThis.crypto; } catch (e) { del = e.name; }
  return { s, b, redefine, del, frozen: Object.isFrozen(crypto) && Object.isFrozen(crypto.subtle) && Object.isFrozen(TextDecoder.prototype), still: typeof TextEncoder };
}
`;

const HOG = `
export async function hugeDigest() {
  // Bigger than fits: the plugin's memory limit, not a host crash.
  const parts = [];
  for (let i = 0; i < 64; i++) parts.push(new Uint8Array(1024 * 1024));
  for (const p of parts) await crypto.subtle.digest('SHA-256', p);
  return 'done';
}
let n = 0;
export function ok() { return ++n; }
`;

const HOG2 = `
export function hugeEncode() { return new TextEncoder().encode('x'.repeat(12 * 1024 * 1024)).length; }
let n = 0;
export function ok() { return ++n; }
`;

describe('platform APIs in QuickJS plugins', () => {
  let dir: string;
  let host: Host;
  before(async () => {
    dir = await fixtureDir({ 'web.js': PLUGIN, 'hog.js': HOG, 'hog2.js': HOG2 });
    host = await createHost({ dir, limits: LIMITS, quarantine: { maxViolations: Infinity } });
  });
  after(async () => {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  });
  const web = () => host.get<Record<string, any>>('web');

  it('TextEncoder encodes UTF-8, lone surrogates as U+FFFD', async () => {
    assert.deepEqual([...(await web().encode('a€😀'))], [...Buffer.from('a€😀')]);
    assert.deepEqual([...(await web().encode('\ud800x'))], [0xef, 0xbf, 0xbd, 0x78]);
  });

  it('TextDecoder replaces invalid UTF-8, or throws TypeError with fatal', async () => {
    const bad = new Uint8Array([0x61, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0xf0, 0x9f, 0x98, 0x62]);
    assert.deepEqual(await web().decode(bad), { ok: new TextDecoder().decode(bad) });
    assert.deepEqual(await web().decode(bad, 'utf-8', { fatal: true }), { name: 'TypeError', isType: true, isRange: false });
    assert.deepEqual(await web().decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])), { ok: 'A' });
    assert.deepEqual(await web().decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41]), 'utf8', { ignoreBOM: true }), { ok: '\ufeffA' });
    assert.deepEqual(await web().decode(new Uint8Array([0x41]), 'latin1'), { name: 'RangeError', isType: false, isRange: true });
  });

  it('TextDecoder stream mode joins sequences split across chunks, and flushes a truncated tail', async () => {
    const bytes = Buffer.from('€😀ü');
    const chunks = [...bytes].map((b) => new Uint8Array([b]));
    assert.equal(await web().decodeStream(chunks), '€😀ü');
    assert.equal(await web().decodeStream([new Uint8Array([0xe2, 0x82])]), '\ufffd');
  });

  it('TextDecoder agrees with Node on every 2-byte sequence', async () => {
    const all = new Uint8Array(2 * 256 * 256);
    for (let i = 0; i < 65536; i++) { all[2 * i] = i >> 8; all[2 * i + 1] = i & 255; }
    assert.deepEqual(await web().decode(all), { ok: new TextDecoder().decode(all) });
  });

  it('encodeInto writes only whole characters that fit', async () => {
    const [read, written, dest] = await web().encodeInto('a😀b', 4);
    assert.deepEqual([read, written, [...dest]], [1, 1, [0x61, 0, 0, 0]]);
    const [r2, w2] = await web().encodeInto('a😀b', 6);
    assert.deepEqual([r2, w2], [4, 6]);
  });

  it('atob follows forgiving-base64 (WPT base64.json), btoa refuses non-Latin1', async () => {
    const cases = data('base64.json') as [string, number[] | null][];
    const got = await web().atobAll(cases.map((c) => c[0]));
    cases.forEach(([input, want], i) => assert.deepEqual(got[i], want ?? 'InvalidCharacterError', `atob(${JSON.stringify(input)})`));
    assert.equal(await web().btoaOf('\u00ff\u0000a'), Buffer.from([0xff, 0, 0x61]).toString('base64'));
    assert.equal(await web().btoaOf('€'), 'InvalidCharacterError');
  });

  it('crypto.subtle.digest matches node:crypto for SHA-1/256/384/512, rejects others', async () => {
    const bytes = new Uint8Array(1024).map((_, i) => i * 7);
    for (const [alg, node] of [['SHA-1', 'sha1'], ['sha-256', 'sha256'], ['SHA-384', 'sha384'], ['SHA-512', 'sha512']]) {
      assert.equal(await web().digest(alg, bytes), createHash(node!).update(bytes).digest('hex'), alg);
    }
    assert.equal(await web().digestError('MD5'), 'NotSupportedError');
  });

  it('HMAC sign/verify reproduce RFC 4231 and refuse a flipped signature', async () => {
    for (const c of data('hmac-rfc4231.json') as Record<string, string>[]) {
      for (const hash of ['SHA-256', 'SHA-384', 'SHA-512']) {
        if (!c[hash]) continue;
        const r = await web().hmac(hash, c.keyHex, c.data);
        assert.deepEqual(r, { sig: c[hash], good: true, bad: false, type: 'secret', alg: 'HMAC', hashName: hash, keyIsFrozen: true }, `case ${c.case} ${hash}`);
      }
    }
    assert.equal((await web().hmac('SHA-1', '6b6579', 'm')).sig, createHmac('sha1', 'key').update('m').digest('hex'));
  });

  it('subtle promises resolve in a microtask, after the synchronous code', async () => {
    assert.deepEqual(await web().ordering(), ['sync', 'resolved']);
  });

  it('getRandomValues fills integer arrays, refuses floats and more than 65536 bytes; randomUUID is v4', async () => {
    const r = await web().random();
    assert.equal(r.distinct, true);
    assert.equal(r.b, 4);
    assert.match(r.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual(r.errs, ['QuotaExceededError', 'TypeMismatchError']);
    assert.equal(r.same, true);
  });

  it('URL parses as WHATWG says (WPT urltestdata subset)', async () => {
    const cases = data('urltestdata.json') as Record<string, string | boolean>[];
    const got = await web().urls(cases);
    cases.forEach((c, i) => {
      if (c.failure) return assert.deepEqual(got[i], { failure: true, name: 'TypeError' }, JSON.stringify(c.input));
      for (const k of Object.keys(got[i])) if (k in c) assert.equal(got[i][k], c[k], `${JSON.stringify(c.input)} ${k}`);
    });
  });

  it('URL setters ignore garbage as the spec says; href throws TypeError', async () => {
    const r = await web().setters();
    assert.equal(r.afterPort, 'https://example.com:8080/a/b?x=1#f');
    assert.equal(r.afterHost, 'https://example.com:8080/a/b?x=1#f');
    assert.equal(r.afterProto, 'https://example.com:8080/a/b?x=1#f');
    assert.equal(r.final, 'https://example.com:8080/c%20d?y=a+b%26c');
    assert.equal(r.search, '?y=a+b%26c');
    assert.equal(r.hrefError, 'TypeError');
    assert.deepEqual(r.canParse, [true, false]);
    assert.equal(r.parsed, 'http://h/p');
  });

  it('URLSearchParams parses, sorts stably, serializes and stays linked to its URL', async () => {
    assert.deepEqual(await web().params(), {
      get: '2', all: ['2', '3'], has: true, c: ' x y', size: 4,
      sorted: 'a=1&b=2&b=3&c=+x+y', set: 'a=1;b=z;c= x y', fromRecord: 'k=v+w', linked: '2',
    });
  });

  it('structuredClone copies the marshalling value set and refuses functions with DataCloneError', async () => {
    assert.deepEqual(await web().clone(), { equal: true, fresh: true, bytes: true, err: 'DataCloneError' });
  });

  it('queueMicrotask runs after the synchronous code; performance.now is monotonic', async () => {
    assert.deepEqual(await web().micro(), { log: ['sync', 'micro'], mono: true, type: 'number' });
  });

  it('globals are read-only and the glue ignores built-ins a plugin replaced', async () => {
    assert.deepEqual(await web().tamper(), { s: 'héllo', b: 'ok', redefine: 'TypeError', del: 'TypeError', frozen: true, still: 'function' });
  });

  it('digest input beyond the memory cap ends in ERR_PLUGIN_MEMORY and a fresh instance', async () => {
    const hog = host.get<Record<string, any>>('hog');
    await expectCode(() => hog.hugeDigest(), 'ERR_PLUGIN_MEMORY');
    await host.ready();
    assert.equal(await hog.ok(), 1);
  });

  it('TextEncoder output beyond the memory cap ends in ERR_PLUGIN_MEMORY and a fresh instance', async () => {
    const hog = host.get<Record<string, any>>('hog2');
    await expectCode(() => hog.hugeEncode(), 'ERR_PLUGIN_MEMORY');
    await host.ready();
    assert.equal(await hog.ok(), 1);
  });
});
