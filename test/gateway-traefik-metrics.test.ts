/**
 * metrics.prometheus as Traefik documents it (observability/metrics/prometheus): the entry point,
 * router and service request families with Traefik's names and labels (code, method, protocol and
 * entrypoint / router+service / service), switched by addEntryPointsLabels (default true),
 * addRoutersLabels (default false) and addServicesLabels (default true), their durations in the
 * configured buckets (default 0.1, 0.3, 1.2, 5). Over real sockets, scraped from /metrics on the
 * traefik entry point.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { GatewayConfig } from '../dist/gateway/index.js';
import { gateway, request } from './fixtures/gateway/helpers.js';

type Prom = NonNullable<NonNullable<GatewayConfig['metrics']>['prometheus']>;

function config(prometheus: Prom): GatewayConfig {
  return {
    entryPoints: { web: { address: '127.0.0.1:0' }, traefik: { address: '127.0.0.1:0' } },
    http: { routers: { r: { rule: 'PathPrefix(`/app`)', service: 's', entryPoints: ['web'] } }, services: { s: { echo: {} } } },
    metrics: { prometheus },
    accessLog: false,
  };
}

/** The exposition as `name{sorted labels}` -> value. */
function scrape(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_:][a-z0-9_:]*)(?:\{(.*)\})? (\S+)$/i.exec(line);
    if (!m) continue;
    const labels = [...(m[2] ?? '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/gi)].map((l) => `${l[1]}=${l[2]}`).sort();
    out.set(`${m[1]}{${labels.join(',')}}`, Number(m[3]));
  }
  return out;
}
const key = (name: string, labels: Record<string, string>) =>
  `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .sort()
    .join(',')}}`;

async function traffic(web: string): Promise<void> {
  assert.equal((await request(`${web}/app/x`)).status, 200);
  assert.equal((await request(`${web}/app/y`, { method: 'POST', body: 'hi' })).status, 200);
  assert.equal((await request(`${web}/app/events`, { headers: { accept: 'text/event-stream' } })).status, 200);
  assert.equal((await request(`${web}/elsewhere`)).status, 404);
}

describe('metrics.prometheus: Traefik request families, labels and buckets', () => {
  it('addRoutersLabels and custom buckets: entry point, router and service series with code, method and protocol', async (t) => {
    const gw = await gateway(t, config({ addRoutersLabels: true, buckets: [2, 0.05] }));
    await traffic(gw.entryPoints.web!.url);
    const m = scrape((await request(`${gw.entryPoints.traefik!.url}/metrics`)).text);

    const ep = (code: string, method: string, protocol = 'http') => ({ code, method, protocol, entrypoint: 'web' });
    assert.equal(m.get(key('traefik_entrypoint_requests_total', ep('200', 'GET'))), 1);
    assert.equal(m.get(key('traefik_entrypoint_requests_total', ep('200', 'POST'))), 1);
    assert.equal(m.get(key('traefik_entrypoint_requests_total', ep('200', 'GET', 'sse'))), 1);
    // No router matched: the entry point counts it, no router or service does.
    assert.equal(m.get(key('traefik_entrypoint_requests_total', ep('404', 'GET'))), 1);
    const rt = (code: string, method: string) => ({ code, method, protocol: 'http', router: 'r', service: 's' });
    assert.equal(m.get(key('traefik_router_requests_total', rt('200', 'POST'))), 1);
    assert.equal(m.get(key('traefik_service_requests_total', { code: '200', method: 'POST', protocol: 'http', service: 's' })), 1);
    assert.ok(![...m.keys()].some((k) => /^traefik_(router|service)_requests_total\{code=404/.test(k)), 'the 404 is on no router or service');
    // The configured buckets (sorted), not the defaults; every observation is under +Inf.
    const svc = { code: '200', method: 'GET', protocol: 'http', service: 's' };
    const les = [...m.keys()].filter((k) => k.startsWith('traefik_service_request_duration_seconds_bucket{') && k.includes('method=GET,protocol=http,')).map((k) => /le=([^,}]+)/.exec(k)![1]);
    assert.deepEqual(les, ['0.05', '2', '+Inf']);
    assert.equal(m.get(key('traefik_service_request_duration_seconds_bucket', { ...svc, le: '+Inf' })), 1);
    assert.equal(m.get(key('traefik_service_request_duration_seconds_count', svc)), 1);
    assert.equal(m.get(key('traefik_router_request_duration_seconds_count', rt('200', 'GET'))), 1);
    assert.equal(m.get(key('traefik_entrypoint_request_duration_seconds_count', ep('404', 'GET'))), 1);
  });

  it("Traefik's defaults: no router series, entry point and service series in buckets 0.1, 0.3, 1.2, 5; addEntryPointsLabels false and addServicesLabels false drop theirs", async (t) => {
    const gw = await gateway(t, config({}));
    await traffic(gw.entryPoints.web!.url);
    const m = scrape((await request(`${gw.entryPoints.traefik!.url}/metrics`)).text);
    assert.ok(![...m.keys()].some((k) => k.startsWith('traefik_router_')), 'addRoutersLabels defaults to false');
    assert.equal(m.get(key('traefik_entrypoint_requests_total', { code: '200', method: 'GET', protocol: 'http', entrypoint: 'web' })), 1);
    const les = [...m.keys()].filter((k) => k.startsWith('traefik_entrypoint_request_duration_seconds_bucket{code=404,')).map((k) => /le=([^,}]+)/.exec(k)![1]);
    assert.deepEqual(les, ['0.1', '0.3', '1.2', '5', '+Inf']);
    assert.equal(m.get(key('traefik_service_requests_total', { code: '200', method: 'POST', protocol: 'http', service: 's' })), 1);

    const off = await gateway(t, config({ addEntryPointsLabels: false, addServicesLabels: false }));
    await traffic(off.entryPoints.web!.url);
    const n = scrape((await request(`${off.entryPoints.traefik!.url}/metrics`)).text);
    assert.ok(n.has('traefik_config_reloads_total{}'));
    assert.ok(![...n.keys()].some((k) => /^traefik_(entrypoint|router|service)_/.test(k)), 'no request family is on');
  });
});
