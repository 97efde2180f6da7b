/** Traefik's static keys (issue 24): a Traefik user's static file starts, and ping, metrics, api, serversTransport, experimental plugins and providers behave as documented. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createGateway, type Gateway } from '../dist/gateway/index.js';
import { loadConfig } from '../dist/gateway/config/load.js';
import { request, tempDir } from './fixtures/gateway/helpers.js';

const DYNAMIC = 'http:\n  routers:\n    r:\n      rule: "PathPrefix(`/`)"\n      service: s\n  services:\n    s:\n      echo: {}\n';

async function staticFile(t: { after(fn: () => unknown): void }, staticText: string, plugins: Record<string, string> = {}) {
  const d = await tempDir({ 'traefik.yml': staticText, 'dynamic.yml': DYNAMIC });
  t.after(() => d.cleanup());
  if (Object.keys(plugins).length > 0) {
    await mkdir(path.join(d.dir, 'plugins'));
    for (const [n, text] of Object.entries(plugins)) await writeFile(path.join(d.dir, 'plugins', n), text);
  }
  return path.join(d.dir, 'traefik.yml');
}

async function start(t: { after(fn: () => unknown): void }, file: string): Promise<Gateway> {
  const gw = await createGateway(file, { watchConfig: false });
  t.after(() => gw.close());
  return gw;
}

const EP = 'entryPoints:\n  web:\n    address: "127.0.0.1:0"\n  traefik:\n    address: "127.0.0.1:0"\nproviders:\n  file:\n    filename: dynamic.yml\n';

describe('Traefik static keys', () => {
  it('starts with ping, metrics.prometheus, api, log, accessLog, global, serversTransport and experimental.localPlugins, and serves /ping, /metrics and /api on the traefik entry point', async (t) => {
    const file = await staticFile(
      t,
      `${EP}ping: {}\nmetrics:\n  prometheus:\n    addRoutersLabels: true\n    buckets: [0.1, 0.3, 1.2, 5]\napi:\n  dashboard: true\n  insecure: true\nlog:\n  level: INFO\n  format: json\naccessLog:\n  format: json\n  filters:\n    statusCodes: ["500-599"]\n  fields:\n    headers:\n      defaultMode: drop\nglobal:\n  checkNewVersion: false\n  sendAnonymousUsage: false\nserversTransport:\n  insecureSkipVerify: true\nexperimental:\n  localPlugins:\n    tagger:\n      moduleName: github.com/me/tagger\n`,
      { 'tagger.js': 'export function onRequest() {}\n' },
    );
    const gw = await start(t, file);
    const web = gw.entryPoints.web!.url;
    const internal = gw.entryPoints.traefik!.url;
    assert.equal((await request(`${web}/x`)).status, 200);
    const ping = await request(`${internal}/ping`);
    assert.equal(ping.status, 200);
    assert.equal(ping.text, 'OK');
    // /ping is the traefik entry point's, not every entry point's: on web it is routed.
    assert.equal((await request(`${web}/ping`)).json<{ path?: string }>().path, '/ping');
    // Two requests went through router r: /x and /ping on web.
    const metrics = await request(`${internal}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^traefik_config_reloads_total 0$/m);
    assert.match(metrics.text, /^traefik_router_requests_total\{code="200",method="GET",protocol="http",router="r",service="s"\} 2$/m);
    const routers = await request(`${internal}/api/http/routers`);
    assert.equal(routers.status, 200);
    assert.deepEqual(routers.json<{ name: string }[]>().map((r) => r.name), ['r']);
  });

  it('puts ping on Traefik\'s entry point "traefik" at :8080 when ping.entryPoint is unset and the file declares none', async () => {
    const config = await loadConfig({ entryPoints: { web: { address: '127.0.0.1:0' } }, ping: {}, http: { services: { s: { echo: {} } } }, accessLog: false });
    const ep = config.entryPoints.get('traefik');
    assert.ok(ep, 'the traefik entry point is added');
    assert.equal(ep.port, 8080);
    assert.equal(ep.host, undefined);
    assert.deepEqual(config.traefik.internal.get('traefik'), { ping: true });
  });

  it('serves ping on the entry point ping.entryPoint names; manualRouting leaves it to the routers', async () => {
    const base = { entryPoints: { web: { address: '127.0.0.1:0' } }, http: { services: { s: { echo: {} } } }, accessLog: false };
    const on = await loadConfig({ ...base, ping: { entryPoint: 'web' } });
    assert.deepEqual(on.traefik.internal.get('web'), { ping: true });
    assert.equal(on.entryPoints.has('traefik'), false);
    const manual = await loadConfig({ ...base, ping: { manualRouting: true } });
    assert.equal(manual.traefik.internal.size, 0);
    await assert.rejects(loadConfig({ ...base, ping: { entryPoint: 'nope' } }), /ping\.entryPoint: unknown entry point "nope"; defined: web/);
  });

  it('uses the static serversTransport for every load balancer that names none', async () => {
    const config = await loadConfig({
      entryPoints: { web: { address: '127.0.0.1:0' } },
      serversTransport: { insecureSkipVerify: true },
      http: {
        serversTransports: { strict: { serverName: 'a.example' } },
        services: { dflt: { loadBalancer: { servers: [{ url: 'https://127.0.0.1:1' }] } }, own: { loadBalancer: { servers: [{ url: 'https://127.0.0.1:1' }], serversTransport: 'strict' } } },
      },
      accessLog: false,
    });
    const tlsOf = (name: string) => (config.services.get(name) as { tls?: { insecureSkipVerify: boolean } }).tls;
    assert.equal(tlsOf('dflt')?.insecureSkipVerify, true);
    assert.equal(tlsOf('own')?.insecureSkipVerify, false);
  });

  it('refuses an experimental plugin that is not in the plugin directory, naming the file to drop where', async (t) => {
    const file = await staticFile(t, `${EP}experimental:\n  plugins:\n    demo:\n      moduleName: github.com/traefik/plugindemo\n      version: v0.2.1\n`, { 'other.js': 'export function onRequest() {}\n' });
    await assert.rejects(createGateway(file, { watchConfig: false }), (e: Error & { code?: string; issues?: { path: string; hint?: string }[] }) => {
      assert.equal(e.code, 'ERR_CONFIG');
      const i = e.issues!.find((x) => x.path === 'experimental.plugins.demo');
      assert.ok(i, e.message);
      assert.match(i.hint!, /drop demo\.js, demo\.ts or demo\.lua into .*plugins/);
      return true;
    });
  });

  for (const provider of ['docker', 'kubernetesCRD', 'kubernetesIngress', 'kubernetesGateway', 'consulCatalog', 'etcd', 'zookeeper', 'http', 'ecs', 'nomad']) {
    it(`refuses providers.${provider} with ERR_PROVIDER_UNSUPPORTED naming file and redis`, async (t) => {
      const file = await staticFile(t, `entryPoints:\n  web:\n    address: "127.0.0.1:0"\nproviders:\n  file:\n    filename: dynamic.yml\n  ${provider}: {}\n`);
      await assert.rejects(createGateway(file, { watchConfig: false }), (e: Error & { code?: string; provider?: string; supported?: string[] }) => {
        assert.equal(e.code, 'ERR_PROVIDER_UNSUPPORTED');
        assert.equal(e.provider, provider);
        assert.deepEqual(e.supported, ['file', 'redis']);
        assert.match(e.message, /file and redis/);
        return true;
      });
    });
  }

  it("writes Traefik's access log: JSON lines with Traefik's field names to filePath, filtered by statusCodes, headers dropped unless named", async (t) => {
    const d = await tempDir({});
    t.after(() => d.cleanup());
    const logFile = path.join(d.dir, 'access.json');
    const gw = await createGateway(
      {
        entryPoints: { web: { address: ':0' } },
        http: { routers: { r: { rule: 'PathPrefix(`/ok`)', service: 's' } }, services: { s: { echo: {} } } },
        plugins: { dir: d.dir },
        accessLog: { filePath: logFile, format: 'json', filters: { statusCodes: ['200-299'] }, fields: { names: { StartLocal: 'drop' }, headers: { names: { 'User-Agent': 'keep', Authorization: 'redact' } } } },
      },
      { watchConfig: false },
    );
    t.after(() => gw.close());
    const port = gw.entryPoints.web!.port;
    assert.equal((await request(`http://127.0.0.1:${port}/ok?q=1`, { headers: { 'user-agent': 'probe/1', authorization: 'Basic x', 'x-other': 'y' } })).status, 200);
    assert.equal((await request(`http://127.0.0.1:${port}/missing`)).status, 404);
    await gw.close();
    const lines = (await import('node:fs')).readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 1, 'the 404 is filtered out');
    const l = lines[0]!;
    assert.equal(l.ClientHost, '127.0.0.1');
    assert.match(String(l.ClientAddr), /^127\.0\.0\.1:[0-9]+$/);
    assert.equal(l.RequestMethod, 'GET');
    assert.equal(l.RequestPath, '/ok?q=1');
    assert.equal(l.RequestProtocol, 'HTTP/1.1');
    assert.equal(l.DownstreamStatus, 200);
    assert.equal(l.RouterName, 'r');
    assert.equal(l.ServiceName, 's');
    assert.equal(l.entryPointName, 'web');
    assert.equal(typeof l.Duration, 'number');
    assert.equal(l.StartLocal, undefined);
    assert.equal(l['request_User-Agent'], 'probe/1');
    assert.equal(l.request_Authorization, 'REDACTED');
    assert.equal(l['request_X-Other'], undefined);
  });
});
