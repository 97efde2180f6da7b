/**
 * The two signature examples of scripts-examples/, through a running gateway over real HTTP:
 * jwt-auth.js (HS256, RS256, ES256; exp, nbf, aud, iss) and webhook-hmac.lua (X-Hub-Signature-256).
 * Tokens and signatures are made here with node:crypto, independently of the plugins.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { baseConfig, gateway, request, tempDir } from './fixtures/gateway/helpers.js';

const EXAMPLES = fileURLToPath(new URL('../scripts-examples/', import.meta.url));
const b64u = (v: Buffer | string) => Buffer.from(v).toString('base64url');

function jwt(alg: string, claims: Record<string, unknown>, key: string | KeyObject, kid?: string): string {
  const head = b64u(JSON.stringify({ alg, typ: 'JWT', ...(kid ? { kid } : {}) }));
  const body = b64u(JSON.stringify(claims));
  const input = `${head}.${body}`;
  let sig: Buffer;
  if (alg === 'HS256') sig = createHmac('sha256', key as string).update(input).digest();
  else if (alg === 'RS256') sig = sign('sha256', Buffer.from(input), key as KeyObject);
  else sig = sign('sha256', Buffer.from(input), { key: key as KeyObject, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64u(sig)}`;
}

async function start(t: { after(fn: () => unknown): void }, file: string, config: Record<string, unknown>) {
  const d = await tempDir({});
  t.after(() => d.cleanup());
  await copyFile(path.join(EXAMPLES, file), path.join(d.dir, file));
  const name = file.replace(/\.(js|lua)$/, '');
  return gateway(
    t,
    baseConfig(d.dir, {
      routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['m'], service: 'echo' } },
      middlewares: { m: { plugin: { [name]: config } } },
    } as never, { plugins: { dir: d.dir, limits: { callTimeoutMs: 5000, memoryBytes: 16 << 20 } } } as never),
  );
}

describe('scripts-examples/jwt-auth.js', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Math.floor(Date.now() / 1000);
  const config = {
    audience: 'api',
    issuer: 'https://issuer.test',
    keys: [
      { alg: 'HS256', secret: 'a shared secret' },
      { alg: 'RS256', kid: 'r1', jwk: rsa.publicKey.export({ format: 'jwk' }) },
      { alg: 'ES256', pem: ec.publicKey.export({ format: 'pem', type: 'spki' }) },
    ],
  };
  const good = { sub: 'alice', aud: 'api', iss: 'https://issuer.test', exp: now + 600, nbf: now - 10 };
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

  it('lets HS256, RS256 and ES256 tokens through with the subject, and refuses each kind of bad token with 401', async (t) => {
    const gw = await start(t, 'jwt-auth.js', config);
    for (const token of [jwt('HS256', good, 'a shared secret'), jwt('RS256', good, rsa.privateKey, 'r1'), jwt('ES256', good, ec.privateKey)]) {
      const r = await request(gw.url, { headers: bearer(token) });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json<{ headers: Record<string, string> }>().headers['x-jwt-sub'], 'alice');
    }
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const bad: [string, Record<string, string>][] = [
      ['no token', {}],
      ['wrong secret', bearer(jwt('HS256', good, 'another secret'))],
      ['wrong EC key', bearer(jwt('ES256', good, other.privateKey))],
      ['expired', bearer(jwt('HS256', { ...good, exp: now - 3600 }, 'a shared secret'))],
      ['not yet valid', bearer(jwt('HS256', { ...good, nbf: now + 3600 }, 'a shared secret'))],
      ['wrong audience', bearer(jwt('HS256', { ...good, aud: 'other' }, 'a shared secret'))],
      ['wrong issuer', bearer(jwt('HS256', { ...good, iss: 'https://evil.test' }, 'a shared secret'))],
      ['alg none', bearer(`${b64u('{"alg":"none"}')}.${b64u(JSON.stringify(good))}.`)],
      ['garbage', bearer('a.b.c')],
      ['RS256 header on an HS256 secret', bearer(jwt('HS256', good, 'a shared secret').replace(/^[^.]+/, b64u('{"alg":"RS256"}')))],
    ];
    for (const [why, headers] of bad) {
      const r = await request(gw.url, { headers });
      assert.equal(r.status, 401, why);
      assert.match(r.headers['www-authenticate'] as string, /^Bearer error="invalid_token"/, why);
    }
  });
});

describe('scripts-examples/webhook-hmac.lua', () => {
  it('passes a body signed with the secret, and answers 401 to a missing, wrong or tampered signature', async (t) => {
    const gw = await start(t, 'webhook-hmac.lua', { secret: 'hook secret' });
    const body = JSON.stringify({ action: 'opened', number: 7 });
    const sig = (s: string, b: string) => 'sha256=' + createHmac('sha256', s).update(b).digest('hex');
    const ok = await request(gw.url, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-hub-signature-256': sig('hook secret', body) } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json<{ headers: Record<string, string> }>().headers['x-webhook-verified'], '1');
    for (const [why, headers, b] of [
      ['missing', {}, body],
      ['wrong secret', { 'x-hub-signature-256': sig('other', body) }, body],
      ['tampered body', { 'x-hub-signature-256': sig('hook secret', body) }, body.replace('7', '8')],
      ['not sha256=', { 'x-hub-signature-256': 'sha1=abc' }, body],
    ] as [string, Record<string, string>, string][]) {
      const r = await request(gw.url, { method: 'POST', body: b, headers });
      assert.equal(r.status, 401, why);
    }
  });
});
