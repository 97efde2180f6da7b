// Kept in its own folder: the demo (terrarium demo) loads the top-level examples with no grants, and this one needs a fetch grant.
// Gateway middleware: an authorization callout. The request's credentials (its Authorization
// header) are forwarded to an auth service with fetch; its answer (2xx: allow, anything else:
// deny) is cached in host.kv for `cacheSeconds`, keyed by a SHA-256 of the credentials so the
// store never holds them. Needs a fetch grant for the auth origin and the kv capability:
//   plugins: { grants: { authz-callout: { fetch: ['http://127.0.0.1:9000'] } }, capabilities: { kv: true } }
export const meta = {
  name: 'authz-callout',
  version: '1.0.0',
  apiVersion: 1,
  description: 'Forward credentials to an auth service with fetch, cache the answer in host.kv',
  permissions: { fetch: ['http://127.0.0.1:9000'], kv: true },
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      authUrl: { type: 'string', default: 'http://127.0.0.1:9000/check' },
      cacheSeconds: { type: 'integer', minimum: 1, default: 30 },
      timeoutMs: { type: 'integer', minimum: 1, default: 2000 },
    },
  },
};

const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');

export async function onRequest(req, ctx) {
  const { authUrl = 'http://127.0.0.1:9000/check', cacheSeconds = 30, timeoutMs = 2000 } = ctx.config ?? {};
  const credentials = req.headers.authorization;
  if (!credentials) return { respond: { status: 401, headers: { 'www-authenticate': 'Bearer' }, body: { error: 'credentials required' } } };
  const key = `authz:${hex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(credentials)))}`;
  let verdict = host.kv.get(key);
  if (verdict === null || verdict === undefined) {
    const res = await fetch(authUrl, { method: 'POST', headers: { authorization: credentials, 'x-forwarded-uri': req.path ?? '/' }, signal: AbortSignal.timeout(timeoutMs) });
    verdict = res.ok ? { allow: true, user: res.headers.get('x-auth-user') ?? '' } : { allow: false, status: res.status };
    host.kv.set(key, verdict, cacheSeconds * 1000);
  }
  if (!verdict.allow) return { respond: { status: 403, body: { error: 'forbidden' } } };
  return { setHeaders: { 'x-auth-user': verdict.user } };
}
