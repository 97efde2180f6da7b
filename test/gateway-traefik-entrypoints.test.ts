/** Entry points as Traefik's static file writes them (issue 24): http.redirections.entryPoint and http.middlewares. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../dist/gateway/config/load.js';
import type { GatewayConfig } from '../dist/gateway/index.js';
import { gateway, request, tempDir } from './fixtures/gateway/helpers.js';

type T = { after(fn: () => unknown): void };

async function start(t: T, config: Omit<GatewayConfig, 'plugins'>) {
  const d = await tempDir({});
  t.after(() => d.cleanup());
  return gateway(t, { ...config, plugins: { dir: d.dir }, accessLog: false } as GatewayConfig);
}

const echo = { s: { echo: {} } };

describe('entryPoints.<name>.http.redirections.entryPoint', () => {
  it('redirects every request of the entry point, permanently by default, to https on the target port, ahead of the routers', async (t) => {
    const gw = await start(t, {
      entryPoints: { web: { address: '127.0.0.1:0', http: { redirections: { entryPoint: { to: ':8443', scheme: 'https' } } } } },
      http: { routers: { r: { rule: 'PathPrefix(`/`)', service: 's' } }, services: echo },
    });
    const r = await request(`${gw.entryPoints.web!.url}/x?y=1`, { headers: { host: 'a.example' } });
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, 'https://a.example:8443/x?y=1');
  });

  it('takes permanent: false (302) and leaves the port out when it is the scheme default', async (t) => {
    const gw = await start(t, {
      entryPoints: { web: { address: '127.0.0.1:0', http: { redirections: { entryPoint: { to: ':443', permanent: false } } } } },
      http: { routers: { r: { rule: 'PathPrefix(`/`)', service: 's' } }, services: echo },
    });
    const r = await request(`${gw.entryPoints.web!.url}/a`, { headers: { host: 'a.example:80' } });
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, 'https://a.example/a');
  });

  it('names the target entry point by name: its port, priority MaxInt32-1 by default, a router of the source entry point only', async () => {
    const config = await loadConfig({
      entryPoints: { web: { address: '127.0.0.1:0', http: { redirections: { entryPoint: { to: 'websecure' } } } }, websecure: { address: '127.0.0.1:8443' } },
      http: { services: echo },
      accessLog: false,
    });
    const router = config.routers.find((r) => r.name === 'web-to-websecure@internal');
    assert.ok(router, config.routers.map((r) => r.name).join(', '));
    assert.equal(router.priority, 2 ** 31 - 2);
    assert.deepEqual(router.entryPoints, ['web']);
    assert.deepEqual(config.middlewares.get(router.middlewares[0]!)?.config, { scheme: 'https', port: '8443', permanent: true });
    await assert.rejects(
      loadConfig({ entryPoints: { web: { address: '127.0.0.1:0', http: { redirections: { entryPoint: { to: 'nope' } } } } }, http: { services: echo }, accessLog: false }),
      /entryPoints\.web\.http\.redirections\.entryPoint\.to: unknown entry point "nope"/,
    );
  });
});

describe('entryPoints.<name>.http.middlewares', () => {
  it("applies the entry point's middlewares to every router of that entry point, before the router's own, and not on other entry points", async (t) => {
    const gw = await start(t, {
      entryPoints: { web: { address: '127.0.0.1:0', http: { middlewares: ['security-headers@file'] } }, other: { address: '127.0.0.1:0' } },
      http: {
        routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['own'], service: 's' } },
        middlewares: {
          'security-headers': { headers: { customResponseHeaders: { 'X-Frame-Options': 'DENY' }, customRequestHeaders: { 'X-Order': 'entry-point' } } },
          own: { headers: { customRequestHeaders: { 'X-Order': 'router' } } },
        },
        services: echo,
      },
    });
    const web = await request(`${gw.entryPoints.web!.url}/x`);
    assert.equal(web.status, 200);
    assert.equal(web.headers['x-frame-options'], 'DENY');
    // The router's own middleware runs after the entry point's: its header value is the one forwarded.
    assert.equal(web.json<{ headers: Record<string, string> }>().headers['x-order'], 'router');
    const other = await request(`${gw.entryPoints.other!.url}/x`);
    assert.equal(other.status, 200);
    assert.equal(other.headers['x-frame-options'], undefined);
  });

  it('refuses an entry point middleware that is not defined, naming its path', async () => {
    await assert.rejects(
      loadConfig({ entryPoints: { web: { address: '127.0.0.1:0', http: { middlewares: ['missing@file'] } } }, http: { routers: { r: { rule: 'PathPrefix(`/`)', service: 's' } }, services: echo }, accessLog: false }),
      /entryPoints\.web\.http\.middlewares\[0\]: unknown middleware "missing@file"/,
    );
  });
});
