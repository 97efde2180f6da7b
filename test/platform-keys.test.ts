/**
 * crypto.subtle with asymmetric keys inside QuickJS plugins (src/platform/keys.ts and the glue in
 * src/platform/crypto.ts): importKey (raw, jwk, spki, pkcs8), sign and verify for ECDSA P-256/
 * P-384, RSASSA-PKCS1-v1_5, RSA-PSS and Ed25519, exportKey. Signatures made in the plugin are
 * checked by node:crypto here, and node's signatures by the plugin, so neither side checks only
 * itself; RFC 7515's JWS examples (A.1 HS256, A.3 ES256) are checked as published.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { constants, generateKeyPairSync, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { createHost, type Host } from 'terrarium-plugins';
import { fixtureDir } from './engines/conformance.js';

const LIMITS = { memoryBytes: 16 * 1024 * 1024, callTimeoutMs: 20_000, loadTimeoutMs: 20_000 };

const PLUGIN = `
const b64u = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
export async function signWith(format, keyData, alg, signAlg, data) {
  const key = await crypto.subtle.importKey(format, keyData, alg, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign(signAlg, key, data));
}
export async function verifyWith(format, keyData, alg, signAlg, sig, data) {
  const key = await crypto.subtle.importKey(format, keyData, alg, true, ['verify']);
  return { ok: await crypto.subtle.verify(signAlg, key, sig, data), type: key.type, algorithm: key.algorithm, usages: key.usages };
}
export async function exportAs(format, keyData, alg, as) {
  const key = await crypto.subtle.importKey(format, keyData, alg, true, format === 'pkcs8' || (format === 'jwk' && keyData.d) ? ['sign'] : ['verify']);
  const out = await crypto.subtle.exportKey(as, key);
  return out instanceof ArrayBuffer ? new Uint8Array(out) : out;
}
export async function error(format, keyData, alg, usages) {
  try { await crypto.subtle.importKey(format, keyData, alg, false, usages); return 'resolved'; } catch (e) { return e.name; }
}
export async function jws(compact, jwk, alg, signAlg) {
  const [h, p, s] = compact.split('.');
  const key = await crypto.subtle.importKey('jwk', jwk, alg, false, ['verify']);
  return crypto.subtle.verify(signAlg, key, b64u(s), new TextEncoder().encode(h + '.' + p));
}
export async function wrongKeyAlg(spki) {
  const key = await crypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  try { await crypto.subtle.verify({ name: 'Ed25519' }, key, new Uint8Array(64), new Uint8Array(1)); return 'resolved'; } catch (e) { return e.name; }
}
`;

const DATA = new TextEncoder().encode('eyJhbGciOiJFUzI1NiJ9.payload');
const der = (k: KeyObject, type: 'spki' | 'pkcs8') => new Uint8Array(k.export({ format: 'der', type }) as Buffer);

interface Case {
  name: string;
  pair: { publicKey: KeyObject; privateKey: KeyObject };
  alg: Record<string, unknown>;
  signAlg: Record<string, unknown>;
  node: { hash: string | null; opts: Record<string, unknown> };
}
const CASES: Case[] = [
  { name: 'ECDSA P-256 SHA-256', pair: generateKeyPairSync('ec', { namedCurve: 'P-256' }), alg: { name: 'ECDSA', namedCurve: 'P-256' }, signAlg: { name: 'ECDSA', hash: 'SHA-256' }, node: { hash: 'sha256', opts: { dsaEncoding: 'ieee-p1363' } } },
  { name: 'ECDSA P-384 SHA-384', pair: generateKeyPairSync('ec', { namedCurve: 'P-384' }), alg: { name: 'ECDSA', namedCurve: 'P-384' }, signAlg: { name: 'ECDSA', hash: 'SHA-384' }, node: { hash: 'sha384', opts: { dsaEncoding: 'ieee-p1363' } } },
  { name: 'RSASSA-PKCS1-v1_5 SHA-256', pair: generateKeyPairSync('rsa', { modulusLength: 2048 }), alg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, signAlg: { name: 'RSASSA-PKCS1-v1_5' }, node: { hash: 'sha256', opts: {} } },
  { name: 'RSA-PSS SHA-256 salt 32', pair: generateKeyPairSync('rsa', { modulusLength: 2048 }), alg: { name: 'RSA-PSS', hash: 'SHA-256' }, signAlg: { name: 'RSA-PSS', saltLength: 32 }, node: { hash: 'sha256', opts: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } } },
  { name: 'Ed25519', pair: generateKeyPairSync('ed25519'), alg: { name: 'Ed25519' }, signAlg: { name: 'Ed25519' }, node: { hash: null, opts: {} } },
];

describe('crypto.subtle asymmetric keys (ECDSA, RSA, Ed25519) in a QuickJS plugin', () => {
  let dir: string;
  let host: Host;
  type F = (...a: unknown[]) => Promise<any>;
  type Api = { signWith: F; verifyWith: F; exportAs: F; error: F; jws: F; wrongKeyAlg: F };
  let p: Api;
  before(async () => {
    dir = await fixtureDir({ 'keys.js': PLUGIN });
    host = await createHost({ dir, limits: LIMITS });
    p = host.get<Api>('keys');
  });
  after(async () => {
    await host?.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const c of CASES) {
    it(`${c.name}: the plugin's pkcs8 signature verifies in node:crypto, and a flipped bit does not`, async () => {
      const sig = (await p.signWith('pkcs8', der(c.pair.privateKey, 'pkcs8'), c.alg, c.signAlg, DATA)) as Uint8Array;
      assert.equal(nodeVerify(c.node.hash, DATA, { key: c.pair.publicKey, ...c.node.opts } as never, sig), true);
      const bad = sig.slice();
      bad[5]! ^= 1;
      assert.equal(nodeVerify(c.node.hash, DATA, { key: c.pair.publicKey, ...c.node.opts } as never, bad), false);
    });
    it(`${c.name}: node's signature verifies in the plugin from spki and from jwk; another message does not`, async () => {
      const sig = new Uint8Array(nodeSign(c.node.hash, DATA, { key: c.pair.privateKey, ...c.node.opts } as never));
      const spki = await p.verifyWith('spki', der(c.pair.publicKey, 'spki'), c.alg, c.signAlg, sig, DATA);
      assert.equal(spki.ok, true);
      assert.equal(spki.type, 'public');
      assert.deepEqual(spki.usages, ['verify']);
      assert.equal(spki.algorithm.name, c.alg.name);
      const jwk = await p.verifyWith('jwk', c.pair.publicKey.export({ format: 'jwk' }), c.alg, c.signAlg, sig, DATA);
      assert.equal(jwk.ok, true);
      const other = await p.verifyWith('spki', der(c.pair.publicKey, 'spki'), c.alg, c.signAlg, sig, new TextEncoder().encode('other'));
      assert.equal(other.ok, false);
    });
    it(`${c.name}: a private key from jwk signs, and exportKey gives back the same spki and jwk`, async () => {
      const sig = (await p.signWith('jwk', c.pair.privateKey.export({ format: 'jwk' }), c.alg, c.signAlg, DATA)) as Uint8Array;
      assert.equal(nodeVerify(c.node.hash, DATA, { key: c.pair.publicKey, ...c.node.opts } as never, sig), true);
      assert.deepEqual(await p.exportAs('spki', der(c.pair.publicKey, 'spki'), c.alg, 'spki'), der(c.pair.publicKey, 'spki'));
      const jwk = await p.exportAs('spki', der(c.pair.publicKey, 'spki'), c.alg, 'jwk');
      const want = c.pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
      for (const k of Object.keys(want)) assert.equal(jwk[k], want[k], k);
    });
  }

  it('ECDSA and RSA-PKCS1 verify report algorithm details as Web Crypto does', async () => {
    const ec = CASES[0]!;
    const sig = new Uint8Array(nodeSign('sha256', DATA, { key: ec.pair.privateKey, dsaEncoding: 'ieee-p1363' }));
    assert.deepEqual((await p.verifyWith('spki', der(ec.pair.publicKey, 'spki'), ec.alg, ec.signAlg, sig, DATA)).algorithm, { name: 'ECDSA', namedCurve: 'P-256' });
    const rsa = CASES[2]!;
    const rsig = new Uint8Array(nodeSign('sha256', DATA, rsa.pair.privateKey));
    const r = await p.verifyWith('spki', der(rsa.pair.publicKey, 'spki'), rsa.alg, rsa.signAlg, rsig, DATA);
    assert.equal(r.algorithm.modulusLength, 2048);
    assert.deepEqual(r.algorithm.publicExponent, new Uint8Array([1, 0, 1]));
    assert.equal(r.algorithm.hash.name, 'SHA-256');
  });

  it('raw public keys: an uncompressed P-256 point and 32 Ed25519 bytes', async () => {
    const ec = CASES[0]!;
    const raw = (await p.exportAs('spki', der(ec.pair.publicKey, 'spki'), ec.alg, 'raw')) as Uint8Array;
    assert.equal(raw.length, 65);
    assert.equal(raw[0], 4);
    const sig = new Uint8Array(nodeSign('sha256', DATA, { key: ec.pair.privateKey, dsaEncoding: 'ieee-p1363' }));
    assert.equal((await p.verifyWith('raw', raw, ec.alg, ec.signAlg, sig, DATA)).ok, true);
    const ed = CASES[4]!;
    const edRaw = (await p.exportAs('spki', der(ed.pair.publicKey, 'spki'), ed.alg, 'raw')) as Uint8Array;
    assert.equal(edRaw.length, 32);
    const edSig = new Uint8Array(nodeSign(null, DATA, ed.pair.privateKey));
    assert.equal((await p.verifyWith('raw', edRaw, ed.alg, ed.signAlg, edSig, DATA)).ok, true);
  });

  it('bad keys and usages are refused with Web Crypto error names', async () => {
    const ec = CASES[0]!;
    const rsa = CASES[2]!;
    // an RSA key imported as ECDSA, a P-384 key as P-256, garbage DER, a public key asked to sign
    assert.equal(await p.error('spki', der(rsa.pair.publicKey, 'spki'), ec.alg, ['verify']), 'DataError');
    assert.equal(await p.error('spki', der(CASES[1]!.pair.publicKey, 'spki'), ec.alg, ['verify']), 'DataError');
    assert.equal(await p.error('spki', new Uint8Array([48, 3, 1, 2, 3]), ec.alg, ['verify']), 'DataError');
    assert.equal(await p.error('spki', der(ec.pair.publicKey, 'spki'), ec.alg, ['sign']), 'SyntaxError');
    assert.equal(await p.error('pkcs8', der(ec.pair.privateKey, 'pkcs8'), ec.alg, []), 'SyntaxError');
    assert.equal(await p.error('spki', der(ec.pair.publicKey, 'spki'), { name: 'ECDSA', namedCurve: 'P-192' }, ['verify']), 'NotSupportedError');
    assert.equal(await p.error('spki', der(ec.pair.publicKey, 'spki'), { name: 'DSA' }, ['verify']), 'NotSupportedError');
    assert.equal(await p.error('jwk', { kty: 'EC', crv: 'P-256', x: '!!', y: '' }, ec.alg, ['verify']), 'DataError');
    assert.equal(await p.error('jwk', { kty: 'RSA' }, ec.alg, ['verify']), 'DataError');
    assert.equal(await p.error('raw', new Uint8Array(31), { name: 'Ed25519' }, ['verify']), 'DataError');
    assert.equal(await p.wrongKeyAlg(der(ec.pair.publicKey, 'spki')), 'InvalidAccessError');
  });

  it('a truncated or oversized ECDSA signature verifies false, never throws', async () => {
    const ec = CASES[0]!;
    const sig = new Uint8Array(nodeSign('sha256', DATA, { key: ec.pair.privateKey, dsaEncoding: 'ieee-p1363' }));
    assert.equal((await p.verifyWith('spki', der(ec.pair.publicKey, 'spki'), ec.alg, ec.signAlg, sig.subarray(0, 63), DATA)).ok, false);
    assert.equal((await p.verifyWith('spki', der(ec.pair.publicKey, 'spki'), ec.alg, ec.signAlg, new Uint8Array(65), DATA)).ok, false);
  });

  it('a JWK whose alg, use or key_ops say it is for something else is refused with DataError', async () => {
    const ec = CASES[0]!;
    const rsa = CASES[2]!;
    const ed = CASES[4]!;
    const ecJwk = ec.pair.publicKey.export({ format: 'jwk' });
    const rsaJwk = rsa.pair.publicKey.export({ format: 'jwk' });
    const edJwk = ed.pair.publicKey.export({ format: 'jwk' });
    const oct = { kty: 'oct', k: Buffer.from('secret-key').toString('base64url') };
    const hs256 = { name: 'HMAC', hash: 'SHA-256' };
    const cases: [string, unknown, Record<string, unknown>, string[], string][] = [
      ['HMAC alg HS512 for SHA-256', { ...oct, alg: 'HS512' }, hs256, ['verify'], 'DataError'],
      ['HMAC alg HS256', { ...oct, alg: 'HS256' }, hs256, ['verify'], 'resolved'],
      ['HMAC use enc', { ...oct, use: 'enc' }, hs256, ['verify'], 'DataError'],
      ['HMAC use sig', { ...oct, use: 'sig' }, hs256, ['verify'], 'resolved'],
      ['HMAC key_ops without verify', { ...oct, key_ops: ['sign'] }, hs256, ['verify'], 'DataError'],
      ['HMAC key_ops with both', { ...oct, key_ops: ['sign', 'verify'] }, hs256, ['sign', 'verify'], 'resolved'],
      ['HMAC key_ops repeated', { ...oct, key_ops: ['verify', 'verify'] }, hs256, ['verify'], 'DataError'],
      ['HMAC key_ops not an array', { ...oct, key_ops: 'verify' }, hs256, ['verify'], 'DataError'],
      ['ECDSA alg ES384 on P-256', { ...ecJwk, alg: 'ES384' }, ec.alg, ['verify'], 'DataError'],
      ['ECDSA alg ES256 on P-256', { ...ecJwk, alg: 'ES256' }, ec.alg, ['verify'], 'resolved'],
      ['ECDSA crv P-384 asked as P-256', { ...ecJwk, crv: 'P-384' }, ec.alg, ['verify'], 'DataError'],
      ['ECDSA use enc', { ...ecJwk, use: 'enc' }, ec.alg, ['verify'], 'DataError'],
      ['RSA alg RS512 for SHA-256', { ...rsaJwk, alg: 'RS512' }, rsa.alg, ['verify'], 'DataError'],
      ['RSA alg PS256 for PKCS1', { ...rsaJwk, alg: 'PS256' }, rsa.alg, ['verify'], 'DataError'],
      ['RSA alg RS256', { ...rsaJwk, alg: 'RS256' }, rsa.alg, ['verify'], 'resolved'],
      ['RSA-PSS alg PS256', { ...rsaJwk, alg: 'PS256' }, CASES[3]!.alg, ['verify'], 'resolved'],
      ['RSA key_ops encrypt only', { ...rsaJwk, key_ops: ['encrypt'] }, rsa.alg, ['verify'], 'DataError'],
      ['Ed25519 alg EdDSA', { ...edJwk, alg: 'EdDSA' }, ed.alg, ['verify'], 'resolved'],
      ['Ed25519 alg ES256', { ...edJwk, alg: 'ES256' }, ed.alg, ['verify'], 'DataError'],
    ];
    const got = [];
    for (const [name, jwk, alg, usages] of cases) got.push([name, await p.error('jwk', jwk, alg, usages)]);
    assert.deepEqual(got, cases.map((c) => [c[0], c[4]]));
  });

  // RFC 7515 appendix A: the JWS examples, as published.
  it('RFC 7515 A.3: the ES256 JWS verifies with its JWK; a changed payload does not', async () => {
    const jwk = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' };
    const compact = 'eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q';
    assert.equal(await p.jws(compact, jwk, { name: 'ECDSA', namedCurve: 'P-256' }, { name: 'ECDSA', hash: 'SHA-256' }), true);
    const [h, , s] = compact.split('.');
    assert.equal(await p.jws(`${h}.eyJpc3MiOiJldmUifQ.${s}`, jwk, { name: 'ECDSA', namedCurve: 'P-256' }, { name: 'ECDSA', hash: 'SHA-256' }), false);
  });
  it('RFC 7515 A.1: the HS256 JWS verifies with its oct JWK', async () => {
    const jwk = { kty: 'oct', k: 'AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow' };
    const compact = 'eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
    assert.equal(await p.jws(compact, jwk, { name: 'HMAC', hash: 'SHA-256' }, 'HMAC'), true);
  });
});
