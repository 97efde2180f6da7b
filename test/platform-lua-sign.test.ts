/**
 * Lua's crypto.verify / crypto.sign / crypto.equals (src/platform/lua.ts, keys.ts): JOSE algorithm
 * names, keys as PEM or JWK text, ECDSA signatures r||s as in a JWT. Signatures are made or
 * checked here with node:crypto, independently of the plugin.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { createHost, type Host } from 'terrarium-plugins';
import { fixtureDir } from './engines/conformance.js';

const PLUGIN = `
local M = {}
function M.verify(alg, key, data, sig) return crypto.verify(alg, key, data, base64.decode(sig)) end
function M.sign(alg, key, data) return base64.encode(crypto.sign(alg, key, data)) end
function M.equals(a, b) return crypto.equals(a, b) end
function M.try(alg, key) local ok, e = pcall(crypto.verify, alg, key, 'x', 'y') return tostring(e) end
return M
`;

describe('Lua crypto.verify, crypto.sign and crypto.equals', () => {
  let dir: string;
  let host: Host;
  type F = (...a: unknown[]) => any;
  type Api = { verify: F; sign: F; equals: F; try: F };
  let p: Api;
  before(async () => {
    dir = await fixtureDir({ 'sig.lua': PLUGIN });
    host = await createHost({ dir, limits: { memoryBytes: 16 << 20, callTimeoutMs: 20_000, loadTimeoutMs: 20_000 } });
    p = host.get<Api>('sig');
  });
  after(async () => {
    await host?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ed = generateKeyPairSync('ed25519');
  const pem = (k: typeof ec.publicKey) => k.export({ format: 'pem', type: k.type === 'public' ? 'spki' : 'pkcs8' }) as string;

  it('verifies ES256, RS256, PS256 and EdDSA signatures made by node:crypto, from PEM and from JWK; a changed message fails', () => {
    const data = 'header.payload';
    const cases: [string, typeof ec, Buffer][] = [
      ['ES256', ec, sign('sha256', Buffer.from(data), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' })],
      ['RS256', rsa, sign('sha256', Buffer.from(data), rsa.privateKey)],
      ['PS256', rsa, sign('sha256', Buffer.from(data), { key: rsa.privateKey, padding: 6, saltLength: 32 })],
      ['EdDSA', ed, sign(null, Buffer.from(data), ed.privateKey)],
    ];
    for (const [alg, pair, sig] of cases) {
      assert.equal(p.verify(alg, pem(pair.publicKey), data, sig.toString('base64')), true, alg);
      assert.equal(p.verify(alg, JSON.stringify(pair.publicKey.export({ format: 'jwk' })), data, sig.toString('base64')), true, `${alg} jwk`);
      assert.equal(p.verify(alg, pem(pair.publicKey), data + 'x', sig.toString('base64')), false, `${alg} other message`);
    }
  });

  it('signs with ES256 and EdDSA so that node:crypto verifies', () => {
    const es = Buffer.from(p.sign('ES256', pem(ec.privateKey), 'msg') as string, 'base64');
    assert.equal(es.length, 64);
    assert.equal(verify('sha256', Buffer.from('msg'), { key: ec.publicKey, dsaEncoding: 'ieee-p1363' }, es), true);
    const eds = Buffer.from(p.sign('EdDSA', pem(ed.privateKey), 'msg') as string, 'base64');
    assert.equal(verify(null, Buffer.from('msg'), ed.publicKey, eds), true);
  });

  it('refuses an unknown algorithm, a key of the wrong type and a garbage key with a clear message', () => {
    assert.match(p.try('HS999', pem(ec.publicKey)), /unsupported algorithm "HS999"/);
    assert.match(p.try('RS256', pem(ec.publicKey)), /a ec key cannot be used for RSASSA-PKCS1-v1_5/);
    assert.match(p.try('ES256', 'not a key'), /invalid public key/);
  });

  it('a JWK naming another alg, or a use other than sig, is refused', () => {
    const jwk = ec.publicKey.export({ format: 'jwk' });
    assert.match(p.try('ES256', JSON.stringify({ ...jwk, alg: 'ES384' })), /alg is "ES384", not ES256/);
    assert.match(p.try('ES256', JSON.stringify({ ...jwk, use: 'enc' })), /use is "enc"/);
    assert.equal(p.try('ES256', JSON.stringify({ ...jwk, alg: 'ES256', use: 'sig' })), 'false');
  });

  it('equals compares in constant time and by length', () => {
    assert.equal(p.equals('abc', 'abc'), true);
    assert.equal(p.equals('abc', 'abd'), false);
    assert.equal(p.equals('abc', 'abcd'), false);
  });
});
