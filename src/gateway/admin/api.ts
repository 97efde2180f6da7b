/**
 * The admin server, on its own address (keep it off the public interface): JSON views of the
 * plugins, routers, middlewares and services with their status and counters, and `/metrics` in
 * the Prometheus text format.
 */
import http from 'node:http';
import type { TerrariumError } from '../../errors.js';
import type { Host } from '../../host/host.js';
import type { ResolvedService } from '../config/model.js';
import { createRegistry, type TraefikMetrics } from './metrics.js';
import type { GatewayStats } from '../stats/stats.js';
import type { Runtime } from '../exchange/runtime.js';

/** What the admin API reads of a running gateway (and nothing else: it changes nothing). */
export interface AdminSource {
  readonly host: Pick<Host, 'plugins'>;
  readonly stats: GatewayStats;
  /** The routing table in force (replaced whole on reload). */
  runtime(): Readonly<Pick<Runtime, 'config' | 'routers' | 'middlewares' | 'services'>>;
}

const ENDPOINTS = ['/api/plugins', '/api/routers', '/api/middlewares', '/api/services', '/metrics', '/ping'];

function counts<K extends string | number>(m: Map<K, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of [...m].sort((a, b) => String(a[0]).localeCompare(String(b[0])))) out[String(k)] = v;
  return out;
}

/** An error as the admin API shows it: code, message, and the plugin file:line when known. */
function errorView(e: TerrariumError): { code: string; message: string; file?: string; line?: number } {
  return { code: e.code, message: e.message, ...(e.file ? { file: e.file } : {}), ...(e.line ? { line: e.line } : {}) };
}

/** The JSON documents of the admin API, built from the running gateway. */
export function adminViews(gw: AdminSource): Record<string, () => unknown> {
  return {
    '/api/plugins': () => {
      const usedBy = new Map<string, string[]>();
      for (const mw of gw.runtime().middlewares.values()) usedBy.set(mw.plugin, [...(usedBy.get(mw.plugin) ?? []), mw.name]);
      return gw.host.plugins.map((p) => ({
        name: p.name,
        file: p.file,
        engine: p.engine,
        status: p.status,
        version: p.version,
        description: p.meta?.description,
        exports: p.exports.map((e) => e.name),
        middlewares: usedBy.get(p.name) ?? [],
        counters: p.counters,
        memoryBytes: p.memoryBytes,
        // measured when host.plugins was read for this response, never a cached figure (README, Memory (Lua))
        memoryMeasuredAt: new Date().toISOString(),
        ...(p.error ? { error: errorView(p.error) } : {}),
        ...(p.lastError ? { lastError: p.lastError } : {}),
        ...(p.lastReload ? { lastReload: { at: p.lastReload.at, ok: p.lastReload.ok, ...(p.lastReload.error ? { error: errorView(p.lastReload.error) } : {}) } } : {}),
      }));
    },
    '/api/routers': () =>
      gw.runtime().routers.map((r) => ({
        name: r.name,
        rule: r.spec.rule,
        priority: r.spec.priority,
        entryPoints: r.spec.entryPoints,
        middlewares: r.spec.middlewares,
        service: r.spec.service,
        status: r.chain.some((m) => m.broken && !m.failOpen) ? 'degraded' : 'enabled',
        counters: { requests: r.stats.requests, codes: counts(r.stats.codes) },
      })),
    '/api/middlewares': () =>
      [...gw.runtime().middlewares.values()].map((m) => ({
        name: m.name,
        plugin: m.plugin,
        failOpen: m.failOpen,
        status: m.broken ? 'broken' : 'enabled',
        ...(m.broken ? { error: m.broken } : {}),
        phases: [...(m.onRequest ? ['onRequest'] : []), ...(m.onResponse ? ['onResponse'] : [])],
        bodies: { requestMaxBytes: m.requestBodyMax, responseMaxBytes: m.responseBodyMax },
        config: m.config,
        counters: {
          calls: m.stats.calls,
          errors: counts(m.stats.errors),
          timeouts: m.stats.timeouts,
          responded: m.stats.responded,
          skipped: m.stats.skipped,
        },
      })),
    '/api/services': () =>
      [...gw.runtime().services.values()].map((s) => ({
        name: s.name,
        ...serviceView(gw.runtime().config.services.get(s.name)),
        counters: { requests: s.stats.requests, errors: counts(s.stats.errors) },
      })),
  };
}

/** The type of a service and what it forwards to, for /api/services. */
function serviceView(spec: ResolvedService | undefined): Record<string, unknown> {
  if (!spec) return {};
  if (spec.kind === 'echo') return { type: 'echo' };
  if (spec.kind === 'loadBalancer') return { type: 'loadBalancer', servers: spec.servers.map((u) => u.href) };
  if (spec.kind === 'weighted') return { type: 'weighted', services: spec.services };
  if (spec.kind === 'mirroring') return { type: 'mirroring', service: spec.service, mirrors: spec.mirrors };
  return { type: 'failover', service: spec.service, fallback: spec.fallback };
}

/** The admin API's HTTP server, not yet listening (serve/listeners.ts binds it: `startAdmin`). */
export function createAdminServer(gw: AdminSource): http.Server {
  const registry = createRegistry(gw.stats, () => gw.host.plugins);
  const views = adminViews(gw);
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      res.end(body);
    };
    const json = (status: number, v: unknown) => send(status, 'application/json; charset=utf-8', `${JSON.stringify(v, null, 2)}\n`);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(405, { error: 'method not allowed', allowed: ['GET'] });
      return;
    }
    try {
      if (path === '/metrics') {
        registry.metrics().then(
          (text) => send(200, registry.contentType, text),
          (e: unknown) => json(500, { error: `metrics failed: ${(e as Error)?.message ?? String(e)}` }),
        );
        return;
      }
      if (path === '/ping') {
        send(200, 'text/plain; charset=utf-8', 'OK\n');
        return;
      }
      const view = views[path];
      if (!view) {
        json(404, { error: 'not found', endpoints: ENDPOINTS });
        return;
      }
      json(200, view());
    } catch (e) {
      json(500, { error: (e as Error)?.message ?? String(e) });
    }
  });
  return server;
}

/** Traefik's paths of the API, answered with the gateway's views. */
const TRAEFIK_API_PATHS: Record<string, string> = { '/api/http/routers': '/api/routers', '/api/http/middlewares': '/api/middlewares', '/api/http/services': '/api/services' };

/** Which of Traefik's internal endpoints an entry point serves before routing (config/static.ts). */
export interface InternalEndpoints {
  ping?: { terminating: () => boolean; terminatingStatusCode: number };
  metrics?: TraefikMetrics;
  api?: boolean;
}

/**
 * Traefik's internal services on an entry point: `/ping` (200 `OK`, or terminatingStatusCode
 * while the gateway shuts down), `/metrics` (the Prometheus registry) and, with `api.insecure`,
 * `/api/*` (the admin views; Traefik's `/api/http/routers`... are the same views). Returns a
 * handler that answers and returns true, or returns false for a request the routers should get.
 */
export function internalHandler(gw: AdminSource, on: InternalEndpoints): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  const registry = on.metrics ? createRegistry(gw.stats, () => gw.host.plugins, on.metrics) : undefined;
  const views = on.api ? adminViews(gw) : undefined;
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (on.ping && path === '/ping') {
      const status = on.ping.terminating() ? on.ping.terminatingStatusCode : 200;
      send(status, 'text/plain; charset=utf-8', http.STATUS_CODES[status] ?? String(status));
      return true;
    }
    if (registry && path === '/metrics') {
      registry.metrics().then(
        (text) => send(200, registry.contentType, text),
        (e: unknown) => send(500, 'text/plain; charset=utf-8', `metrics failed: ${(e as Error)?.message ?? String(e)}`),
      );
      return true;
    }
    if (views && path.startsWith('/api/')) {
      const view = views[TRAEFIK_API_PATHS[path] ?? path];
      if (!view) send(404, 'text/plain; charset=utf-8', '404 page not found\n');
      else send(200, 'application/json; charset=utf-8', `${JSON.stringify(view())}\n`);
      return true;
    }
    return false;
  };
}
