/**
 * The service types through a running gateway with real upstreams on 127.0.0.1: loadBalancer
 * (wrr with weights, p2c, health checks, sticky cookie, passHostHeader), weighted, mirroring and
 * failover, and the configuration errors of service references.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { createGateway } from '../dist/gateway/index.js';
import { baseConfig, eventually, request, tempDir, upstream, type Upstream } from './fixtures/gateway/helpers.js';
import { withMiddlewares } from './fixtures/gateway/builtins.js';

type T = { after(fn: () => unknown): void };

/** An upstream answering its name; /health answers `health.status`. */
async function named(t: T, name: string, health = { status: 200 }): Promise<Upstream & { health: { status: number } }> {
  const u = await upstream((req, res) => {
    if (req.url === '/health') {
      res.statusCode = health.status;
      return void res.end();
    }
    res.end(name);
  });
  t.after(() => u.close());
  return Object.assign(u, { health });
}

const names = async (url: string, n: number, headers: Record<string, string> = {}) => {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await request(url, { headers })).text);
  return out;
};
const count = (xs: string[], x: string) => xs.filter((y) => y === x).length;

describe('loadBalancer', () => {
  it('wrr spreads by server weight, interleaved; weight 0 takes nothing', async (t) => {
    const [a, b, c] = [await named(t, 'a'), await named(t, 'b'), await named(t, 'c')];
    const gw = await withMiddlewares(t, {}, [], { loadBalancer: { servers: [{ url: a.url, weight: 3 }, { url: b.url, weight: 1 }, { url: c.url, weight: 0 }] } });
    const got = await names(gw.url, 8);
    assert.equal(count(got, 'a'), 6);
    assert.equal(count(got, 'b'), 2);
    assert.equal(count(got, 'c'), 0);
    assert.deepEqual(got.slice(0, 4), ['a', 'a', 'b', 'a']);
  });

  it('p2c sends to the server with fewer requests in flight', async (t) => {
    const held: ServerResponse[] = [];
    const slow = await upstream((_req, res) => held.push(res));
    t.after(() => slow.close());
    const fast = await named(t, 'fast');
    const gw = await withMiddlewares(t, {}, [], { loadBalancer: { strategy: 'p2c', servers: [{ url: slow.url }, { url: fast.url }] } });
    // Until one request sits on the slow server, requests may go either way.
    const pending: Promise<unknown>[] = [];
    while (held.length === 0) {
      let done = false;
      pending.push(request(gw.url).then(() => (done = true)));
      await eventually(() => done || held.length > 0, 'the request is answered or held');
    }
    for (const x of await names(gw.url, 4)) assert.equal(x, 'fast');
    for (const res of held) res.end('slow');
    await Promise.all(pending);
  });

  it('skips servers whose health check fails, and takes them back when it passes', async (t) => {
    const sick = await named(t, 'sick', { status: 500 });
    const well = await named(t, 'well');
    const gw = await withMiddlewares(t, {}, [], { loadBalancer: { servers: [{ url: sick.url }, { url: well.url }], healthCheck: { path: '/health', interval: '1h', unhealthyInterval: '10ms', timeout: '1s' } } });
    await eventually(async () => (await names(gw.url, 4)).every((x) => x === 'well'), 'the sick server is skipped');
    sick.health.status = 200;
    await eventually(async () => (await names(gw.url, 4)).includes('sick'), 'the server is back after a good check');
  });

  it('answers 503 when no server is up', async (t) => {
    const sick = await named(t, 'sick', { status: 503 });
    const gw = await withMiddlewares(t, {}, [], { loadBalancer: { servers: [{ url: sick.url }], healthCheck: { path: '/health', interval: '10ms' } } });
    await eventually(async () => (await request(gw.url)).status === 503, 'no server available');
  });

  it('keeps a client on its server with a sticky cookie', async (t) => {
    const [a, b] = [await named(t, 'a'), await named(t, 'b')];
    const gw = await withMiddlewares(t, {}, [], { loadBalancer: { servers: [{ url: a.url }, { url: b.url }], sticky: { cookie: { name: 'lb', httpOnly: true, sameSite: 'lax' } } } });
    const first = await request(gw.url);
    const setCookie = String(first.headers['set-cookie']);
    assert.match(setCookie, /^lb=[0-9a-f]{16}; Path=\/; HttpOnly; SameSite=Lax$/);
    assert.ok(!setCookie.includes('127.0.0.1'));
    const cookie = setCookie.split(';')[0]!;
    const again = await names(gw.url, 5, { cookie });
    assert.deepEqual(again, Array(5).fill(first.text));
  });

  it('passes the client Host by default, the server host with passHostHeader: false', async (t) => {
    const up = await upstream((req, res) => res.end(req.headers.host));
    t.after(() => up.close());
    const on = await withMiddlewares(t, {}, [], { loadBalancer: { servers: [{ url: up.url }] } });
    assert.equal((await request(on.url, { headers: { host: 'client.example' } })).text, 'client.example');
    const off = await withMiddlewares(t, {}, [], { loadBalancer: { servers: [{ url: up.url }], passHostHeader: false } });
    assert.equal((await request(off.url, { headers: { host: 'client.example' } })).text, new URL(up.url).host);
  });
});

/** A gateway whose router sends to `top`, with the given services. */
async function services(t: T, top: string, svcs: Record<string, unknown>) {
  const d = await tempDir({});
  t.after(() => d.cleanup());
  const gw = await createGateway(baseConfig(d.dir, { routers: { r: { rule: 'PathPrefix(`/`)', service: top } }, services: svcs as never }));
  t.after(() => gw.close());
  return Object.assign(gw, { url: Object.values(gw.entryPoints)[0]!.url });
}

describe('weighted', () => {
  it('spreads over services by weight, sticky by cookie, skipping a child with no server up when healthCheck is set', async (t) => {
    const [a, b] = [await named(t, 'a'), await named(t, 'b', { status: 500 })];
    const gw = await services(t, 'w', {
      w: { weighted: { services: [{ name: 'sa', weight: 1 }, { name: 'sb@file', weight: 1 }] } },
      sa: { loadBalancer: { servers: [{ url: a.url }] } },
      sb: { loadBalancer: { servers: [{ url: b.url }] } },
    });
    assert.deepEqual((await names(gw.url, 4)).sort(), ['a', 'a', 'b', 'b']);
    const hc = await services(t, 'w', {
      w: { weighted: { services: [{ name: 'sa', weight: 1 }, { name: 'sb', weight: 5 }], healthCheck: {}, sticky: { cookie: { name: 'w' } } } },
      sa: { loadBalancer: { servers: [{ url: a.url }] } },
      sb: { loadBalancer: { servers: [{ url: b.url }], healthCheck: { path: '/health', interval: '10ms' } } },
    });
    await eventually(async () => (await names(hc.url, 3)).every((x) => x === 'a'), 'the child without a server up is skipped');
    const r = await request(hc.url);
    assert.match(String(r.headers['set-cookie']), /^w=[0-9a-f]{16}; Path=\//);
  });
});

describe('mirroring', () => {
  it('answers from the main service and sends percent of the requests, body included, to the mirror', async (t) => {
    const main = await named(t, 'main');
    const mirror = await named(t, 'mirror');
    const gw = await services(t, 'm', {
      m: { mirroring: { service: 'main', mirrors: [{ name: 'copy', percent: 50 }] } },
      main: { loadBalancer: { servers: [{ url: main.url }] } },
      copy: { loadBalancer: { servers: [{ url: mirror.url }] } },
    });
    for (let i = 0; i < 4; i++) {
      const r = await request(gw.url, { method: 'POST', body: `body-${i}` });
      assert.equal(r.text, 'main');
    }
    await eventually(() => mirror.seen.length === 2, 'two of four requests mirrored');
    assert.equal(main.seen.length, 4);
    assert.deepEqual(mirror.seen.map((s) => s.body).sort(), main.seen.filter((_s, i) => i % 2 === 0).map((s) => s.body).sort());
  });
});

describe('failover', () => {
  it('uses the fallback while the main service has no server up, and on errors.status answers', async (t) => {
    const main = await named(t, 'main', { status: 500 });
    const spare = await named(t, 'spare');
    const gw = await services(t, 'f', {
      f: { failover: { service: 'main', fallback: 'spare' } },
      main: { loadBalancer: { servers: [{ url: main.url }], healthCheck: { path: '/health', interval: '10ms', unhealthyInterval: '10ms' } } },
      spare: { loadBalancer: { servers: [{ url: spare.url }] } },
    });
    await eventually(async () => (await request(gw.url)).text === 'spare', 'the fallback serves while main is down');
    main.health.status = 200;
    await eventually(async () => (await request(gw.url)).text === 'main', 'main serves again once healthy');

    const failing = await upstream((_req, res) => {
      res.statusCode = 503;
      res.end('main failed');
    });
    t.after(() => failing.close());
    const byStatus = await services(t, 'f', {
      f: { failover: { service: 'main', fallback: 'spare', errors: { status: ['500-504'] } } },
      main: { loadBalancer: { servers: [{ url: failing.url }] } },
      spare: { loadBalancer: { servers: [{ url: spare.url }] } },
    });
    const r = await request(byStatus.url, { method: 'POST', body: 'payload' });
    assert.equal(r.text, 'spare');
    assert.equal(spare.seen.at(-1)!.body, 'payload');
  });
});

describe('service references', () => {
  it('refuses unknown names, echo children and cycles, with paths', async () => {
    const d = await tempDir({});
    try {
      await assert.rejects(
        createGateway(
          baseConfig(d.dir, {
            routers: { r: { rule: 'PathPrefix(`/`)', service: 'w' } },
            services: {
              w: { weighted: { services: [{ name: 'nope' }, { name: 'echo' }, { name: 'x' }] } },
              x: { failover: { service: 'y', fallback: 'w' } },
              y: { mirroring: { service: 'x' } },
            } as never,
          }),
        ),
        (e: Error) => {
          assert.match(e.message, /http\.services\.w\.weighted\.services\[0\]\.name: unknown service "nope"/);
          assert.match(e.message, /http\.services\.w\.weighted\.services\[1\]\.name: service "echo" is the echo service/);
          assert.match(e.message, /services refer to each other in a cycle: (w -> x -> w|x -> y -> x)/);
          return true;
        },
      );
    } finally {
      await d.cleanup();
    }
  });
});
