/** basicAuth (bcrypt, SHA1, apr1 hashes; users and usersFile), forwardAuth and ipAllowList, through a running gateway. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import md5 from 'apache-md5';
import bcrypt from 'bcryptjs';
import { createGateway } from '../dist/gateway/index.js';
import { baseConfig, request, tempDir, upstream } from './fixtures/gateway/helpers.js';
import { withMiddlewares } from './fixtures/gateway/builtins.js';

const basic = (user: string, pw: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}` });

describe('basicAuth', () => {
  it('accepts bcrypt ($2y$), SHA1 and apr1 hashes from users and usersFile; refuses others with 401 and the realm', async (t) => {
    const d = await tempDir({});
    t.after(() => d.cleanup());
    const file = path.join(d.dir, 'users.htpasswd');
    await writeFile(file, `# comment\ncarol:${md5('c-pass')}\n`);
    const users = [`alice:${bcrypt.hashSync('a-pass', 4).replace(/^\$2b\$/, '$2y$')}`, `bob:{SHA}${createHash('sha1').update('b-pass').digest('base64')}`];
    const gw = await withMiddlewares(t, { a: { basicAuth: { users, usersFile: file, realm: 'inside', headerField: 'X-WebAuth-User', removeHeader: true } } }, ['a']);
    for (const [u, p] of [['alice', 'a-pass'], ['bob', 'b-pass'], ['carol', 'c-pass']] as const) {
      const r = await request(gw.url, { headers: basic(u, p) });
      assert.equal(r.status, 200, u);
      const seen = r.json<{ headers: Record<string, string> }>().headers;
      assert.equal(seen['x-webauth-user'], u);
      assert.equal(seen.authorization, undefined);
    }
    const bad = await request(gw.url, { headers: basic('alice', 'wrong') });
    assert.equal(bad.status, 401);
    assert.equal(bad.headers['www-authenticate'], 'Basic realm="inside"');
    assert.equal((await request(gw.url)).status, 401);
    assert.equal((await request(gw.url, { headers: basic('nobody', 'x') })).status, 401);
  });

  it('refuses a plain-text password and an unreadable usersFile at load, with the path', async () => {
    const d = await tempDir({});
    try {
      await assert.rejects(
        createGateway(baseConfig(d.dir, { routers: {}, middlewares: { a: { basicAuth: { users: ['alice:plain'], usersFile: 'missing.htpasswd' } } } as never })),
        (e: Error) => {
          assert.match(e.message, /http\.middlewares\.a\.basicAuth\.users\[0\]: the hash of user "alice" is not bcrypt/);
          assert.match(e.message, /http\.middlewares\.a\.basicAuth\.usersFile: cannot read/);
          return true;
        },
      );
    } finally {
      await d.cleanup();
    }
  });
});

describe('forwardAuth', () => {
  it('lets 2xx through with authResponseHeaders copied, and sends any other answer to the client', async (t) => {
    const auth = await upstream((req, res) => {
      if (req.headers['x-token'] === 'ok') {
        res.setHeader('x-user', 'alice');
        res.setHeader('set-cookie', ['session=1; Path=/', 'other=2']);
        res.end();
      } else {
        res.writeHead(401, { 'www-authenticate': 'Bearer', location: '/login' });
        res.end('nope');
      }
    });
    const up = await upstream((req, res) => res.end(JSON.stringify(req.headers)));
    t.after(() => auth.close());
    t.after(() => up.close());
    const gw = await withMiddlewares(t, { f: { forwardAuth: { address: `${auth.url}/verify`, authResponseHeaders: ['X-User'], addAuthCookiesToResponse: ['session'] } } }, ['f'], { loadBalancer: { servers: [{ url: up.url }] } });
    const ok = await request(`${gw.url}/app?x=1`, { method: 'POST', headers: { 'x-token': 'ok', 'x-user': 'forged' }, body: 'data' });
    assert.equal(ok.status, 200);
    assert.equal(ok.json<Record<string, string>>()['x-user'], 'alice');
    assert.deepEqual(ok.headers['set-cookie'], ['session=1; Path=/']);
    const asked = auth.seen[0]!;
    assert.equal(asked.method, 'GET');
    assert.equal(asked.url, '/verify');
    assert.equal(asked.headers['x-forwarded-method'], 'POST');
    assert.equal(asked.headers['x-forwarded-uri'], '/app?x=1');
    assert.equal(asked.headers['x-forwarded-proto'], 'http');
    const no = await request(`${gw.url}/app`, { headers: { 'x-user': 'forged' } });
    assert.equal(no.status, 401);
    assert.equal(no.text, 'nope');
    assert.equal(no.headers['www-authenticate'], 'Bearer');
    assert.equal(no.headers.location, `${auth.url}/login`);
    assert.equal(up.seen.length, 1);
  });

  it('answers 500 when the auth server cannot be reached', async (t) => {
    const gone = await upstream((_req, res) => res.end());
    await gone.close();
    const gw = await withMiddlewares(t, { f: { forwardAuth: { address: gone.url } } }, ['f']);
    assert.equal((await request(gw.url)).status, 500);
  });
});

describe('ipAllowList', () => {
  it('lets in addresses of sourceRange only (the peer address, or X-Forwarded-For by depth)', async (t) => {
    const gw = await withMiddlewares(t, { lo: { ipAllowList: { sourceRange: ['127.0.0.1/32', '::1'] } }, ten: { ipAllowList: { sourceRange: ['10.0.0.0/8'] } }, xff: { ipAllowList: { sourceRange: ['10.0.0.0/8'], ipStrategy: { depth: 1 } } } }, ['lo']);
    assert.equal((await request(gw.url)).status, 200);
    const ten = await withMiddlewares(t, { ten: { ipAllowList: { sourceRange: ['10.0.0.0/8'] } } }, ['ten']);
    const denied = await request(ten.url, { headers: { 'x-forwarded-for': '10.1.1.1' } });
    assert.equal(denied.status, 403);
    assert.equal(denied.text, 'Forbidden');
    // X-Forwarded-For reaches the middleware only from a trusted peer (entryPoints.forwardedHeaders), as in Traefik.
    const trusted = { entryPoints: { web: { address: '127.0.0.1:0', forwardedHeaders: { trustedIPs: ['127.0.0.1', '::1'] } } } };
    const xff = await withMiddlewares(t, { xff: { ipAllowList: { sourceRange: ['10.0.0.0/8'], ipStrategy: { depth: 1 } } } }, ['xff'], undefined, trusted);
    assert.equal((await request(xff.url, { headers: { 'x-forwarded-for': '1.2.3.4, 10.1.1.1' } })).status, 200);
    assert.equal((await request(xff.url, { headers: { 'x-forwarded-for': '10.1.1.1, 1.2.3.4' } })).status, 403);
  });

  it('refuses a bad range at load with its path', async () => {
    const d = await tempDir({});
    try {
      await assert.rejects(createGateway(baseConfig(d.dir, { routers: {}, middlewares: { a: { ipAllowList: { sourceRange: ['10.0.0.0/33'] } } } as never })), /ipAllowList\.sourceRange\[0\]: "10\.0\.0\.0\/33" is not an IP address or CIDR range/);
    } finally {
      await d.cleanup();
    }
  });
});
