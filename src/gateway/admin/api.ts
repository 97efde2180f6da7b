/**
 * The admin server, on its own address (keep it off the public interface): JSON views of the
 * plugins, routers, middlewares and services with their status and counters, and `/metrics` in
 * the Prometheus text format.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Logger } from '../../types.js';
import { type AdminAuth, CSRF_HEADER, hasCsrf, sameOrigin } from './auth.js';
import { EventHub } from './events.js';
import { localBackend, type AdminBackend } from './backend.js';
import { dashboardFile } from './static.js';
import { createRegistry, type TraefikMetrics } from './metrics.js';
import { adminViews, type AdminSource } from './views.js';

export { adminViews, type AdminSource } from './views.js';

/** What the admin server answers besides the backend's views. */
const ENDPOINTS = ['/api/events', '/api/session', '/metrics', '/ping', '/dashboard/'];

export interface AdminServerOptions {
  /** Who may use it (auth.ts); without it, everyone who reaches the address (loopback). */
  auth?: AdminAuth;
  logger?: Logger;
  /** Time between SSE snapshots (default 500 ms). */
  eventsIntervalMs?: number;
}

/** The admin server (API, /metrics, /dashboard/, SSE) of one gateway, not yet listening (serve/listeners.ts binds it: `startAdmin`). */
export function createAdminServer(gw: AdminSource, options: AdminServerOptions = {}): http.Server & { readonly events: EventHub } {
  return createAdminHttp(localBackend(gw), options);
}

/**
 * The admin server over any backend (one gateway, or a cluster primary's workers): the page and
 * its assets to anyone, everything else same-origin and behind `auth`, actions (POST) with the
 * CSRF token as well.
 */
export function createAdminHttp(backend: AdminBackend, options: AdminServerOptions = {}): http.Server & { readonly events: EventHub } {
  const auth = options.auth;
  const hub = new EventHub(() => backend.snapshot(), { intervalMs: options.eventsIntervalMs });
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const send = (status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}) => {
      if (res.headersSent || res.destroyed) return;
      res.writeHead(status, {
        'content-type': type,
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        ...headers,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const json = (status: number, v: unknown, headers?: Record<string, string>) => send(status, 'application/json; charset=utf-8', `${JSON.stringify(v, null, 2)}\n`, headers);
    const fail = (e: unknown) => json(500, { error: (e as Error)?.message ?? String(e) });
    const isAction = req.method === 'POST';
    if (req.method !== 'GET' && req.method !== 'HEAD' && !isAction) {
      json(405, { error: 'method not allowed', allowed: ['GET', 'POST'] });
      return;
    }
    // The page and its assets hold no data (the page asks for the token): served to anyone who reaches the address.
    if (!isAction && (path === '/dashboard' || path === '/')) {
      send(302, 'text/plain; charset=utf-8', 'Found\n', { location: '/dashboard/' });
      return;
    }
    const asset = isAction ? undefined : dashboardFile(path);
    if (asset) {
      send(200, asset.type, asset.body, { 'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'" });
      return;
    }
    // Whether to ask for a token (says nothing else): the page signs in before its first authenticated request.
    if (path === '/api/auth' && !isAction) {
      json(200, { required: auth?.required ?? false });
      return;
    }
    if (path === '/favicon.ico' && !isAction) {
      res.writeHead(204, { 'cache-control': 'max-age=86400' }).end();
      return;
    }
    if (path === '/ping' && !isAction) {
      send(200, 'text/plain; charset=utf-8', 'OK\n');
      return;
    }
    // Never an Access-Control-Allow-Origin: another origin's page is refused outright and reads nothing.
    if (!sameOrigin(req)) {
      json(403, { error: 'cross-origin request refused' });
      return;
    }
    void (auth ? auth.allows(req) : Promise.resolve(true)).then(
      (ok) => {
        if (!ok) {
          // The dashboard's fetch asks for no challenge, so the browser shows its own form, not a native prompt.
          json(401, { error: 'unauthorized' }, auth && req.headers['x-terrarium-dashboard'] === undefined ? { 'www-authenticate': auth.challenge } : {});
          return;
        }
        route(path);
      },
      fail,
    );

    function route(p: string): void {
      try {
        if (isAction) {
          if (!hasCsrf(req, csrfSource)) {
            json(403, { error: `missing or wrong ${CSRF_HEADER} header (GET /api/session gives it)` });
            return;
          }
          const done = backend.act(p);
          if (!done) json(404, { error: 'no such action', actions: backend.actions() });
          else done.then((r) => json(r.status, r.body), fail);
          return;
        }
        if (p === '/api/session') {
          json(200, { csrf: csrfSource.csrf, header: CSRF_HEADER, actions: backend.actions() });
          return;
        }
        if (p === '/api/events') {
          hub.add(req, res);
          return;
        }
        if (p === '/metrics') {
          backend.metrics().then(
            (m) => send(200, m.contentType, m.text),
            (e: unknown) => json(500, { error: `metrics failed: ${(e as Error)?.message ?? String(e)}` }),
          );
          return;
        }
        const view = backend.view(p);
        if (!view) {
          json(404, { error: 'not found', endpoints: [...backend.viewPaths, ...ENDPOINTS] });
          return;
        }
        view.then((v) => json(200, v), fail);
      } catch (e) {
        fail(e);
      }
    }
  });
  // Without auth (loopback) actions still need a CSRF token: a page of another site could otherwise POST here.
  const csrfSource = auth ?? { csrf: randomBytes(24).toString('base64url') };
  server.on('close', () => {
    hub.close();
    backend.close();
  });
  return Object.assign(server, { events: hub });
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
