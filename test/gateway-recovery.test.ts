/**
 * The gateway and plugin lifecycle (issue 10): a plugin dropped in while the gateway runs is
 * served on the first request after its `loaded` event and may be named by a config reload; one
 * request runs both phases of a middleware on one version, even when a reload lands in between; a
 * version without a phase a bound middleware uses is rejected with ERR_EXPORTS_REMOVED; the
 * request after a limit violation is served. No sleeps: events, host.reload() and an upstream
 * that answers when told.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { unlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Host, HostEvent } from 'terrarium-plugins';
import { baseConfig, gateway, request, tempDir, upstream } from './fixtures/gateway/helpers.js';
import { nextEvent } from './helpers.js';

const TAG = (v: string) => `
export const meta = { name: 'tag', version: '${v}', apiVersion: 1 };
export function onRequest() { return { setHeaders: { 'x-tag': '${v}' } }; }
`;

/** onRequest keeps its version in ctx.state; onResponse says which version started and which ends the request. */
const PAIR = (v: string, withResponse = true) => `
export const meta = { name: 'pair', version: '${v}', apiVersion: 1 };
export function onRequest() { return { state: { started: '${v}' } }; }
${withResponse ? `export function onResponse(res, ctx) { return { setHeaders: { 'x-pair': ctx.state.started + '->' + '${v}' } }; }` : ''}
`;

const SPIN = `
export const meta = { name: 'spin', version: '1', apiVersion: 1 };
export function onRequest(req) { if (req.headers['x-spin']) { for (;;) {} } return { setHeaders: { 'x-ok': '1' } }; }
`;

/** The request headers the echo service saw. */
const echoed = (r: { json<T>(): T }) => r.json<{ headers: Record<string, string> }>().headers;

const next = nextEvent;

/** A gateway watching a directory that holds tag.js, routed through it as middleware `t`. */
async function watchedTagGateway(t: TestContext) {
  const files = await tempDir({ 'tag.js': TAG('1') });
  t.after(() => files.cleanup());
  const config = baseConfig(files.dir, { routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['t'], service: 'echo' } }, middlewares: { t: { plugin: { tag: {} } } } });
  config.plugins!.watch = { debounceMs: 20 };
  const gw = await gateway(t, config);
  return { files, config, gw };
}

describe('gateway: plugins added, removed and reloaded while it runs', () => {
  it('serves a plugin dropped into the directory on the first request after its loaded event, and accepts a config that names it', async (t) => {
    const { files, config, gw } = await watchedTagGateway(t);
    const loaded = next(gw.host, 'loaded', 'pair');
    await writeFile(path.join(files.dir, 'pair.js'), PAIR('1'));
    await loaded;
    await gw.reload({
      ...config,
      http: { ...config.http, routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['t', 'p'], service: 'echo' } }, middlewares: { t: { plugin: { tag: {} } }, p: { plugin: { pair: {} } } } },
    });
    const r = await request(`${gw.url}/x`);
    assert.equal(r.status, 200);
    assert.deepEqual([echoed(r)['x-tag'], r.headers['x-pair']], ['1', '1->1']);
  });

  it('answers 502 while a middleware plugin is deleted, and serves it again on the first request after it is put back', async (t) => {
    const { files, config, gw } = await watchedTagGateway(t);
    const unloaded = next(gw.host, 'unloaded', 'tag');
    await unlink(path.join(files.dir, 'tag.js'));
    await unloaded;
    const gone = await request(`${gw.url}/x`);
    assert.equal(gone.status, 502);
    const loaded = next(gw.host, 'loaded', 'tag');
    await writeFile(path.join(files.dir, 'tag.js'), TAG('2'));
    await loaded;
    const back = await request(`${gw.url}/x`);
    assert.deepEqual([back.status, echoed(back)['x-tag']], [200, '2']);
  });
});

describe('gateway: a request keeps its versions', () => {
  it('runs onRequest and onResponse of one request on the version it started on when a reload lands in between', async (t) => {
    const files = await tempDir({ 'pair.js': PAIR('1') });
    t.after(() => files.cleanup());
    const held: (() => void)[] = [];
    let arrived: (() => void) | undefined;
    const up = await upstream((_req, res) => {
      held.push(() => res.end('ok'));
      arrived?.();
    });
    t.after(() => up.close());
    const gw = await gateway(
      t,
      baseConfig(files.dir, {
        routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['p'], service: 'up' } },
        middlewares: { p: { plugin: { pair: {} } } },
        services: { up: { loadBalancer: { servers: [{ url: up.url }] } } },
      }),
    );
    const atUpstream = new Promise<void>((r) => (arrived = r));
    const first = request(`${gw.url}/a`);
    await atUpstream;
    await writeFile(path.join(files.dir, 'pair.js'), PAIR('2'));
    await gw.host.reload();
    assert.equal(gw.host.plugins.find((p) => p.name === 'pair')?.version, '2');
    held.shift()!();
    const r1 = await first;
    assert.equal(r1.headers['x-pair'], '1->1', 'both phases on version 1');
    const second = request(`${gw.url}/b`);
    await new Promise<void>((r) => {
      if (held.length) r();
      else arrived = r;
    });
    held.shift()!();
    assert.equal((await second).headers['x-pair'], '2->2');
  });

  it('never splits a request across versions during a storm of reloads', async (t) => {
    const files = await tempDir({ 'pair.js': PAIR('0') });
    t.after(() => files.cleanup());
    const up = await upstream((_req, res) => res.end('ok'));
    t.after(() => up.close());
    const gw = await gateway(
      t,
      baseConfig(files.dir, {
        routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['p'], service: 'up' } },
        middlewares: { p: { plugin: { pair: {} } } },
        services: { up: { loadBalancer: { servers: [{ url: up.url }] } } },
      }),
    );
    const seen: string[] = [];
    let running = true;
    const clients = [0, 1, 2, 3].map(async () => {
      while (running) {
        const r = await request(`${gw.url}/x`);
        seen.push(`${r.status} ${String(r.headers['x-pair'])}`);
      }
    });
    for (let v = 1; v <= 20; v++) {
      await writeFile(path.join(files.dir, 'pair.js'), PAIR(String(v)));
      await gw.host.reload();
      // Let requests started on this version run into the next reload.
      const before = seen.length;
      while (seen.length < before + 2) await new Promise((r) => setImmediate(r));
    }
    running = false;
    await Promise.all(clients);
    const split = seen.filter((x) => !/^200 (\d+)->\1$/.test(x));
    assert.deepEqual(split, [], `${split.length} of ${seen.length} responses were split across versions or failed`);
    assert.equal(gw.host.plugins.find((p) => p.name === 'pair')?.version, '20');
  });

  it('rejects a version without a phase a bound middleware uses with ERR_EXPORTS_REMOVED; the serving version keeps serving', async (t) => {
    const files = await tempDir({ 'pair.js': PAIR('1') });
    t.after(() => files.cleanup());
    const gw = await gateway(t, baseConfig(files.dir, { routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['p'], service: 'echo' } }, middlewares: { p: { plugin: { pair: {} } } } }));
    const failed = next(gw.host, 'failed', 'pair');
    await writeFile(path.join(files.dir, 'pair.js'), PAIR('2', false));
    await gw.host.reload();
    const e = await failed;
    assert.equal(e.error?.code, 'ERR_EXPORTS_REMOVED');
    assert.deepEqual((e.error as unknown as { missing: string[]; required: boolean }).missing, ['onResponse']);
    assert.equal((e.error as unknown as { required: boolean }).required, true);
    const r = await request(`${gw.url}/x`);
    assert.deepEqual([r.status, r.headers['x-pair']], [200, '1->1']);
  });
});

describe('gateway: the request after a limit violation', () => {
  it('is served by a fresh instance: no request fails because an earlier one broke a limit', async (t) => {
    const files = await tempDir({ 'spin.js': SPIN });
    t.after(() => files.cleanup());
    const gw = await gateway(t, baseConfig(files.dir, { routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['s'], service: 'echo' } }, middlewares: { s: { plugin: { spin: {} } } } }));
    await gw.host.ready();
    // Two pipelined requests in one write: node parses the second on the same stack right after
    // the first one's violation, before anything could be rebuilt.
    const { port } = new URL(gw.url);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1');
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => {
        text += d;
        if ((text.match(/HTTP\/1\.1 /g) ?? []).length === 2 && text.includes('"x-ok": "1"')) socket.end();
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
      socket.write('GET /bad HTTP/1.1\r\nhost: x\r\nx-spin: 1\r\n\r\nGET /good HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    });
    const statuses = [...raw.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [502, 200]);
    assert.match(raw, /ERR_PLUGIN_TIMEOUT/);
    assert.match(raw, /"x-ok": "1"/);
    assert.equal(gw.host.plugins.find((p) => p.name === 'spin')?.counters.restarts, 1);
  });
});
