/**
 * The redis kv backend and the Redis provider against a real redis-server (started by the test on
 * a free loopback port, see fixtures/redis.ts): kv operations and TTLs, what plugins and clients
 * see while Redis is down and that the gateway recovers without a restart, two gateway processes
 * enforcing one global limit, and configuration written to Redis reaching both.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { openKv, type KvStore } from '../dist/gateway/kv/open.js';
import { KvUnavailableError } from '../dist/errors.js';
import { baseConfig, eventually, gateway, memoryLogger, request, tempDir } from './fixtures/gateway/helpers.js';
import { TLS_CERT, startRedis, type RedisServer } from './fixtures/redis.js';
import { serve } from './fixtures/gateway/serve.js';
import { buildTree } from '../dist/gateway/config/providers/redis.js';

const EXAMPLES = fileURLToPath(new URL('../scripts-examples/', import.meta.url));
let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(() => redis.stop());

function redisKv(prefix: string, extra: Record<string, unknown> = {}) {
  return { maxKeys: 1000, backend: 'redis' as const, redis: { url: redis.url, keyPrefix: prefix, dialTimeoutMs: 2000, timeoutMs: 200, ...extra } };
}

describe('redis kv backend', () => {
  it('gets, sets, increments and deletes, values as JSON, shared by two stores', async (t) => {
    const a: KvStore = await openKv(redisKv('ops:'), memoryLogger());
    const b: KvStore = await openKv(redisKv('ops:'), memoryLogger());
    t.after(() => (a.dispose(), b.dispose()));
    assert.equal(a.backend, 'redis');
    assert.equal(a.get('missing'), undefined);
    assert.equal(a.set('obj', { x: [1, 'two', null] }), true);
    assert.deepEqual(b.get('obj'), { x: [1, 'two', null] });
    assert.equal(a.incr('n'), 1);
    assert.equal(b.incr('n', 5), 6);
    assert.equal(a.incr('n', 0.5), 6.5);
    assert.equal(b.get('n'), 6.5);
    a.set('s', 'text');
    assert.equal(a.incr('s', 2), 2, 'a value that is not a number restarts the counter, as in memory');
    assert.equal(b.delete('n'), true);
    assert.equal(b.delete('n'), false);
    assert.equal(a.get('n'), undefined);
    a.set('u', 1);
    a.set('u', undefined);
    assert.equal(a.get('u'), undefined, 'setting undefined deletes');
    assert.throws(() => a.set('bytes', new Uint8Array(2)), /stores JSON data/);
  });

  it('serves Lua and JavaScript plugins unchanged (synchronous calls); a plugin can catch ERR_KV_UNAVAILABLE for a local fallback', async (t) => {
    const own = await startRedis();
    t.after(() => own.stop());
    const dir = await tempDir({
      'count.lua': `local M = {}
function M.bump(k) return host.kv.incr(k, 2) end
function M.read(k) return host.kv.get(k) end
return M
`,
      'fallback.js': `export function bump(k) {
  try { return host.kv.incr(k); } catch (e) { return e.code; }
}
`,
    });
    t.after(() => dir.cleanup());
    const { createHost } = await import('terrarium-plugins');
    const kv = await openKv({ ...redisKv('lua:'), redis: { ...redisKv('lua:').redis, url: own.url } }, memoryLogger());
    t.after(() => kv.dispose());
    // host.kv is per plugin; the two share the granted namespace "shared" (src/capabilities/kv-scope.ts)
    const grants = { count: { kv: { shared: ['shared'] } }, fallback: { kv: { shared: ['shared'] } } };
    const host = await createHost({ dir: dir.dir, capabilities: kv.capability, grants });
    t.after(() => host.close());
    const lua = host.get<{ bump(k: string): number; read(k: string): unknown }>('count');
    const js = host.get<{ bump(k: string): unknown }>('fallback');
    assert.equal(lua.bump('@shared/n'), 2);
    assert.equal(js.bump('@shared/n'), 3);
    assert.equal(lua.read('@shared/n'), 3);
    await own.kill();
    await eventually(() => js.bump('@shared/n') === 'ERR_KV_UNAVAILABLE', 'the plugin catches the outage');
    assert.throws(() => lua.bump('@shared/n'), /ERR_KV_UNAVAILABLE/);
  });

  it('expires keys: set with a TTL, incr starts a window on a new counter and keeps it', async (t) => {
    const kv = await openKv(redisKv('ttl:'), memoryLogger());
    t.after(() => kv.dispose());
    const probe = new Redis(redis.url);
    t.after(() => probe.disconnect());
    kv.set('short', 'v', 60_000);
    const ttl = await probe.pttl('ttl:short');
    assert.ok(ttl > 0 && ttl <= 60_000, `PTTL ${ttl}`);
    assert.equal(kv.incr('win', 1, 60_000), 1);
    await probe.pexpire('ttl:win', 30_000);
    assert.equal(kv.incr('win', 1, 60_000), 2);
    assert.ok((await probe.pttl('ttl:win')) <= 30_000, 'an existing counter keeps its expiry');
    assert.equal(kv.incr('forever'), 1);
    assert.equal(await probe.pttl('ttl:forever'), -1, 'no TTL: no expiry');
    kv.set('gone', 1, 30);
    await eventually(() => kv.get('gone') === undefined, 'the key expires');
  });

  it('fails at once with ERR_KV_UNAVAILABLE while Redis is down, and works again when it is back', async (t) => {
    const own = await startRedis();
    t.after(() => own.stop());
    const logger = memoryLogger();
    const kv = await openKv({ ...redisKv('down:'), redis: { ...redisKv('down:').redis, url: own.url } }, logger);
    t.after(() => kv.dispose());
    assert.equal(kv.incr('c'), 1);
    await own.kill();
    await eventually(() => {
      try {
        kv.incr('c');
        return false;
      } catch (e) {
        return e instanceof KvUnavailableError && e.reason === 'disconnected';
      }
    }, 'kv calls fail as disconnected');
    assert.throws(() => kv.get('c'), (e: unknown) => e instanceof KvUnavailableError && e.code === 'ERR_KV_UNAVAILABLE' && e.operation === 'get');
    // The log line travels from the Redis thread as a message: it may come just after the state flag.
    await eventually(() => logger.lines.some((l) => l.level === 'warn' && /unavailable/.test(l.msg ?? '')), 'the outage is logged');
    await own.restart();
    await eventually(() => {
      try {
        return kv.incr('c') === 1; // the restarted Redis is empty
      } catch {
        return false;
      }
    }, 'kv works again after Redis restarts');
  });

  it('gives up after the timeout when Redis does not answer (bounded wait, never a hang)', async (t) => {
    const own = await startRedis();
    t.after(() => own.stop()); // resumes it first if the test stopped midway
    const kv = await openKv({ ...redisKv('slow:'), redis: { ...redisKv('slow:').redis, url: own.url, timeoutMs: 50 } }, memoryLogger());
    t.after(() => kv.dispose());
    assert.equal(kv.incr('c'), 1);
    process.kill(own.pid, 'SIGSTOP'); // Redis stalls: the connection stays up, nothing answers
    assert.throws(() => kv.incr('c'), (e: unknown) => e instanceof KvUnavailableError && e.reason === 'timeout');
    process.kill(own.pid, 'SIGCONT');
    await eventually(() => {
      try {
        return kv.incr('c') >= 2;
      } catch {
        return false;
      }
    }, 'kv answers again once Redis does');
  });
});

const LIMITER = { 'rate-limit.js': '' };

describe('gateway with the redis kv', () => {
  it('runs the example rate limiter unchanged; Redis killed mid-traffic: 502 naming ERR_KV_UNAVAILABLE (or skipped with failOpen), recovers without a restart', async (t) => {
    const own = await startRedis();
    t.after(() => own.stop());
    const dir = await tempDir(LIMITER);
    t.after(() => dir.cleanup());
    await copyFile(path.join(EXAMPLES, 'rate-limit.js'), path.join(dir.dir, 'rate-limit.js'));
    const logger = memoryLogger();
    const config = baseConfig(dir.dir, {
      routers: {
        strict: { rule: 'PathPrefix(`/strict`)', middlewares: ['limit'], service: 'echo' },
        open: { rule: 'PathPrefix(`/open`)', middlewares: ['limit-open'], service: 'echo' },
      },
      middlewares: {
        limit: { plugin: { 'rate-limit': { limit: 3, windowSeconds: 86400, keyHeader: 'x-key' } } },
        'limit-open': { plugin: { 'rate-limit': { limit: 3, windowSeconds: 86400, keyHeader: 'x-key' } }, failOpen: true },
      },
    });
    config.plugins!.capabilities = { kv: { backend: 'redis', redis: { url: own.url, keyPrefix: 'gw:', timeout: '200ms' } } };
    const gw = await gateway(t, config, { logger });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await request(`${gw.url}/strict`, { headers: { 'x-key': 'k1' } })).status);
    assert.deepEqual(codes, [200, 200, 200, 429]);
    // Traffic from 4 clients at once while Redis is killed and restarted: every request is answered.
    const seen: { status: number; code?: string }[] = [];
    let failures = 0;
    let traffic = true;
    const client = async (n: number) => {
      for (let i = 0; traffic; i++) {
        try {
          const r = await request(`${gw.url}/strict`, { headers: { 'x-key': `load-${n}-${i}` } });
          seen.push({ status: r.status, ...(r.status === 502 ? { code: r.json<{ code: string }>().code } : {}) });
        } catch {
          failures++;
        }
      }
    };
    const clients = [0, 1, 2, 3].map(client);
    await eventually(() => seen.length >= 8, 'traffic flows');
    await own.kill();
    await eventually(async () => (await request(`${gw.url}/strict`, { headers: { 'x-key': 'k2' } })).status === 502, 'requests fail while Redis is down');
    const down = await request(`${gw.url}/strict`, { headers: { 'x-key': 'k2' } });
    assert.equal(down.status, 502);
    assert.equal(down.json<{ code: string }>().code, 'ERR_KV_UNAVAILABLE');
    const open = await request(`${gw.url}/open`, { headers: { 'x-key': 'k2' } });
    assert.equal(open.status, 200, 'failOpen: the limiter is skipped while Redis is down');
    assert.equal(open.headers['x-ratelimit-limit'], undefined);
    await eventually(() => seen.some((x) => x.status === 502), 'the clients see the outage');
    await own.restart();
    await eventually(async () => (await request(`${gw.url}/strict`, { headers: { 'x-key': 'k3' } })).status === 200, 'the gateway recovers when Redis is back');
    const mark = seen.length;
    await eventually(() => seen.slice(mark).some((x) => x.status === 200), 'the clients get through again');
    traffic = false;
    await Promise.all(clients);
    assert.equal(failures, 0, 'no request was left unanswered or cut');
    assert.deepEqual([...new Set(seen.map((x) => x.status))].sort(), [200, 502], 'only answers of the limiter (fresh keys: 200) or its failure policy (502)');
    assert.ok(seen.filter((x) => x.status === 502).every((x) => x.code === 'ERR_KV_UNAVAILABLE'));
    const back = await request(`${gw.url}/strict`, { headers: { 'x-key': 'k3' } });
    assert.equal(back.headers['x-ratelimit-limit'], '3');
  });
});

/** A gateway YAML for a child process: port 0, the example rate limiter, kv and config in Redis. */
function yamlFor(dir: string, kv: string): string {
  return `entryPoints:
  web:
    address: 127.0.0.1:0
http:
  routers:
    limited:
      rule: "PathPrefix(\`/limited\`)"
      middlewares: [limit]
      service: echo
  middlewares:
    limit:
      plugin:
        rate-limit:
          limit: 5
          windowSeconds: 86400
          keyHeader: x-key
  services:
    echo:
      echo: {}
plugins:
  dir: ${JSON.stringify(dir)}
  capabilities:
    kv:
      backend: redis
      redis:
        url: ${kv}
        keyPrefix: "two:"
providers:
  redis:
    url: ${kv}
    rootKey: gw-test
    pollInterval: 100ms
`;
}

describe('two gateway processes sharing one Redis', () => {
  it('enforce one global limit with the example rate limiter, and both take a configuration change written to Redis; a bad change is refused with its key', async (t) => {
    const dir = await tempDir({});
    t.after(() => dir.cleanup());
    await copyFile(path.join(EXAMPLES, 'rate-limit.js'), path.join(dir.dir, 'rate-limit.js'));
    const file = path.join(dir.dir, 'gateway.yaml');
    await writeFile(file, yamlFor(dir.dir, redis.url));
    const [a, b] = await Promise.all([serve(t, [file, '--no-watch']), serve(t, [file, '--no-watch'])]);
    const urls = [a!.urls.web!, b!.urls.web!];
    assert.notEqual(urls[0], urls[1]);

    // 8 requests alternating between the two processes: 5 pass in all, not 5 each.
    const codes: number[] = [];
    for (let i = 0; i < 8; i++) codes.push((await request(`${urls[i % 2]}/limited`, { headers: { 'x-key': 'global' } })).status);
    assert.deepEqual(codes, [200, 200, 200, 200, 200, 429, 429, 429]);

    const client = new Redis(redis.url);
    t.after(() => client.disconnect());
    await client.mset({
      'gw-test/http/routers/fromredis/rule': 'Path(`/from-redis`)',
      'gw-test/http/routers/fromredis/service': 'echo',
      'gw-test/http/routers/fromredis/middlewares/0': 'tag',
      'gw-test/http/middlewares/tag/plugin/rate-limit/limit': '1000',
      'gw-test/http/middlewares/tag/plugin/rate-limit/windowSeconds': '60',
    });
    for (const url of urls) await eventually(async () => (await request(`${url}/from-redis`)).status === 200, `${url} serves the router written to Redis`);
    const typed = await request(`${urls[0]}/from-redis`);
    assert.equal(typed.headers['x-ratelimit-limit'], '1000', 'the plugin options from Redis are typed (a number)');

    const marks = [a!.output().length, b!.output().length];
    await client.set('gw-test/http/routers/fromredis/service', 'nowhere');
    for (const [i, s] of [a!, b!].entries()) {
      await s.waitFor(/configuration rejected[\s\S]*?redis key gw-test\/http\/routers\/fromredis\/service/, 'the rejection naming the key', marks[i]);
    }
    for (const url of urls) assert.equal((await request(`${url}/from-redis`)).status, 200, 'the last good configuration keeps serving');

    await client.set('gw-test/http/routers/fromredis/rule', 'Path(`/moved`)');
    await client.set('gw-test/http/routers/fromredis/service', 'echo');
    for (const url of urls) await eventually(async () => (await request(`${url}/moved`)).status === 200, `${url} takes the fixed change`);
    assert.equal(await a!.stop(), 0);
    assert.equal(await b!.stop(), 0);
  });
});

describe('Redis provider key layout', () => {
  it('builds routers, middlewares and services from Traefik-style keys, case-insensitive field names, numbered keys as lists', () => {
    const tree = buildTree(
      'traefik',
      new Map([
        ['traefik/http/routers/api/rule', 'PathPrefix(`/api`)'],
        ['traefik/http/routers/api/entrypoints/0', 'web'],
        ['traefik/http/routers/api/Priority', '7'],
        ['traefik/http/middlewares/m/plugin/p/list/1', 'b'],
        ['traefik/http/middlewares/m/plugin/p/list/0', 'a'],
        ['traefik/http/middlewares/m/plugin/p/name', '"123"'],
        ['traefik/http/middlewares/m/failopen', 'true'],
        ['traefik/http/services/s/loadbalancer/servers/0/url', 'http://127.0.0.1:1'],
        ['traefik/http/services/s/loadbalancer/passhostheader', 'false'],
        ['other/http/routers/x/rule', 'Path(`/x`)'],
        ['traefik/http/routers/__proto__/rule', 'Path(`/polluted`)'],
        ['traefik/http/middlewares/m/plugin/p/constructor/prototype/x', '1'],
      ]),
    );
    assert.deepEqual(tree.ignored, ['traefik/http/middlewares/m/plugin/p/constructor/prototype/x', 'traefik/http/routers/__proto__/rule']);
    assert.equal(({} as Record<string, unknown>).rule, undefined, 'no prototype was written to');
    assert.deepEqual(tree.http, {
      routers: { api: { rule: 'PathPrefix(`/api`)', entryPoints: ['web'], priority: 7 } },
      middlewares: { m: { plugin: { p: { list: ['a', 'b'], name: '123' } }, failOpen: true } },
      services: { s: { loadBalancer: { servers: [{ url: 'http://127.0.0.1:1' }], passHostHeader: false } } },
    });
    assert.equal(tree.keyOf.get('http.routers.api.priority'), 'traefik/http/routers/api/Priority');
  });
});

describe('Redis configuration', () => {
  it('refuses bad kv and provider blocks with their paths', async () => {
    const { createGateway } = await import('terrarium-plugins/gateway');
    const { ConfigError } = await import('terrarium-plugins/errors');
    const dir = await tempDir({});
    try {
      const bad = async (patch: (c: ReturnType<typeof baseConfig>) => void) => {
        const c = baseConfig(dir.dir, { routers: { r: { rule: 'PathPrefix(`/`)', service: 'echo' } } });
        patch(c);
        const e = await createGateway(c).then(
          (gw) => gw.close().then(() => undefined),
          (err: unknown) => err,
        );
        assert.ok(e instanceof ConfigError, String(e));
        return e.issues.map((i) => i.path);
      };
      assert.deepEqual(await bad((c) => (c.plugins!.capabilities = { kv: { backend: 'redis' } })), ['plugins.capabilities.kv.backend']);
      assert.deepEqual(await bad((c) => (c.plugins!.capabilities = { kv: { backend: 'memory', redis: { url: redis.url } } })), ['plugins.capabilities.kv.redis']);
      assert.deepEqual(await bad((c) => (c.plugins!.capabilities = { kv: { redis: { url: 'http://x' } } })), ['plugins.capabilities.kv.redis.url']);
      assert.deepEqual(await bad((c) => (c.providers = { redis: { url: redis.url, pollInterval: 'soon' } })), ['providers.redis.pollInterval']);
    } finally {
      await dir.cleanup();
    }
  });

  it('starts with a file whose router uses a service defined only in Redis', async (t) => {
    const client = new Redis(redis.url);
    t.after(() => client.disconnect());
    await client.mset({ 'split/http/services/from-redis/echo': '{}' });
    const dir = await tempDir({});
    t.after(() => dir.cleanup());
    const config = baseConfig(dir.dir, { routers: { r: { rule: 'Path(`/split`)', service: 'from-redis' } } }, { providers: { redis: { url: redis.url, rootKey: 'split' } } });
    const gw = await gateway(t, config);
    assert.equal((await request(`${gw.url}/split`)).status, 200);
  });

  it('starts while Redis is down (kv calls fail, the file config serves) and picks up kv and provider once Redis answers', async (t) => {
    const own = await startRedis();
    t.after(() => own.stop());
    await own.kill(); // the port is known, nothing listens on it yet
    const dir = await tempDir({});
    t.after(() => dir.cleanup());
    await copyFile(path.join(EXAMPLES, 'rate-limit.js'), path.join(dir.dir, 'rate-limit.js'));
    const logger = memoryLogger();
    const config = baseConfig(
      dir.dir,
      {
        routers: { r: { rule: 'PathPrefix(`/limited`)', middlewares: ['limit'], service: 'echo' } },
        middlewares: { limit: { plugin: { 'rate-limit': { limit: 100, windowSeconds: 86400 } } } },
      },
      { providers: { redis: { url: own.url, rootKey: 'late', pollInterval: '100ms', dialTimeout: '200ms' } } },
    );
    config.plugins!.capabilities = { kv: { backend: 'redis', redis: { url: own.url, dialTimeout: '200ms' } } };
    const gw = await gateway(t, config, { logger });
    assert.ok(logger.lines.some((l) => l.level === 'warn' && /starting anyway/.test(l.msg ?? '')));
    assert.ok(logger.lines.some((l) => l.level === 'warn' && /serving the file's configuration until it answers/.test(l.msg ?? '')));
    const down = await request(`${gw.url}/limited`);
    assert.equal(down.status, 502);
    assert.equal(down.json<{ code: string }>().code, 'ERR_KV_UNAVAILABLE');
    await own.restart();
    const client = new Redis(own.url);
    t.after(() => client.disconnect());
    await client.mset({ 'late/http/routers/added/rule': 'Path(`/added`)', 'late/http/routers/added/service': 'echo' });
    await eventually(async () => (await request(`${gw.url}/limited`)).status === 200, 'the kv connects once Redis answers');
    await eventually(async () => (await request(`${gw.url}/added`)).status === 200, 'the provider reads Redis once it answers');
  });
});

describe('redis kv over TLS', () => {
  it('connects with rediss:// and the CA given by a path relative to the config file; without the CA the certificate is refused', async (t) => {
    const own = await startRedis({ tls: true });
    t.after(() => own.stop());
    const dir = await tempDir({});
    t.after(() => dir.cleanup());
    await copyFile(path.join(EXAMPLES, 'rate-limit.js'), path.join(dir.dir, 'rate-limit.js'));
    await copyFile(TLS_CERT, path.join(dir.dir, 'ca.crt'));
    const yaml = (tls: string, dial: string) => `entryPoints:
  web:
    address: 127.0.0.1:0
http:
  routers:
    r:
      rule: "PathPrefix(\`/\`)"
      middlewares: [limit]
      service: echo
  middlewares:
    limit:
      plugin:
        rate-limit:
          limit: 100
          windowSeconds: 86400
  services:
    echo:
      echo: {}
plugins:
  dir: .
  capabilities:
    kv:
      backend: redis
      redis:
        url: ${own.url}
        dialTimeout: ${dial}
${tls}accessLog: false
`;
    await writeFile(path.join(dir.dir, 'good.yaml'), yaml('        tls:\n          ca: ca.crt\n', '5s'));
    await writeFile(path.join(dir.dir, 'no-ca.yaml'), yaml('', '200ms')); // it will not connect: do not wait long for it
    const good = await gateway(t, path.join(dir.dir, 'good.yaml'), { watchConfig: false });
    const ok = await request(`${good.url}/x`);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['x-ratelimit-remaining'], '99');
    const logger = memoryLogger();
    const refused = await gateway(t, path.join(dir.dir, 'no-ca.yaml'), { watchConfig: false, logger });
    const r = await request(`${refused.url}/x`);
    assert.equal(r.status, 502);
    assert.equal(r.json<{ code: string }>().code, 'ERR_KV_UNAVAILABLE');
    await eventually(() => logger.lines.some((l) => /self-signed|self signed|certificate/i.test(`${l.msg} ${JSON.stringify(l.obj)}`)), 'the certificate problem is logged');
  });
});
