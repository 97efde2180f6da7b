/**
 * `terrarium serve --workers 2`: the cluster primary and its workers, as real processes. Metrics
 * and admin views add up across workers, reloads (SIGHUP, config file, plugin hot reload) reach
 * every worker, a killed worker is replaced, and a shutdown drains the requests in flight of every
 * worker.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { eventually, request, tempDir, upstream } from './fixtures/gateway/helpers.js';
import { serve, type Served } from './fixtures/gateway/serve.js';
import { mergeViews } from '../dist/gateway/serve/cluster.js';

const TAG = (version: string) => `export const meta = { name: 'tag', version: '${version}', apiVersion: 1 };
export function onResponse(res, ctx) { return { setHeaders: { 'x-tag': '${version}' } }; }
`;

function yamlFor(dir: string, extraRouters = '', services = ''): string {
  return `entryPoints:
  web:
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
http:
  routers:
    api:
      rule: "PathPrefix(\`/api\`)"
      middlewares: [tag]
      service: echo
${extraRouters}
  middlewares:
    tag:
      plugin:
        tag: {}
  services:
    echo:
      echo: {}
${services}
plugins:
  dir: ${JSON.stringify(dir)}
  watch:
    debounceMs: 20
accessLog: false
`;
}

interface WorkerStatus {
  pid: number;
  requests: number;
  reloads: { success: number; failure: number };
}

async function workers(s: Served): Promise<WorkerStatus[]> {
  return (await request(`${s.urls.admin}/api/workers`)).json<WorkerStatus[]>();
}

async function cluster(t: { after(fn: () => unknown): void }, files: Record<string, string>, yaml: (dir: string) => string) {
  const dir = await tempDir(files);
  t.after(() => dir.cleanup());
  const file = path.join(dir.dir, 'gateway.yaml');
  await writeFile(file, yaml(dir.dir));
  const s = await serve(t, [file, '--workers', '2']);
  return { s, dir: dir.dir, file };
}

describe('mergeViews (admin views of several workers)', () => {
  it('sums counters and memory, keeps equal fields once, lists differing or missing ones per worker', () => {
    const merged = mergeViews([
      { pid: 1, data: [{ name: 'a', status: 'ready', memoryBytes: 10, counters: { calls: 2, codes: { '200': 1 } } }] },
      { pid: 2, data: [{ name: 'a', status: 'failed', memoryBytes: 5, counters: { calls: 3, codes: { '200': 2, '502': 1 } } }, { name: 'b', status: 'ready' }] },
    ]);
    assert.deepEqual(merged, [
      { name: 'a', memoryBytes: 15, counters: { calls: 5, codes: { '200': 3, '502': 1 } }, workers: { '1': { status: 'ready' }, '2': { status: 'failed' } } },
      { name: 'b', workers: { '2': { status: 'ready' }, '1': { missing: true } } },
    ]);
  });
});

describe('serve --workers 2', () => {
  it('answers /metrics and the admin API for the whole gateway, and every reload (SIGHUP, config file, plugin file) reaches every worker', async (t) => {
    const { s, dir, file } = await cluster(t, { 'tag.js': TAG('1.0.0') }, (d) => yamlFor(d));
    assert.equal((await workers(s)).length, 2);
    for (let i = 0; i < 20; i++) assert.equal((await request(`${s.urls.web}/api/${i}`)).status, 200);
    const ws = await workers(s);
    assert.equal(ws.reduce((n, w) => n + w.requests, 0), 20, 'the workers answered 20 requests between them');
    const metrics = (await request(`${s.urls.admin}/metrics`)).text;
    assert.match(metrics, /terrarium_gateway_requests_total\{router="api",code="200"\} 20\n/);
    assert.match(metrics, /terrarium_gateway_middleware_calls_total\{middleware="tag",plugin="tag",phase="response"\} 20\n/);
    assert.match(metrics, /terrarium_cluster_workers 2\n/);
    const routers = (await request(`${s.urls.admin}/api/routers`)).json<{ name: string; counters: { requests: number }; workers?: unknown }[]>();
    assert.equal(routers.length, 1);
    assert.equal(routers[0]!.counters.requests, 20);

    process.kill(s.child.pid!, 'SIGHUP');
    await eventually(async () => (await workers(s)).every((w) => w.reloads.success >= 1), 'SIGHUP reloads every worker', 20_000);

    await writeFile(file, yamlFor(dir, `    more:\n      rule: "PathPrefix(\`/more\`)"\n      service: echo\n`));
    await eventually(async () => (await workers(s)).every((w) => w.reloads.success >= 2), 'the file change reloads every worker', 20_000);
    await eventually(async () => {
      const after = (await request(`${s.urls.admin}/api/routers`)).json<{ name: string; workers?: unknown }[]>();
      // A router some worker lacks would be listed with `workers`.
      return after.map((r) => r.name).sort().join() === 'api,more' && after.every((r) => r.workers === undefined);
    }, 'every worker serves the new router', 20_000);

    await writeFile(path.join(dir, 'tag.js'), TAG('2.0.0'));
    await eventually(async () => {
      const tag = (await request(`${s.urls.admin}/api/plugins`)).json<{ name: string; version?: string }[]>().find((p) => p.name === 'tag');
      return tag?.version === '2.0.0'; // a version that differed between workers would be listed per worker instead
    }, 'the plugin hot reload reaches every worker', 20_000);
    for (let i = 0; i < 4; i++) assert.equal((await request(`${s.urls.web}/api/x`)).headers['x-tag'], '2.0.0');
    assert.equal(await s.stop('SIGTERM'), 0);
  });

  it('replaces a killed worker and logs it; traffic keeps flowing', async (t) => {
    const { s } = await cluster(t, { 'tag.js': TAG('1.0.0') }, (d) => yamlFor(d));
    const before = (await workers(s)).map((w) => w.pid);
    assert.equal(before.length, 2);
    const victim = before[0]!;
    const mark = s.output().length;
    process.kill(victim, 'SIGKILL');
    await s.waitFor(new RegExp(`worker ${victim} exited \\(signal SIGKILL\\); starting a new one`), 'the log line about the dead worker', mark);
    await eventually(async () => {
      const now = (await workers(s)).map((w) => w.pid);
      return now.length === 2 && !now.includes(victim);
    }, 'a new worker takes its place', 20_000);
    for (let i = 0; i < 6; i++) assert.equal((await request(`${s.urls.web}/api/${i}`)).status, 200);
    assert.match((await request(`${s.urls.admin}/metrics`)).text, /terrarium_cluster_worker_restarts_total 1\n/);
    assert.equal(await s.stop('SIGTERM'), 0);
  });

  it('drains the requests in flight of every worker on SIGTERM, then exits 0', async (t) => {
    const held: (() => void)[] = [];
    const up = await upstream((_req, res) => held.push(() => res.end('late')));
    t.after(() => up.close());
    const { s } = await cluster(t, { 'tag.js': TAG('1.0.0') }, (d) =>
      yamlFor(d, `    slow:\n      rule: "PathPrefix(\`/slow\`)"\n      service: slow\n`, `    slow:\n      loadBalancer:\n        servers:\n          - url: ${up.url}\n`),
    );
    const pids = (await workers(s)).map((w) => w.pid);
    // Four requests on fresh connections, spread over both workers, all held by the upstream.
    const replies = Array.from({ length: 4 }, (_, i) => request(`${s.urls.web}/slow/${i}`));
    await eventually(() => held.length === 4, 'the upstream holds four requests');
    const busy = await workers(s);
    assert.equal(busy.reduce((n, w) => n + (w as WorkerStatus & { inFlight: number }).inFlight, 0), 4);
    const mark = s.output().length;
    process.kill(s.child.pid!, 'SIGTERM');
    for (const pid of pids) await s.waitFor(new RegExp(`worker ${pid}: shutting down`), `worker ${pid} starts draining`, mark);
    for (const release of held) release();
    const done = await Promise.all(replies);
    assert.deepEqual(
      done.map((r) => [r.status, r.text]),
      Array.from({ length: 4 }, () => [200, 'late']),
    );
    assert.equal(await s.exit, 0);
  });
});
