/**
 * The gateway end to end, over real sockets: JavaScript and Lua middlewares (continue, modify,
 * short-circuit, response changes, ctx.state across phases), router matching, and the failure
 * policy with crashing, looping and memory-bombing plugins.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { baseConfig, gateway, memoryLogger, request, tempDir, upstream } from './fixtures/gateway/helpers.js';

const JS_TAG = `
export const meta = { name: 'tag', version: '1.0.0', apiVersion: 1,
  configSchema: { type: 'object', properties: { name: { type: 'string', default: 'x-tag' }, value: { type: 'string' } }, required: ['value'] } };
export function onRequest(req, ctx) {
  return { setHeaders: { [ctx.config.name]: ctx.config.value }, removeHeaders: ['x-secret'], state: { seenPath: req.path, method: req.method } };
}
export function onResponse(res, ctx) {
  return { setHeaders: { 'x-seen-path': ctx.state.seenPath, 'x-seen-method': ctx.state.method, 'x-config': ctx.config.name, 'x-router': ctx.router, 'x-mw': ctx.middleware } };
}
`;

const JS_NOOP = `
export const meta = { name: 'noop', version: '1.0.0', apiVersion: 1 };
let calls = 0;
export function onRequest(req, ctx) { calls++; }
export function onResponse(res, ctx) { return null; }
export function count() { return calls; }
`;

const JS_REWRITE = `
export const meta = { name: 'rewrite', version: '1.0.0', apiVersion: 1 };
export function onRequest(req) {
  return { path: '/rewritten' + req.path, query: { ...req.query, added: 'yes', list: ['a', 'b'] } };
}
`;

const JS_DENY = `
export const meta = { name: 'deny', version: '1.0.0', apiVersion: 1 };
export function onRequest(req) {
  if (req.headers['x-block']) return { respond: { status: 403, headers: { 'x-denied-by': 'deny' }, body: { error: 'denied' } } };
}
export function onResponse(res) { return { setHeaders: { 'x-deny-saw-response': '1' } }; }
`;

const JS_ASYNC = `
export const meta = { name: 'async-mw', version: '1.0.0', apiVersion: 1 };
export async function onRequest(req) {
  await Promise.resolve();
  return { setHeaders: { 'x-async': 'yes' }, state: { n: 7 } };
}
export async function onResponse(res, ctx) { return { setHeaders: { 'x-async-state': String(ctx.state.n) } }; }
`;

const JS_BODY = `
export const meta = { name: 'body-mw', version: '1.0.0', apiVersion: 1,
  gateway: { requestBody: { maxBytes: 64 }, responseBody: { maxBytes: 4096 } } };
export function onRequest(req) {
  if (req.body === 'deny me') return { respond: { status: 400, body: 'bad body' } };
  if (req.body) return { body: req.body.toUpperCase() };
}
export function onResponse(res) {
  if (res.body === undefined) return { setHeaders: { 'x-body': 'absent' } };
  const echoed = JSON.parse(res.body);
  return { status: 201, body: { wrapped: echoed.body, path: echoed.path } };
}
`;

const JS_PEEK_BODY = `
export const meta = { name: 'peek', version: '1.0.0', apiVersion: 1 };
export function onRequest(req) { return { setHeaders: { 'x-peek-saw-body': String('body' in req) } }; }
`;

const JS_BAD_RESULT = `
export const meta = { name: 'bad-result', version: '1.0.0', apiVersion: 1 };
export function onRequest(req) { return { setHeader: { 'x-typo': '1' } }; }
`;

const LUA_MW = `
local M = { meta = { name = 'lua-mw', version = '1.0.0', apiVersion = 1,
  configSchema = { type = 'object', properties = { prefix = { type = 'string', default = '/lua' } } } } }
function M.onRequest(req, ctx)
  if req.headers['x-lua-deny'] then
    return { respond = { status = 418, headers = { ['x-teapot'] = 'lua' }, body = 'short and stout' } }
  end
  if req.headers['x-lua-empty'] then return {} end
  return { path = ctx.config.prefix .. req.path, setHeaders = { ['x-lua'] = 'yes' }, state = { q = req.query.q or 'none', client = req.client.address } }
end
function M.onResponse(res, ctx)
  if ctx.state.q == nil then return {} end
  return { status = 202, setHeaders = { ['x-lua-state'] = ctx.state.q, ['x-lua-client'] = ctx.state.client }, removeHeaders = { 'x-remove-me' } }
end
return M
`;

const JS_CRASH = `
export const meta = { name: 'crash', version: '1.0.0', apiVersion: 1 };
export function onRequest() { throw new Error('secret internals: db password is hunter2'); }
`;
const JS_LOOP = `
export const meta = { name: 'loop', version: '1.0.0', apiVersion: 1 };
export function onRequest() { for (;;) {} }
`;
const JS_BOMB = `
export const meta = { name: 'bomb', version: '1.0.0', apiVersion: 1 };
export function onRequest() { const keep = []; for (;;) keep.push(new Array(1 << 16).fill(1.5)); }
`;
const LUA_CRASH = `
local M = { meta = { name = 'lua-crash', version = '1.0.0', apiVersion = 1 } }
function M.onRequest(req) error('lua internals') end
return M
`;
const JS_RESPONSE_CRASH = `
export const meta = { name: 'response-crash', version: '1.0.0', apiVersion: 1 };
export function onResponse() { throw new Error('boom in onResponse'); }
`;

describe('gateway: middlewares', () => {
  let files: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    files = await tempDir({
      'tag.js': JS_TAG,
      'noop.js': JS_NOOP,
      'rewrite.js': JS_REWRITE,
      'deny.js': JS_DENY,
      'async-mw.js': JS_ASYNC,
      'body-mw.js': JS_BODY,
      'peek.js': JS_PEEK_BODY,
      'bad-result.js': JS_BAD_RESULT,
      'lua-mw.lua': LUA_MW,
    });
  });
  after(() => files.cleanup());

  const config = () =>
    baseConfig(files.dir, {
      routers: {
        plain: { rule: 'PathPrefix(`/plain`)', middlewares: ['noop'], service: 'echo' },
        tag: { rule: 'PathPrefix(`/tag`)', middlewares: ['tag'], service: 'echo' },
        rewrite: { rule: 'PathPrefix(`/rw`)', middlewares: ['rewrite'], service: 'echo' },
        chain: { rule: 'PathPrefix(`/chain`)', middlewares: ['tag', 'deny', 'noop'], service: 'echo' },
        async: { rule: 'PathPrefix(`/async`)', middlewares: ['async'], service: 'echo' },
        body: { rule: 'PathPrefix(`/body`)', middlewares: ['peek', 'body'], service: 'echo' },
        bad: { rule: 'PathPrefix(`/bad`)', middlewares: ['bad'], service: 'echo' },
        lua: { rule: 'PathPrefix(`/lua`)', middlewares: ['lua'], service: 'echo' },
      },
      middlewares: {
        noop: { plugin: { noop: {} } },
        tag: { plugin: { tag: { value: 'hello' } } },
        rewrite: { plugin: { rewrite: {} } },
        deny: { plugin: { deny: {} } },
        async: { plugin: { 'async-mw': {} } },
        body: { plugin: { 'body-mw': {} } },
        peek: { plugin: { peek: {} } },
        bad: { plugin: { 'bad-result': {} } },
        lua: { plugin: { 'lua-mw': {} } },
      },
    });

  it('continues unchanged when onRequest returns nothing, and the upstream sees the request as sent', async (t) => {
    const gw = await gateway(t, config());
    const r = await request(`${gw.url}/plain/a?x=1&x=2`, { headers: { 'x-custom': 'v' } });
    assert.equal(r.status, 200);
    const echoed = r.json<{ method: string; path: string; url: string; query: Record<string, unknown>; headers: Record<string, string> }>();
    assert.equal(echoed.method, 'GET');
    assert.equal(echoed.path, '/plain/a');
    assert.equal(echoed.url, '/plain/a?x=1&x=2');
    assert.deepEqual(echoed.query, { x: ['1', '2'] });
    assert.equal(echoed.headers['x-custom'], 'v');
    assert.equal(echoed.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(gw.host.get<{ count(): number }>('noop').count(), 1);
  });

  it('modifies the request: sets and removes headers (config defaults from the schema filled in)', async (t) => {
    const gw = await gateway(t, config());
    const r = await request(`${gw.url}/tag/x`, { headers: { 'x-secret': 'drop me' } });
    const echoed = r.json<{ headers: Record<string, string> }>();
    assert.equal(echoed.headers['x-tag'], 'hello');
    assert.equal(echoed.headers['x-secret'], undefined);
  });

  it('modifies the request: rewrites the path and the query', async (t) => {
    const gw = await gateway(t, config());
    const r = await request(`${gw.url}/rw/users?id=42`);
    const echoed = r.json<{ path: string; url: string; query: Record<string, unknown> }>();
    assert.equal(echoed.path, '/rewritten/rw/users');
    assert.deepEqual(echoed.query, { id: '42', added: 'yes', list: ['a', 'b'] });
    assert.equal(echoed.url, '/rewritten/rw/users?id=42&added=yes&list=a&list=b');
  });

  it('carries ctx.state from onRequest to onResponse of the same request, with ctx.router and ctx.middleware', async (t) => {
    const gw = await gateway(t, config());
    const [a, b] = await Promise.all([request(`${gw.url}/tag/one`, { method: 'POST' }), request(`${gw.url}/tag/two`)]);
    assert.equal(a.headers['x-seen-path'], '/tag/one');
    assert.equal(a.headers['x-seen-method'], 'POST');
    assert.equal(b.headers['x-seen-path'], '/tag/two');
    assert.equal(b.headers['x-config'], 'x-tag');
    assert.equal(b.headers['x-router'], 'tag');
    assert.equal(b.headers['x-mw'], 'tag');
  });

  it('short-circuits: respond skips the rest of the chain and the upstream; the middlewares before it still run onResponse', async (t) => {
    const gw = await gateway(t, config());
    const r = await request(`${gw.url}/chain/x`, { headers: { 'x-block': '1' } });
    assert.equal(r.status, 403);
    assert.deepEqual(r.json(), { error: 'denied' });
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(r.headers['x-denied-by'], 'deny');
    assert.equal(r.headers['x-seen-path'], '/chain/x', 'tag (before deny) ran its response phase');
    assert.equal(r.headers['x-deny-saw-response'], undefined, 'the middleware that answered does not run onResponse on its own answer');
    assert.equal(gw.host.get<{ count(): number }>('noop').count(), 0, 'noop (after deny) never ran');
    const ok = await request(`${gw.url}/chain/x`);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['x-deny-saw-response'], '1');
    assert.equal(gw.host.get<{ count(): number }>('noop').count(), 1);
  });

  it('supports async exports in both phases', async (t) => {
    const gw = await gateway(t, config());
    const r = await request(`${gw.url}/async`);
    assert.equal(r.status, 200);
    assert.equal(r.json<{ headers: Record<string, string> }>().headers['x-async'], 'yes');
    assert.equal(r.headers['x-async-state'], '7');
  });

  it('hands bodies only to plugins that declare them, lets them replace bodies, and answers 413 above maxBytes', async (t) => {
    const gw = await gateway(t, config());
    const r = await request(`${gw.url}/body/p?z=1`, { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.json(), { wrapped: 'HELLO', path: '/body/p' });
    assert.equal(r.headers['x-peek-saw-body'], undefined, 'response headers are not the request ones');
    const denied = await request(`${gw.url}/body/p`, { method: 'POST', body: 'deny me' });
    assert.equal(denied.status, 400);
    assert.equal(denied.text, 'bad body');
    const big = await request(`${gw.url}/body/p`, { method: 'POST', body: 'x'.repeat(65) });
    assert.equal(big.status, 413);
    assert.equal(big.text, 'Request Entity Too Large');
    // The peek middleware (no declaration) never sees a body.
    const echo = await request(`${gw.url}/body/p`, { method: 'POST', body: 'abc' });
    assert.equal(echo.json<{ wrapped: string }>().wrapped, 'ABC');
  });

  it('answers 502 naming the middleware when a result breaks the contract (unknown key)', async (t) => {
    const log = memoryLogger();
    const gw = await gateway(t, config(), { logger: log });
    const r = await request(`${gw.url}/bad`);
    assert.equal(r.status, 502);
    assert.deepEqual(r.json(), { error: 'middleware failed', middleware: 'bad', code: 'ERR_MIDDLEWARE_RESULT' });
    assert.ok(log.lines.some((l) => l.level === 'warn' && /unknown key "setHeader"/.test(l.msg ?? '')), 'the log says what was wrong');
  });

  it('runs Lua middlewares with the same contract: path, headers, state, response changes', async (t) => {
    const gw = await gateway(t, config());
    const r = await request(`${gw.url}/lua/x?q=hi`);
    assert.equal(r.status, 202);
    const echoed = r.json<{ path: string; headers: Record<string, string> }>();
    assert.equal(echoed.path, '/lua/lua/x');
    assert.equal(echoed.headers['x-lua'], 'yes');
    assert.equal(r.headers['x-lua-state'], 'hi');
    assert.equal(r.headers['x-lua-client'], '127.0.0.1');
    const noq = await request(`${gw.url}/lua/y`);
    assert.equal(noq.headers['x-lua-state'], 'none');
  });

  it('lets a Lua middleware short-circuit, and accepts an empty Lua table as "continue"', async (t) => {
    const gw = await gateway(t, config());
    const denied = await request(`${gw.url}/lua/x`, { headers: { 'x-lua-deny': '1' } });
    assert.equal(denied.status, 418);
    assert.equal(denied.text, 'short and stout');
    assert.equal(denied.headers['x-teapot'], 'lua');
    const empty = await request(`${gw.url}/lua/x`, { headers: { 'x-lua-empty': '1' } });
    assert.equal(empty.status, 200);
    assert.equal(empty.json<{ path: string }>().path, '/lua/x');
  });
});

describe('gateway: routing', () => {
  let files: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    files = await tempDir({ 'noop.js': JS_NOOP });
  });
  after(() => files.cleanup());

  it('matches Host, Path, PathPrefix, Method and Header with &&, ||, ! and parentheses; the longest rule wins unless priority says otherwise', async (t) => {
    const gw = await gateway(t, {
      entryPoints: { web: '127.0.0.1:0', other: '127.0.0.1:0' },
      http: {
        routers: {
          short: { rule: 'PathPrefix(`/`)', entryPoints: ['web'], service: 'a' },
          api: { rule: 'PathPrefix(`/api`)', service: 'b' },
          exact: { rule: 'Path(`/api/exact/one`)', service: 'c' },
          host: { rule: 'Host(`a.example`) && PathPrefix(`/api`)', service: 'd' },
          posts: { rule: "Method(`POST`) && (PathPrefix(`/api/x`) || Header(`x-kind`, `special`)) && !Host(`b.example`)", service: 'e' },
          urgent: { rule: 'Header(`x-urgent`, `1`)', service: 'f', priority: 1000 },
          otherOnly: { rule: 'PathPrefix(`/only-other`)', entryPoints: ['other'], service: 'g' },
        },
        services: Object.fromEntries(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((s) => [s, { echo: {} }])),
      },
      plugins: { dir: files.dir },
      accessLog: false,
    });
    const web = gw.entryPoints.web!.url;
    const other = gw.entryPoints.other!.url;
    const counts = (gw as unknown as { stats: { routers: Map<string, { requests: number }> } }).stats.routers;
    const snapshot = () => new Map([...counts].map(([k, v]) => [k, v.requests]));
    /** The router that handled one request: the one whose request counter moved. */
    const which = async (url: string, opts: Parameters<typeof request>[1] = {}): Promise<string> => {
      const before = snapshot();
      await request(url, opts);
      for (const [k, v] of snapshot()) if (v !== (before.get(k) ?? 0)) return k;
      return 'nothing counted';
    };
    assert.equal(await which(`${web}/`), 'short');
    assert.equal(await which(`${web}/api/users`), 'api');
    assert.equal(await which(`${web}/api/exact/one`), 'exact', 'Path(`/api/exact/one`) is longer than PathPrefix(`/api`)');
    assert.equal(await which(`${web}/api/exact/one/two`), 'api', 'Path matches the whole path only');
    assert.equal(await which(`${web}/api/users`, { headers: { host: 'A.example:8080' } }), 'host', 'Host ignores case and port');
    assert.equal(await which(`${web}/api/x/1`, { method: 'POST' }), 'posts');
    assert.equal(await which(`${web}/api/y`, { method: 'POST', headers: { 'x-kind': 'special' } }), 'posts');
    assert.equal(await which(`${web}/api/x/1`, { method: 'POST', headers: { host: 'b.example' } }), 'api', '!Host excludes');
    assert.equal(await which(`${web}/api/exact/one`, { headers: { 'x-urgent': '1' } }), 'urgent', 'priority beats length');
    assert.equal(await which(`${other}/api`), 'api', 'routers without entryPoints listen on all of them');
    assert.equal(await which(`${web}/only-other`), 'short', 'a router bound to another entry point is not on this one');
    assert.equal(await which(`${other}/only-other`), 'otherOnly');
    const r = await request(`${other}/nothing-here`);
    assert.equal(r.status, 404);
    assert.equal(r.text, '404 page not found\n');
  });

  it('removes dot segments (also percent-encoded) before matching, so /public/../admin cannot slip past an /admin rule', async (t) => {
    const gw = await gateway(
      t,
      baseConfig(files.dir, {
        routers: {
          admin: { rule: 'PathPrefix(`/admin`)', middlewares: ['deny'], service: 'echo' },
          public: { rule: 'PathPrefix(`/public`)', service: 'echo' },
        },
        middlewares: { deny: { plugin: { noop: {} } } },
      }),
    );
    // Sent raw: clients would normalize the path themselves.
    const raw = (target: string) => new Promise<{ path: string }>((resolve, reject) => {
      import('node:net').then(({ connect }) => {
        const s = connect(Number(new URL(gw.url).port), '127.0.0.1', () => s.end(`GET ${target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`));
        let data = '';
        s.on('data', (c) => (data += c.toString()));
        s.on('end', () => resolve(JSON.parse(data.slice(data.indexOf('\r\n\r\n') + 4)) as { path: string }));
        s.on('error', reject);
      }, reject);
    });
    assert.equal((await raw('/public/../admin/x')).path, '/admin/x');
    assert.equal(gw.host.get<{ count(): number }>('noop').count(), 1, 'the admin router (and its middleware) handled it');
    assert.equal((await raw('/public/%2E%2e/admin/y')).path, '/admin/y');
    assert.equal(gw.host.get<{ count(): number }>('noop').count(), 2);
  });
});

describe('gateway: failure policy', () => {
  let files: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    files = await tempDir({
      'crash.js': JS_CRASH,
      'loop.js': JS_LOOP,
      'bomb.js': JS_BOMB,
      'lua-crash.lua': LUA_CRASH,
      'response-crash.js': JS_RESPONSE_CRASH,
      'tag.js': JS_TAG,
    });
  });
  after(() => files.cleanup());

  const config = () =>
    baseConfig(
      files.dir,
      {
        routers: {
          crash: { rule: 'Path(`/crash`)', middlewares: ['tag', 'crash'], service: 'echo' },
          crashOpen: { rule: 'Path(`/crash-open`)', middlewares: ['crash-open', 'tag'], service: 'echo' },
          loop: { rule: 'Path(`/loop`)', middlewares: ['loop'], service: 'echo' },
          loopOpen: { rule: 'Path(`/loop-open`)', middlewares: ['loop-open', 'tag'], service: 'echo' },
          bomb: { rule: 'Path(`/bomb`)', middlewares: ['bomb'], service: 'echo' },
          bombOpen: { rule: 'Path(`/bomb-open`)', middlewares: ['bomb-open', 'tag'], service: 'echo' },
          lua: { rule: 'Path(`/lua-crash`)', middlewares: ['lua-crash'], service: 'echo' },
          response: { rule: 'Path(`/response-crash`)', middlewares: ['tag', 'response-crash'], service: 'echo' },
          healthy: { rule: 'Path(`/healthy`)', middlewares: ['tag'], service: 'echo' },
        },
        middlewares: {
          tag: { plugin: { tag: { value: 'ok' } } },
          crash: { plugin: { crash: {} } },
          'crash-open': { plugin: { crash: {} }, failOpen: true },
          loop: { plugin: { loop: {} } },
          'loop-open': { plugin: { loop: {} }, failOpen: true },
          bomb: { plugin: { bomb: {} } },
          'bomb-open': { plugin: { bomb: {} }, failOpen: true },
          'lua-crash': { plugin: { 'lua-crash': {} } },
          'response-crash': { plugin: { 'response-crash': {} } },
        },
      },
      { plugins: { dir: files.dir, limits: { callTimeoutMs: 100, memoryBytes: 16 << 20 } } },
    );

  const failure = (name: string, code: string | RegExp) => (r: { status: number; json(): Record<string, unknown> }) => {
    assert.equal(r.status, 502);
    const body = r.json();
    assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'middleware']);
    assert.equal(body.middleware, name);
    assert.match(String(body.code), code instanceof RegExp ? code : new RegExp(`^${code}$`));
  };

  it('fails closed on a throwing plugin: 502 naming the middleware and the code, never its message; earlier middlewares still see the response', async (t) => {
    const log = memoryLogger();
    const gw = await gateway(t, config(), { logger: log });
    const r = await request(`${gw.url}/crash`);
    failure('crash', 'ERR_PLUGIN_THROWN')(r);
    assert.doesNotMatch(r.text, /hunter2|secret|stack/);
    assert.equal(r.headers['x-seen-path'], '/crash', 'tag ran its response phase on the 502');
    assert.ok(log.lines.some((l) => l.level === 'warn' && /hunter2/.test(l.msg ?? '')), 'the plugin message goes to the log');
    const ok = await request(`${gw.url}/healthy`);
    assert.equal(ok.status, 200);
  });

  it('fails open when configured: the failing middleware is skipped and the chain continues', async (t) => {
    const gw = await gateway(t, config());
    const r = await request(`${gw.url}/crash-open`);
    assert.equal(r.status, 200);
    assert.equal(r.json<{ headers: Record<string, string> }>().headers['x-tag'], 'ok');
  });

  it('contains an endless loop: 502 ERR_PLUGIN_TIMEOUT, later calls fail fast while it restarts or is quarantined, other routes keep serving', async (t) => {
    const gw = await gateway(t, config());
    const first = await request(`${gw.url}/loop`);
    failure('loop', 'ERR_PLUGIN_TIMEOUT')(first);
    const [again, healthy, open] = await Promise.all([request(`${gw.url}/loop`), request(`${gw.url}/healthy`), request(`${gw.url}/loop-open`)]);
    failure('loop', /^ERR_PLUGIN_(TIMEOUT|UNAVAILABLE)$/)(again);
    assert.equal(healthy.status, 200);
    assert.equal(open.status, 200);
    assert.equal(open.json<{ headers: Record<string, string> }>().headers['x-tag'], 'ok');
    for (let i = 0; i < 4; i++) failure('loop', /^ERR_PLUGIN_(TIMEOUT|UNAVAILABLE)$/)(await request(`${gw.url}/loop`));
    assert.equal((await request(`${gw.url}/healthy`)).status, 200);
  });

  it('contains a memory bomb: 502 ERR_PLUGIN_MEMORY (fail-closed) or skipped (fail-open); the gateway keeps serving', async (t) => {
    const gw = await gateway(t, config());
    const r = await request(`${gw.url}/bomb`);
    failure('bomb', /^ERR_PLUGIN_(MEMORY|TIMEOUT)$/)(r);
    const open = await request(`${gw.url}/bomb-open`);
    assert.equal(open.status, 200);
    assert.equal((await request(`${gw.url}/healthy`)).status, 200);
  });

  it('fails closed on a Lua error the same way', async (t) => {
    const gw = await gateway(t, config());
    const r = await request(`${gw.url}/lua-crash`);
    failure('lua-crash', 'ERR_PLUGIN_THROWN')(r);
    assert.doesNotMatch(r.text, /internals/);
  });

  it('replaces the response with a 502 when onResponse fails, and the middlewares before it still run', async (t) => {
    const gw = await gateway(t, config());
    const r = await request(`${gw.url}/response-crash`);
    failure('response-crash', 'ERR_PLUGIN_THROWN')(r);
    assert.equal(r.headers['x-seen-path'], '/response-crash');
  });

  it('counts errors and timeouts per middleware in /metrics', async (t) => {
    const gw = await gateway(t, { ...config(), admin: '127.0.0.1:0' });
    await request(`${gw.url}/crash`);
    await request(`${gw.url}/loop`);
    const m = await request(`${gw.admin!.url}/metrics`);
    assert.match(m.text, /terrarium_gateway_middleware_errors_total\{middleware="crash",plugin="crash",phase="request",code="ERR_PLUGIN_THROWN"\} 1/);
    assert.match(m.text, /terrarium_gateway_middleware_timeouts_total\{middleware="loop",plugin="loop",phase="request"\} 1/);
    assert.match(m.text, /terrarium_gateway_requests_total\{router="crash",code="502"\} 1/);
  });
});

describe('gateway: upstream services', () => {
  let files: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    files = await tempDir({ 'tag.js': JS_TAG, 'lua-mw.lua': LUA_MW });
  });
  after(() => files.cleanup());

  it('forwards to node:http servers round-robin, with X-Forwarded headers, streaming request and response bodies', async (t) => {
    const a = await upstream((req, res, body) => res.end(`a:${req.method}:${req.url}:${body}`));
    const b = await upstream((req, res, body) => res.end(`b:${req.method}:${req.url}:${body}`));
    t.after(() => Promise.all([a.close(), b.close()]));
    const gw = await gateway(
      t,
      baseConfig(files.dir, {
        routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['tag'], service: 'lb' } },
        middlewares: { tag: { plugin: { tag: { value: 'v' } } } },
        services: { lb: { loadBalancer: { servers: [{ url: a.url }, { url: b.url }] } } },
      }),
    );
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push((await request(`${gw.url}/p?i=${i}`, { method: 'POST', body: `n${i}` })).text);
    assert.deepEqual(replies, ['a:POST:/p?i=0:n0', 'b:POST:/p?i=1:n1', 'a:POST:/p?i=2:n2', 'b:POST:/p?i=3:n3']);
    const seen = a.seen[0]!;
    assert.equal(seen.headers['x-tag'], 'v');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers.host, new URL(gw.url).host, 'passHostHeader defaults to true');
  });

  it('answers 502 when the upstream refuses or resets, 504 when it does not answer in time', async (t) => {
    const hang = await upstream(() => undefined);
    const reset = await upstream((req) => req.socket.destroy());
    t.after(() => Promise.all([hang.close(), reset.close()]));
    const refusedPort = await upstream(() => undefined);
    const refusedUrl = refusedPort.url;
    await refusedPort.close();
    const gw = await gateway(
      t,
      baseConfig(files.dir, {
        routers: {
          refused: { rule: 'Path(`/refused`)', middlewares: ['tag'], service: 'refused' },
          hang: { rule: 'Path(`/hang`)', service: 'hang' },
          reset: { rule: 'Path(`/reset`)', service: 'reset' },
        },
        middlewares: { tag: { plugin: { tag: { value: 'v' } } } },
        services: {
          refused: { loadBalancer: { servers: [{ url: refusedUrl }] } },
          hang: { loadBalancer: { servers: [{ url: hang.url }], forwardingTimeouts: { responseHeaderTimeout: '200ms' } } },
          reset: { loadBalancer: { servers: [{ url: reset.url }] } },
        },
      }),
    );
    const refused = await request(`${gw.url}/refused`);
    assert.equal(refused.status, 502);
    assert.equal(refused.text, 'Bad Gateway');
    assert.equal(refused.headers['x-seen-path'], '/refused', 'the response phase runs on gateway errors too');
    const slow = await request(`${gw.url}/hang`);
    assert.equal(slow.status, 504);
    assert.equal(slow.text, 'Gateway Timeout');
    const r = await request(`${gw.url}/reset`);
    assert.equal(r.status, 502);
    assert.equal(r.text, 'Bad Gateway');
  });

  it('aborts the upstream request when the client goes away', async (t) => {
    const hang = await upstream(() => undefined);
    t.after(() => hang.close());
    const gw = await gateway(
      t,
      baseConfig(files.dir, {
        routers: { r: { rule: 'PathPrefix(`/`)', service: 'hang' } },
        services: { hang: { loadBalancer: { servers: [{ url: hang.url }] } } },
      }),
    );
    const http = await import('node:http');
    await new Promise<void>((resolve) => {
      const req = http.request(`${gw.url}/slow`, { agent: false });
      req.on('error', () => resolve());
      req.end();
      const timer = setInterval(() => {
        if (hang.seen.length > 0) {
          clearInterval(timer);
          req.destroy();
        }
      }, 10);
    });
    const start = Date.now();
    while (hang.aborted === 0 && Date.now() - start < 5000) await new Promise((r) => setTimeout(r, 20));
    assert.equal(hang.aborted, 1, 'the upstream saw its request go away');
  });

  it('hands a response body to a Lua plugin and lets it change status and remove headers', async (t) => {
    const up = await upstream((_req, res) => {
      res.setHeader('x-remove-me', '1');
      res.setHeader('x-keep', '1');
      res.end('upstream body');
    });
    t.after(() => up.close());
    const gw = await gateway(
      t,
      baseConfig(files.dir, {
        routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['lua'], service: 'up' } },
        middlewares: { lua: { plugin: { 'lua-mw': { prefix: '' } } } },
        services: { up: { loadBalancer: { servers: [{ url: up.url }] } } },
      }),
    );
    const r = await request(`${gw.url}/x?q=z`);
    assert.equal(r.status, 202);
    assert.equal(r.text, 'upstream body');
    assert.equal(r.headers['x-remove-me'], undefined);
    assert.equal(r.headers['x-keep'], '1');
    assert.equal(r.headers['x-lua-state'], 'z');
    assert.equal(up.seen[0]!.url, '/x?q=z');
  });
});

describe('gateway: declared request headers', () => {
  it('copies in only the request headers a plugin declares (meta.gateway.requestHeaders), in JS and Lua; the upstream still gets them all', async (t) => {
    const files = await tempDir({
      'seen.js': `export const meta = { gateway: { requestHeaders: ['X-One', 'x-missing'] } };
export function onRequest(req) { return { setHeaders: { 'x-seen-js': Object.keys(req.headers).sort().join(',') } }; }
`,
      'seen-lua.lua': `local M = { meta = { gateway = { requestHeaders = { 'x-one' } } } }
function M.onRequest(req)
  local names = {}
  for k in pairs(req.headers) do names[#names + 1] = k end
  table.sort(names)
  return { setHeaders = { ['x-seen-lua'] = table.concat(names, ',') } }
end
return M
`,
      'bad-decl.js': `export const meta = { gateway: { requestHeaders: 'x-one' } };\nexport function onRequest() {}\n`,
    });
    t.after(() => files.cleanup());
    const gw = await gateway(
      t,
      baseConfig(files.dir, {
        routers: {
          seen: { rule: 'PathPrefix(`/seen`)', middlewares: ['js', 'lua'], service: 'echo' },
          bad: { rule: 'PathPrefix(`/bad`)', middlewares: ['bad'], service: 'echo' },
        },
        middlewares: { js: { plugin: { seen: {} } }, lua: { plugin: { 'seen-lua': {} } }, bad: { plugin: { 'bad-decl': {} } } },
      }),
    ).catch((e: Error) => e);
    // A malformed declaration is a config error naming the middleware.
    assert.ok(gw instanceof Error);
    assert.match(gw.message, /http\.middlewares\.bad\.plugin\.bad-decl: .*requestHeaders: expected a list of header names/);

    const ok = await gateway(
      t,
      baseConfig(files.dir, {
        routers: { seen: { rule: 'PathPrefix(`/seen`)', middlewares: ['js', 'lua'], service: 'echo' } },
        middlewares: { js: { plugin: { seen: {} } }, lua: { plugin: { 'seen-lua': {} } } },
      }),
    );
    const r = await request(`${ok.url}/seen`, { headers: { 'x-one': '1', 'x-two': '2' } });
    assert.equal(r.status, 200);
    const echoed = r.json<{ headers: Record<string, string> }>();
    assert.equal(echoed.headers['x-seen-js'], 'x-one');
    assert.equal(echoed.headers['x-seen-lua'], 'x-one');
    assert.equal(echoed.headers['x-two'], '2');
  });
});

describe('gateway: failure log', () => {
  it('logs at most 20 failures per middleware per second and reports how many it left out', async (t) => {
    const files = await tempDir({ 'crash.js': JS_CRASH });
    t.after(() => files.cleanup());
    const logger = memoryLogger();
    const gw = await gateway(
      t,
      baseConfig(files.dir, {
        routers: { crash: { rule: 'Path(`/crash`)', middlewares: ['crash'], service: 'echo' } },
        middlewares: { crash: { plugin: { crash: {} } } },
      }),
      { logger },
    );
    for (let i = 0; i < 60; i++) assert.equal((await request(`${gw.url}/crash`)).status, 502);
    await gw.close();
    const failures = logger.lines.filter((l) => /middleware "crash" failed/.test(l.msg ?? ''));
    const dropped = logger.lines.filter((l) => (l.obj as { event?: string }).event === 'log-dropped');
    assert.ok(failures.length >= 20 && failures.length < 60, `${failures.length} failure lines`);
    assert.equal(failures.length + dropped.reduce((n, l) => n + ((l.obj as { dropped: number }).dropped ?? 0), 0), 60);
  });
});
