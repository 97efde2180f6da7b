/**
 * Operating the gateway: the admin API and metrics, graceful shutdown, plugin hot reload and
 * config reload while traffic flows, the kv capability, and the example configuration that
 * `npm start` serves.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createKvStore } from '../dist/gateway/kv/open.js';
import { baseConfig, eventually, gateway, request, tempDir, upstream } from './fixtures/gateway/helpers.js';

const version = (v: string) => `
export const meta = { name: 'ver', version: '${v}', apiVersion: 1 };
export function onRequest() { return { setHeaders: { 'x-ver': '${v}' } }; }
export function onResponse(res) { return { setHeaders: { 'x-ver': '${v}' } }; }
`;
const TAG = `
export const meta = { name: 'tag', version: '1.0.0', apiVersion: 1 };
export function onRequest() { return { setHeaders: { 'x-tag': '1' } }; }
`;

/** Fire requests back to back until stopped; resolves with every status seen. */
function traffic(url: string): { stop(): Promise<number[]> } {
  const statuses: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) statuses.push((await request(url)).status);
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return statuses;
    },
  };
}

describe('gateway operations', () => {
  let files: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    files = await tempDir({ 'ver.js': version('1.0.0'), 'tag.js': TAG });
  });
  after(() => files.cleanup());

  it('serves /api/plugins, /api/routers, /api/middlewares, /api/services and Prometheus /metrics on the admin address', async (t) => {
    const gw = await gateway(
      t,
      baseConfig(files.dir, { routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['t'], service: 'echo' } }, middlewares: { t: { plugin: { tag: {} } } } }, { admin: { address: '127.0.0.1:0' } }),
    );
    await request(`${gw.url}/x`);
    await request(`${gw.url}/y`);
    const admin = gw.admin!.url;
    const plugins = (await request(`${admin}/api/plugins`)).json<{ name: string; status: string; middlewares: string[]; counters: { calls: number } }[]>();
    const tag = plugins.find((p) => p.name === 'tag')!;
    assert.equal(tag.status, 'ready');
    assert.deepEqual(tag.middlewares, ['t']);
    assert.equal(tag.counters.calls, 2);
    const routers = (await request(`${admin}/api/routers`)).json<{ name: string; status: string; counters: { requests: number; codes: Record<string, number> } }[]>();
    assert.deepEqual(routers.map((r) => [r.name, r.status, r.counters.requests, r.counters.codes]), [['r', 'enabled', 2, { '200': 2 }]]);
    const mws = (await request(`${admin}/api/middlewares`)).json<{ name: string; status: string; phases: string[]; counters: { calls: { request: number } } }[]>();
    assert.deepEqual(mws.map((m) => [m.name, m.status, m.phases, m.counters.calls.request]), [['t', 'enabled', ['onRequest'], 2]]);
    const services = (await request(`${admin}/api/services`)).json<{ name: string; type: string; counters: { requests: number } }[]>();
    assert.deepEqual(services.map((s) => [s.name, s.type, s.counters.requests]), [['echo', 'echo', 2]]);
    const metrics = await request(`${admin}/metrics`);
    assert.match(String(metrics.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    for (const line of [
      'terrarium_gateway_requests_total{router="r",code="200"} 2',
      'terrarium_gateway_middleware_calls_total{middleware="t",plugin="tag",phase="request"} 2',
      'terrarium_gateway_request_duration_seconds_count{router="r"} 2',
      'terrarium_gateway_middleware_duration_seconds_count{middleware="t",phase="request"} 2',
      'terrarium_plugin_calls_total{plugin="tag"} 2',
      'terrarium_gateway_service_requests_total{service="echo"} 2',
    ]) {
      assert.ok(metrics.text.includes(line), `metrics include ${line}`);
    }
    assert.match(metrics.text, /# TYPE terrarium_gateway_middleware_duration_seconds histogram/);
    assert.match(metrics.text, /terrarium_gateway_middleware_duration_seconds_bucket\{middleware="t",phase="request",le="\+Inf"\} 2/);
    assert.equal((await request(`${admin}/nope`)).status, 404);
  });

  it('shuts down gracefully: stops accepting, finishes the requests in flight, then closes the host', async (t) => {
    let release: () => void = () => undefined;
    const slow = await upstream((_req, res) => {
      release = () => res.end('finished');
    });
    t.after(() => slow.close());
    const gw = await gateway(
      t,
      baseConfig(files.dir, {
        routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['v'], service: 'slow' } },
        middlewares: { v: { plugin: { ver: {} } } },
        services: { slow: { loadBalancer: { servers: [{ url: slow.url }] } } },
      }),
    );
    const inFlight = request(`${gw.url}/long`);
    await eventually(() => slow.seen.length === 1, 'the upstream got the request');
    const closing = gw.close();
    await assert.rejects(request(`${gw.url}/new`), /ECONNREFUSED|ECONNRESET/, 'new connections are refused');
    release();
    const r = await inFlight;
    assert.equal(r.status, 200);
    assert.equal(r.text, 'finished');
    assert.equal(r.headers['x-ver'], '1.0.0', 'the response phase ran before the host closed');
    assert.equal(r.headers.connection, 'close');
    await closing;
    assert.ok(gw.host.plugins.every((p) => p.status === 'closed'));
  });

  it('hot-reloads a changed plugin while serving, without failing a request', async (t) => {
    const own = await tempDir({ 'ver.js': version('1.0.0') });
    t.after(() => own.cleanup());
    const config = baseConfig(own.dir, { routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['v'], service: 'echo' } }, middlewares: { v: { plugin: { ver: {} } } } });
    const gw = await gateway(t, { ...config, plugins: { ...config.plugins, watch: { debounceMs: 20 } } });
    const load = traffic(`${gw.url}/x`);
    await writeFile(path.join(own.dir, 'ver.js'), version('2.0.0'));
    await eventually(async () => (await request(`${gw.url}/x`)).headers['x-ver'] === '2.0.0', 'version 2 serves');
    const statuses = await load.stop();
    assert.ok(statuses.length > 0);
    assert.deepEqual([...new Set(statuses)], [200], 'no request failed during the reload');
  });

  it('re-checks middleware configs when a plugin is reloaded with a new schema: a config that no longer fits answers 502 until fixed', async (t) => {
    const own = await tempDir({ 'ver.js': version('1.0.0') });
    t.after(() => own.cleanup());
    const config = baseConfig(own.dir, { routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['v'], service: 'echo' } }, middlewares: { v: { plugin: { ver: { mode: 'a' } } } } });
    const gw = await gateway(t, { ...config, plugins: { ...config.plugins, watch: { debounceMs: 20 } } });
    assert.equal((await request(`${gw.url}/`)).status, 200);
    const strict = version('3.0.0').replace("apiVersion: 1 }", "apiVersion: 1, configSchema: { type: 'object', required: ['mode'], properties: { mode: { enum: ['b'] } } } }");
    await writeFile(path.join(own.dir, 'ver.js'), strict);
    await eventually(async () => (await request(`${gw.url}/`)).status === 502, 'the middleware is broken by the new schema');
    const r = await request(`${gw.url}/`);
    assert.deepEqual(r.json(), { error: 'middleware failed', middleware: 'v', code: 'ERR_CONFIG' });
    await gw.reload({ ...config, http: { ...config.http, middlewares: { v: { plugin: { ver: { mode: 'b' } } } } } });
    const fixed = await request(`${gw.url}/`);
    assert.equal(fixed.status, 200);
    assert.equal(fixed.headers['x-ver'], '3.0.0');
  });

  it('reloads the config while serving, without failing a request', async (t) => {
    const a = baseConfig(files.dir, { routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['v'], service: 'echo' } }, middlewares: { v: { plugin: { ver: {} } } } });
    const b = baseConfig(files.dir, { routers: { r2: { rule: 'PathPrefix(`/`)', middlewares: ['t', 'v'], service: 'echo' } }, middlewares: { v: { plugin: { ver: {} } }, t: { plugin: { tag: {} } } } });
    const gw = await gateway(t, a);
    const load = traffic(`${gw.url}/x`);
    for (let i = 0; i < 10; i++) await gw.reload(i % 2 === 0 ? b : a);
    const statuses = await load.stop();
    assert.deepEqual([...new Set(statuses)], [200]);
  });
});

describe('gateway kv capability', () => {
  it('gets, sets, counts with a TTL, deletes, and evicts the oldest key past maxKeys', async () => {
    using kv = createKvStore({ maxKeys: 3 });
    assert.equal(kv.incr('a', 1, 50), 1);
    assert.equal(kv.incr('a'), 2);
    kv.set('b', { x: 1 });
    assert.deepEqual(kv.get('b'), { x: 1 });
    kv.set('c', 'y');
    kv.set('d', 'z');
    assert.equal(kv.size, 3);
    assert.equal(kv.get('a'), undefined, 'the oldest key was evicted');
    assert.equal(kv.delete('d'), true);
    kv.set('e', 1, 1);
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(kv.get('e'), undefined, 'expired');
  });
});

describe('the example gateway (npm start)', () => {
  it('serves the example chain: request id, header deny, Lua path rewrite, rate limit with kv counters', async (t) => {
    const examples = fileURLToPath(new URL('../scripts-examples/', import.meta.url));
    const yaml = (await readFile(path.join(examples, 'gateway.yaml'), 'utf8')).replace(/127\.0\.0\.1:808[01]/g, '127.0.0.1:0').replace('dir: .', `dir: ${JSON.stringify(examples)}`)
      // A fixed window of 10 s that a slow run straddles resets the count; a window of ~28 h is not straddled.
      .replace('windowSeconds: 10', 'windowSeconds: 100000');
    const own = await tempDir({ 'gateway.yaml': yaml });
    t.after(() => own.cleanup());
    const gw = await gateway(t, path.join(own.dir, 'gateway.yaml'), { watchConfig: false });
    const r = await request(`${gw.url}/api/users/42?verbose=1`);
    assert.equal(r.status, 200);
    const echoed = r.json<{ path: string; headers: Record<string, string> }>();
    assert.equal(echoed.path, '/v1/users/42');
    assert.match(echoed.headers['x-request-id'] ?? '', /^[0-9a-f]{8}-[0-9a-f]{6}$/);
    assert.equal(r.headers['x-request-id'], echoed.headers['x-request-id']);
    assert.equal(r.headers['x-original-path'], '/api/users/42');
    assert.equal(r.headers['x-ratelimit-limit'], '10');
    const denied = await request(`${gw.url}/api/x`, { headers: { 'x-block': '1' } });
    assert.equal(denied.status, 403);
    assert.deepEqual(denied.json(), { error: 'denied', reason: 'header x-block' });
    assert.ok(denied.headers['x-request-id']);
    const codes: number[] = [];
    for (let i = 0; i < 12; i++) codes.push((await request(`${gw.url}/api/x`, { headers: { 'x-api-key': 'test' } })).status);
    assert.deepEqual(codes, [...Array(10).fill(200), 429, 429]);
    const limited = await request(`${gw.url}/api/x`, { headers: { 'x-api-key': 'test' } });
    assert.equal(limited.json<{ error: string }>().error, 'too many requests');
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    const other = await request(`${gw.url}/elsewhere`);
    assert.equal(other.json<{ path: string }>().path, '/elsewhere', 'the catch-all router does not rewrite');
  });
});
