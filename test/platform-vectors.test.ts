/**
 * The specs' own test data (test/vectors/, origins and licences in its README.md), run inside a
 * real plugin sandbox: Wycheproof signature vectors through crypto.subtle.verify in a QuickJS
 * plugin (ECDSA P-256/P-384 in P1363 form, RSASSA-PKCS1-v1_5, RSA-PSS, Ed25519, HMAC) and
 * through crypto.verify in a Lua plugin; web-platform-tests' URL parsing, URL setters and
 * forgiving-base64 (atob) data in the QuickJS plugin. Wycheproof's "acceptable" allows either
 * answer; "valid" must verify and "invalid" must not (a false, never a throw). The test code is
 * our own; the data files are adopted unchanged apart from the parts and fields kept.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createPublicKey } from 'node:crypto';
import { createHost, type Host } from 'terrarium-plugins';
import { fixtureDir } from './engines/conformance.js';

const vec = (p: string) => JSON.parse(readFileSync(new URL(`./vectors/${p}`, import.meta.url), 'utf8'));

interface SigTest { tcId: number; msg: string; sig: string; result: 'valid' | 'invalid' | 'acceptable' }
interface SigGroup { publicKeyDer: string; sha?: string; sLen?: number; tests: SigTest[] }
interface MacTest { tcId: number; key: string; msg: string; tag: string; result: 'valid' | 'invalid' }

const JS = `
const unhex = (h) => { const b = new Uint8Array(h.length / 2); for (let i = 0; i < b.length; i++) b[i] = parseInt(h.substr(i * 2, 2), 16); return b; };
export async function verifyGroup(der, importAlg, verifyAlg, tests) {
  const key = await crypto.subtle.importKey('spki', unhex(der), importAlg, false, ['verify']);
  const out = [];
  for (const t of tests) {
    try { out.push([t.tcId, await crypto.subtle.verify(verifyAlg, key, unhex(t.sig), unhex(t.msg))]); } catch (e) { out.push([t.tcId, 'threw ' + e.name]); }
  }
  return out;
}
export async function hmacTests(hash, tests) {
  const out = [];
  for (const t of tests) {
    const key = await crypto.subtle.importKey('raw', unhex(t.key), { name: 'HMAC', hash }, false, ['verify']);
    out.push([t.tcId, await crypto.subtle.verify('HMAC', key, unhex(t.tag), unhex(t.msg))]);
  }
  return out;
}
const PARTS = ['href', 'origin', 'protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'hash'];
export function parseUrls(cases) {
  return cases.map((c) => {
    let u;
    try { u = c.base === null ? new URL(c.input) : new URL(c.input, c.base); } catch (e) { return e instanceof TypeError ? 'failure' : 'threw ' + e.name; }
    const r = {};
    for (const k of PARTS) r[k] = u[k];
    return r;
  });
}
export function setters(cases) {
  return cases.map(([attr, c]) => {
    const u = new URL(c.href);
    u[attr] = c.new_value;
    const r = {};
    for (const k of Object.keys(c.expected)) r[k] = u[k];
    return r;
  });
}
export function atobAll(inputs) {
  return inputs.map((s) => { try { return Array.from(atob(s), (ch) => ch.charCodeAt(0)); } catch (e) { return e.name === 'InvalidCharacterError' ? null : 'threw ' + e.name; } });
}
`;

const LUA = `
local M = {}
function M.verify(alg, key, tests)
  local out = {}
  for i, t in ipairs(tests) do
    local ok, r = pcall(crypto.verify, alg, key, hex.decode(t.msg), hex.decode(t.sig))
    if ok then out[i] = r else out[i] = 'threw ' .. tostring(r) end
  end
  return host.array(out)
end
return M
`;

/** The assertion Wycheproof defines: valid verifies, invalid does not, acceptable may do either; none throws. */
function check(name: string, tests: { tcId: number; result: string }[], got: [number, unknown][]): void {
  assert.equal(got.length, tests.length, name);
  tests.forEach((t, i) => {
    const [id, ok] = got[i]!;
    assert.equal(id, t.tcId);
    assert.equal(typeof ok, 'boolean', `${name} tcId ${t.tcId}: ${String(ok)}`);
    if (t.result !== 'acceptable') assert.equal(ok, t.result === 'valid', `${name} tcId ${t.tcId} is ${t.result}`);
  });
}

const SIGS: { file: string; importAlg: Record<string, unknown>; verifyAlg: (g: SigGroup) => Record<string, unknown>; jose: string }[] = [
  { file: 'wycheproof/ecdsa_secp256r1_sha256_p1363_test.part.json', importAlg: { name: 'ECDSA', namedCurve: 'P-256' }, verifyAlg: () => ({ name: 'ECDSA', hash: 'SHA-256' }), jose: 'ES256' },
  { file: 'wycheproof/ecdsa_secp384r1_sha384_p1363_test.part.json', importAlg: { name: 'ECDSA', namedCurve: 'P-384' }, verifyAlg: () => ({ name: 'ECDSA', hash: 'SHA-384' }), jose: 'ES384' },
  { file: 'wycheproof/rsa_signature_2048_sha256_test.part.json', importAlg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, verifyAlg: () => ({ name: 'RSASSA-PKCS1-v1_5' }), jose: 'RS256' },
  { file: 'wycheproof/rsa_pss_2048_sha256_mgf1_32_test.part.json', importAlg: { name: 'RSA-PSS', hash: 'SHA-256' }, verifyAlg: (g) => ({ name: 'RSA-PSS', saltLength: g.sLen }), jose: 'PS256' },
  { file: 'wycheproof/ed25519_test.part.json', importAlg: { name: 'Ed25519' }, verifyAlg: () => ({ name: 'Ed25519' }), jose: 'EdDSA' },
];

describe('spec test vectors inside plugins', () => {
  let dir: string;
  let host: Host;
  type F = (...a: unknown[]) => Promise<any>;
  before(async () => {
    dir = await fixtureDir({ 'vectors.js': JS, 'vectors_lua.lua': LUA });
    host = await createHost({ dir, limits: { memoryBytes: 32 << 20, callTimeoutMs: 60_000, loadTimeoutMs: 20_000 } });
  });
  after(async () => {
    await host?.close();
    await rm(dir, { recursive: true, force: true });
  });
  const js = () => host.get<Record<string, F>>('vectors');
  const lua = () => host.get<Record<string, F>>('vectors_lua');

  for (const s of SIGS) {
    it(`Wycheproof ${s.file.replace('wycheproof/', '')}: crypto.subtle.verify gives each case's result`, async () => {
      for (const g of vec(s.file).testGroups as SigGroup[]) check(s.file, g.tests, await js().verifyGroup!(g.publicKeyDer, s.importAlg, s.verifyAlg(g), g.tests));
    });
    it(`Wycheproof ${s.file.replace('wycheproof/', '')}: Lua crypto.verify (${s.jose}) gives each case's result`, async () => {
      for (const g of vec(s.file).testGroups as SigGroup[]) {
        const pem = createPublicKey({ key: Buffer.from(g.publicKeyDer, 'hex'), format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' }) as string;
        const got = (await lua().verify!(s.jose, pem, g.tests)) as unknown[];
        check(`${s.file} (Lua)`, g.tests, got.map((r, i) => [g.tests[i]!.tcId, r]));
      }
    });
  }

  it('Wycheproof hmac_sha256_test.part.json: crypto.subtle.verify (HMAC) gives each case\'s result', async () => {
    const tests = vec('wycheproof/hmac_sha256_test.part.json').testGroups[0].tests as MacTest[];
    check('hmac', tests, await js().hmacTests!('SHA-256', tests));
  });

  it('WPT urltestdata.part.json: new URL parses each case to its parts, or throws TypeError on failure', async () => {
    const cases = (vec('wpt/urltestdata.part.json') as unknown[]).filter((c): c is Record<string, unknown> => typeof c === 'object');
    const got = await js().parseUrls!(cases.map((c) => ({ input: c.input, base: c.base ?? null })));
    cases.forEach((c, i) => {
      if (c.failure) return assert.equal(got[i], 'failure', JSON.stringify(c.input));
      for (const k of Object.keys(got[i])) if (k in c) assert.equal(got[i][k], c[k], `${JSON.stringify(c.input)} ${k}`);
    });
  });

  it('WPT setters_tests.part.json: each setter leaves the expected parts', async () => {
    const data = vec('wpt/setters_tests.part.json') as Record<string, { href: string; new_value: string; expected: Record<string, string> }[]>;
    const cases = Object.entries(data).flatMap(([attr, list]) => list.map((c) => [attr, c] as const));
    const got = await js().setters!(cases);
    cases.forEach(([attr, c], i) => assert.deepEqual(got[i], c.expected, `${attr} = ${JSON.stringify(c.new_value)} on ${c.href}`));
  });

  it('WPT base64.json: atob decodes each valid input and throws InvalidCharacterError for the others', async () => {
    const data = vec('wpt/base64.json') as [string, number[] | null][];
    const got = await js().atobAll!(data.map((d) => d[0]));
    data.forEach(([input, want], i) => assert.deepEqual(got[i], want, JSON.stringify(input)));
  });
});
