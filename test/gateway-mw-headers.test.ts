/** headers (custom, security, CORS), redirectScheme and redirectRegex, through a running gateway. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request, upstream } from './fixtures/gateway/helpers.js';
import { withMiddlewares } from './fixtures/gateway/builtins.js';

describe('headers', () => {
  it('sets and removes request and response headers (an empty value removes)', async (t) => {
    const up = await upstream((req, res) => {
      res.setHeader('x-powered-by', 'php');
      res.end(JSON.stringify(req.headers));
    });
    t.after(() => up.close());
    const gw = await withMiddlewares(t, { h: { headers: { customRequestHeaders: { 'X-Script-Name': 'test', 'X-Drop': '' }, customResponseHeaders: { 'X-Custom': 'yes', 'X-Powered-By': '' } } } }, ['h'], { loadBalancer: { servers: [{ url: up.url }] } });
    const r = await request(gw.url, { headers: { 'x-drop': 'secret' } });
    const seen = r.json<Record<string, string>>();
    assert.equal(seen['x-script-name'], 'test');
    assert.equal(seen['x-drop'], undefined);
    assert.equal(r.headers['x-custom'], 'yes');
    assert.equal(r.headers['x-powered-by'], undefined);
  });

  it('adds the security headers; HSTS only over TLS unless forceSTSHeader', async (t) => {
    const sec = { frameDeny: true, contentTypeNosniff: true, browserXssFilter: true, contentSecurityPolicy: "default-src 'self'", referrerPolicy: 'no-referrer', permissionsPolicy: 'camera=()', stsSeconds: 31536000, stsIncludeSubdomains: true, stsPreload: true };
    const gw = await withMiddlewares(t, { s: { headers: sec }, f: { headers: { ...sec, forceSTSHeader: true } } }, ['s']);
    const r = await request(gw.url);
    assert.equal(r.headers['x-frame-options'], 'DENY');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['x-xss-protection'], '1; mode=block');
    assert.equal(r.headers['content-security-policy'], "default-src 'self'");
    assert.equal(r.headers['referrer-policy'], 'no-referrer');
    assert.equal(r.headers['permissions-policy'], 'camera=()');
    assert.equal(r.headers['strict-transport-security'], undefined);
    const forced = await withMiddlewares(t, { f: { headers: { ...sec, forceSTSHeader: true } } }, ['f']);
    assert.equal((await request(forced.url)).headers['strict-transport-security'], 'max-age=31536000; includeSubDomains; preload');
  });

  it('answers a CORS preflight itself and adds the allow headers to allowed origins only', async (t) => {
    const up = await upstream((_req, res) => res.end('ok'));
    t.after(() => up.close());
    const gw = await withMiddlewares(
      t,
      { c: { headers: { accessControlAllowMethods: ['GET', 'OPTIONS', 'PUT'], accessControlAllowHeaders: ['X-Token'], accessControlAllowOriginList: ['https://a.example'], accessControlAllowOriginListRegex: ['^https://.*\\.b\\.example$'], accessControlMaxAge: 100, accessControlExposeHeaders: ['X-Total'], addVaryHeader: true } } },
      ['c'],
      { loadBalancer: { servers: [{ url: up.url }] } },
    );
    const pre = await request(gw.url, { method: 'OPTIONS', headers: { origin: 'https://a.example', 'access-control-request-method': 'PUT' } });
    assert.equal(pre.status, 200);
    assert.equal(pre.headers['access-control-allow-origin'], 'https://a.example');
    assert.equal(pre.headers['access-control-allow-methods'], 'GET,OPTIONS,PUT');
    assert.equal(pre.headers['access-control-allow-headers'], 'X-Token');
    assert.equal(pre.headers['access-control-max-age'], '100');
    assert.equal(up.seen.length, 0);
    const ok = await request(gw.url, { headers: { origin: 'https://x.b.example' } });
    assert.equal(ok.headers['access-control-allow-origin'], 'https://x.b.example');
    assert.equal(ok.headers['access-control-expose-headers'], 'X-Total');
    assert.equal(ok.headers.vary, 'Origin');
    const no = await request(gw.url, { headers: { origin: 'https://evil.example' } });
    assert.equal(no.headers['access-control-allow-origin'], undefined);
  });

  it('refuses a request whose host is not in allowedHosts', async (t) => {
    const gw = await withMiddlewares(t, { h: { headers: { allowedHosts: ['good.example'] } } }, ['h']);
    assert.equal((await request(gw.url, { headers: { host: 'good.example' } })).status, 200);
    assert.equal((await request(gw.url, { headers: { host: 'bad.example' } })).status, 400);
  });
});

describe('redirects', () => {
  it('redirectScheme sends http to https (301 for GET, 308 otherwise), dropping the default port', async (t) => {
    const gw = await withMiddlewares(t, { r: { redirectScheme: { scheme: 'https', permanent: true } }, p: { redirectScheme: { scheme: 'https', port: '8443' } } }, ['r']);
    const r = await request(`${gw.url}/a/b?x=1`, { headers: { host: 'site.example:8080' } });
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, 'https://site.example/a/b?x=1');
    assert.equal((await request(`${gw.url}/a`, { method: 'POST', headers: { host: 'site.example' } })).status, 308);
    const p = await withMiddlewares(t, { p: { redirectScheme: { scheme: 'https', port: '8443' } } }, ['p']);
    const r2 = await request(`${p.url}/a`, { headers: { host: 'site.example' } });
    assert.equal(r2.status, 302);
    assert.equal(r2.headers.location, 'https://site.example:8443/a');
  });

  it('redirectRegex redirects when the full URL matches, with Go ${n} templates', async (t) => {
    const gw = await withMiddlewares(t, { r: { redirectRegex: { regex: '^http://([^/:]+)(:[0-9]+)?/old/(.*)', replacement: 'https://${1}/new/${3}' } } }, ['r']);
    const r = await request(`${gw.url}/old/x?y=1`, { headers: { host: 'site.example' } });
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, 'https://site.example/new/x?y=1');
    assert.equal((await request(`${gw.url}/other`)).status, 200);
  });
});
