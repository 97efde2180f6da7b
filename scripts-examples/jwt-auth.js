// A JWT middleware: `Authorization: Bearer <jwt>` checked with crypto.subtle (the signature runs
// in the host on node:crypto). HS256, RS256 and ES256; `exp` and `nbf` (with leeway), `aud` and
// `iss` when configured. A good token passes with its subject in x-jwt-sub; anything else is 401.
// Config:
//   keys: [{ kid?, alg: 'HS256', secret }            a shared secret (text)
//          { kid?, alg: 'RS256' | 'ES256', jwk }     a public JWK
//          { kid?, alg: 'RS256' | 'ES256', pem }]    a PEM public key (SPKI)
//   audience?, issuer?, leewaySeconds? (60)
//   jwksUrl?: a JWKS document fetched with fetch() and cached for jwksTtlSeconds (300); needs the
//             fetch permission for that origin where the host offers fetch.
export const meta = {
  name: 'jwt-auth', version: '1.0.0', apiVersion: 1,
  description: 'Verifies a bearer JWT (HS256, RS256, ES256)',
  gateway: { requestHeaders: ['authorization'] },
};

const ALGS = {
  HS256: { importAlg: { name: 'HMAC', hash: 'SHA-256' }, verifyAlg: 'HMAC' },
  RS256: { importAlg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, verifyAlg: 'RSASSA-PKCS1-v1_5' },
  ES256: { importAlg: { name: 'ECDSA', namedCurve: 'P-256' }, verifyAlg: { name: 'ECDSA', hash: 'SHA-256' } },
};

const b64uBytes = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
const b64uJson = (s) => JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b64uBytes(s)));
const pemBytes = (pem) => b64uBytes(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''));

// Imported keys, per config entry: importKey is a host call, so do it once.
const cache = new Map();
let jwks = { at: -Infinity, keys: [] };

async function importOne(k) {
  const a = ALGS[k.alg];
  if (!a) throw new Error(`unsupported alg ${k.alg}`);
  if (k.alg === 'HS256') return crypto.subtle.importKey('raw', new TextEncoder().encode(k.secret), a.importAlg, false, ['verify']);
  if (k.jwk) return crypto.subtle.importKey('jwk', k.jwk, a.importAlg, false, ['verify']);
  return crypto.subtle.importKey('spki', pemBytes(k.pem), a.importAlg, false, ['verify']);
}

async function keysFor(config) {
  const out = [];
  for (const k of config.keys ?? []) {
    const id = JSON.stringify(k);
    if (!cache.has(id)) cache.set(id, await importOne(k));
    out.push({ kid: k.kid, alg: k.alg, key: cache.get(id) });
  }
  if (config.jwksUrl) {
    const ttl = (config.jwksTtlSeconds ?? 300) * 1000;
    if (performance.now() - jwks.at > ttl) {
      const doc = await (await fetch(config.jwksUrl)).json();
      const keys = [];
      for (const jwk of doc.keys ?? []) {
        const alg = jwk.alg ?? (jwk.kty === 'EC' ? 'ES256' : 'RS256');
        if (!ALGS[alg] || alg === 'HS256') continue;
        keys.push({ kid: jwk.kid, alg, key: await crypto.subtle.importKey('jwk', jwk, ALGS[alg].importAlg, false, ['verify']) });
      }
      jwks = { at: performance.now(), keys };
    }
    out.push(...jwks.keys);
  }
  return out;
}

const deny = (why) => ({ respond: { status: 401, headers: { 'www-authenticate': `Bearer error="invalid_token", error_description="${why}"` }, body: why } });

export async function onRequest(req, ctx) {
  const auth = req.headers.authorization;
  if (typeof auth !== 'string' || !auth.startsWith('Bearer ')) return deny('missing bearer token');
  const parts = auth.slice(7).trim().split('.');
  if (parts.length !== 3) return deny('malformed token');
  let header, claims;
  try {
    header = b64uJson(parts[0]);
    claims = b64uJson(parts[1]);
  } catch {
    return deny('malformed token');
  }
  const a = ALGS[header.alg];
  if (!a) return deny('unsupported alg');
  const candidates = (await keysFor(ctx.config)).filter((k) => k.alg === header.alg && (header.kid === undefined || k.kid === undefined || k.kid === header.kid));
  const signed = new TextEncoder().encode(parts[0] + '.' + parts[1]);
  let sig;
  try {
    sig = b64uBytes(parts[2]);
  } catch {
    return deny('malformed token');
  }
  let ok = false;
  for (const k of candidates) if (!ok) ok = await crypto.subtle.verify(a.verifyAlg, k.key, sig, signed);
  if (!ok) return deny('bad signature');
  const now = Date.now() / 1000;
  const leeway = ctx.config.leewaySeconds ?? 60;
  if (typeof claims.exp === 'number' && now > claims.exp + leeway) return deny('token expired');
  if (typeof claims.nbf === 'number' && now < claims.nbf - leeway) return deny('token not yet valid');
  if (ctx.config.audience !== undefined) {
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.includes(ctx.config.audience)) return deny('wrong audience');
  }
  if (ctx.config.issuer !== undefined && claims.iss !== ctx.config.issuer) return deny('wrong issuer');
  return { setHeaders: { 'x-jwt-sub': String(claims.sub ?? '') }, removeHeaders: [] };
}
