/**
 * The admin server lets no one in (issue 26): a non-loopback address without auth is refused at
 * start (ERR_ADMIN_INSECURE) unless insecure: true (then logged); with a token or htpasswd users,
 * unauthenticated, wrongly authenticated and cross-origin requests are refused, the right token
 * is accepted; actions (POST /api/reload) need the CSRF header and a same-origin Origin.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { createGateway } from '../dist/gateway/index.js';
import { TerrariumError } from '../dist/errors.js';
import { baseConfig, gateway, memoryLogger, request, tempDir } from './fixtures/gateway/helpers.js';

const TOKEN = 'a-long-random-admin-token-0123456789';
const sha = (pw: string) => `{SHA}${createHash('sha1').update(pw).digest('base64')}`;
const routes = { routers: { r: { rule: 'PathPrefix(`/`)', service: 'echo' } } };

/** A gateway whose admin has `admin` (with `tokenFile: true`: the token file of a temp dir holding TOKEN). */
async function adminGateway(t: { after(fn: () => unknown): void }, admin: { tokenFile?: boolean }) {
  const own = await tempDir({ 'admin.token': `${TOKEN}\n` });
  t.after(() => own.cleanup());
  const auth = admin.tokenFile ? { auth: { tokenFile: path.join(own.dir, 'admin.token') } } : {};
  const config = baseConfig(own.dir, routes, { admin: { address: '127.0.0.1:0', ...auth } as never });
  const gw = await gateway(t, { ...config }, { watchConfig: false, logger: memoryLogger() });
  return { gw, admin: gw.admin!.url, dir: own.dir };
}

describe('admin auth: refused at start when open to the network', () => {
  it('a non-loopback admin address without auth is refused with ERR_ADMIN_INSECURE', async () => {
    const own = await tempDir({});
    try {
      const config = baseConfig(own.dir, routes, { admin: { address: '0.0.0.0:0' } });
      await assert.rejects(createGateway(config, { watchConfig: false, logger: memoryLogger() }), (e: unknown) => {
        assert.ok(e instanceof TerrariumError);
        assert.equal(e.code, 'ERR_ADMIN_INSECURE');
        assert.equal((e as TerrariumError & { address: string }).address, '0.0.0.0:0');
        assert.match(e.message, /admin\.auth/);
        return true;
      });
    } finally {
      await own.cleanup();
    }
  });

  it('insecure: true starts it and logs a warning with the code', async (t) => {
    const own = await tempDir({});
    t.after(() => own.cleanup());
    const logger = memoryLogger();
    const gw = await gateway(t, baseConfig(own.dir, routes, { admin: { address: '0.0.0.0:0', insecure: true } as never }), { watchConfig: false, logger });
    assert.ok(gw.admin);
    assert.ok(logger.lines.some((l) => l.level === 'warn' && (l.obj as { code?: string }).code === 'ERR_ADMIN_INSECURE'));
  });

  it('a tokenEnv that is unset is refused at start, naming the variable', async () => {
    const own = await tempDir({});
    try {
      const config = baseConfig(own.dir, routes, { admin: { address: '127.0.0.1:0', auth: { tokenEnv: 'TERRARIUM_TEST_UNSET_TOKEN_VAR' } } as never });
      await assert.rejects(createGateway(config, { watchConfig: false, logger: memoryLogger() }), /ERR_ADMIN_INSECURE.*TERRARIUM_TEST_UNSET_TOKEN_VAR/s);
    } finally {
      await own.cleanup();
    }
  });

  it('a bad htpasswd entry in admin.auth.users is refused at start', async () => {
    const own = await tempDir({});
    try {
      const config = baseConfig(own.dir, routes, { admin: { address: '127.0.0.1:0', auth: { users: ['alice:plaintext'] } } as never });
      await assert.rejects(createGateway(config, { watchConfig: false, logger: memoryLogger() }), /ERR_ADMIN_INSECURE.*alice/s);
    } finally {
      await own.cleanup();
    }
  });
});

describe('admin auth: bearer token', () => {
  it('refuses no token and a wrong token (401), accepts the right one', async (t) => {
    const { admin } = await adminGateway(t, { tokenFile: true });
    const none = await request(`${admin}/api/routers`);
    assert.equal(none.status, 401);
    assert.match(String(none.headers['www-authenticate']), /^Bearer/);
    assert.equal((await request(`${admin}/api/routers`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    assert.equal((await request(`${admin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status, 401);
    assert.equal((await request(`${admin}/api/events`)).status, 401, 'the event stream is behind the same auth');
    const ok = await request(`${admin}/api/routers`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200);
    assert.equal(ok.json<{ name: string }[]>()[0]!.name, 'r');
    assert.equal(ok.headers['access-control-allow-origin'], undefined);
  });

  it('the dashboard asking (x-terrarium-dashboard) gets a 401 without a challenge, so the browser shows no native prompt', async (t) => {
    const { admin } = await adminGateway(t, { tokenFile: true });
    const r = await request(`${admin}/api/session`, { headers: { 'x-terrarium-dashboard': '1', authorization: 'Bearer wrong' } });
    assert.equal(r.status, 401);
    assert.equal(r.headers['www-authenticate'], undefined);
  });

  it('refuses a cross-origin request even with the right token, and never sends Access-Control-Allow-Origin', async (t) => {
    const { admin } = await adminGateway(t, { tokenFile: true });
    const r = await request(`${admin}/api/plugins`, { headers: { authorization: `Bearer ${TOKEN}`, origin: 'https://evil.example' } });
    assert.equal(r.status, 403);
    assert.equal(r.headers['access-control-allow-origin'], undefined);
    const same = await request(`${admin}/api/plugins`, { headers: { authorization: `Bearer ${TOKEN}`, origin: admin } });
    assert.equal(same.status, 200);
  });

  it('serves the dashboard page and uPlot without auth (they hold no data) and /ping', async (t) => {
    const { admin } = await adminGateway(t, { tokenFile: true });
    const page = await request(`${admin}/dashboard/`);
    assert.equal(page.status, 200);
    assert.match(page.text, /<form id="login"/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    const uplot = await request(`${admin}/dashboard/vendor/uPlot.iife.min.js`);
    assert.equal(uplot.status, 200);
    assert.match(uplot.text, /uPlot/);
    assert.equal((await request(`${admin}/dashboard`)).headers.location, '/dashboard/');
    assert.equal((await request(`${admin}/dashboard/../package.json`)).status, 401, 'no other path reaches the disk');
  });
});

describe('admin auth: basic auth users (htpasswd formats of basicAuth)', () => {
  it('accepts a user from users and one from usersFile, refuses a wrong password', async (t) => {
    const own = await tempDir({ 'admin.htpasswd': `# admins\nbob:${sha('hunter2')}\n` });
    t.after(() => own.cleanup());
    const config = baseConfig(own.dir, routes, { admin: { address: '127.0.0.1:0', auth: { users: [`alice:${sha('s3cret')}`], usersFile: path.join(own.dir, 'admin.htpasswd') } } as never });
    const gw = await gateway(t, config, { watchConfig: false, logger: memoryLogger() });
    const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
    const admin = gw.admin!.url;
    assert.equal((await request(`${admin}/api/routers`, { headers: basic('alice', 's3cret') })).status, 200);
    assert.equal((await request(`${admin}/api/routers`, { headers: basic('bob', 'hunter2') })).status, 200);
    const wrong = await request(`${admin}/api/routers`, { headers: basic('alice', 'nope') });
    assert.equal(wrong.status, 401);
    assert.match(String(wrong.headers['www-authenticate']), /^Basic realm=/);
    assert.equal((await request(`${admin}/api/routers`, { headers: basic('mallory', 's3cret') })).status, 401);
    assert.equal((await request(`${admin}/api/routers`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 401, 'no token configured');
  });
});

describe('admin actions: CSRF token and same origin', () => {
  it('POST /api/reload is refused without the CSRF header, with a wrong one, cross-origin, or unauthenticated; accepted with all', async (t) => {
    const { admin } = await adminGateway(t, { tokenFile: true });
    const auth = { authorization: `Bearer ${TOKEN}` };
    const session = (await request(`${admin}/api/session`, { headers: auth })).json<{ csrf: string; header: string; actions: string[] }>();
    assert.deepEqual(session.actions, ['/api/reload', '/api/plugins/{name}/reprobe']);
    const post = (headers: Record<string, string>) => request(`${admin}/api/reload`, { method: 'POST', headers });
    assert.equal((await post({ ...auth })).status, 403, 'no CSRF header');
    assert.equal((await post({ ...auth, [session.header]: 'wrong' })).status, 403, 'wrong CSRF token');
    assert.equal((await post({ ...auth, [session.header]: session.csrf, origin: 'https://evil.example' })).status, 403, 'cross-origin');
    assert.equal((await post({ [session.header]: session.csrf })).status, 401, 'unauthenticated');
    const ok = await post({ ...auth, [session.header]: session.csrf, origin: admin });
    assert.equal(ok.status, 200);
    assert.equal(ok.json<{ ok: boolean }>().ok, true);
  });

  it('without auth (loopback) actions still need the CSRF token', async (t) => {
    const { admin } = await adminGateway(t, {});
    assert.equal((await request(`${admin}/api/reload`, { method: 'POST' })).status, 403);
    const session = (await request(`${admin}/api/session`)).json<{ csrf: string; header: string }>();
    assert.equal((await request(`${admin}/api/reload`, { method: 'POST', headers: { [session.header]: session.csrf } })).status, 200);
  });
});
