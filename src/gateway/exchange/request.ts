/**
 * An exchange's request phase: the body when a middleware reads it, then `onRequest` from the first
 * middleware to the last (sync plugin calls stay on one stack, async ones continue in a callback),
 * then the upstream (upstream.ts). A middleware that answers or fails stops it, and the response
 * phase (response.ts) runs the ones before it. Also what plugins see of the request, the versions
 * pinned for it and the `ctx` of a call.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import querystring from 'node:querystring';
import { MiddlewareResultError } from '../../errors.js';
import type { PluginPin } from '../../host/pin.js';
import type { MiddlewareContext, MiddlewareRequest } from '../middleware/contract.js';
import { applyHeaderChanges, bodyBytes, headerObject, pathOf, queryOf, requestDecision, stateOf, statusOf, type ActiveMiddleware } from '../middleware/plugin.js';
import { clientAddress } from '../routing/ipnet.js';
import { failed, JSON_TYPE, local, send } from './answer.js';
import type { Exchange } from './exchange.js';
import { responsePhase, settle } from './response.js';
import { forward } from './upstream.js';

const EMPTY = Buffer.alloc(0);

export function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  if (cl !== undefined) return cl !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/** Run the request: its body first when a middleware reads it (the smallest limit among them applies). */
export function startRequest(x: Exchange): void {
  const limit = x.router.requestBodyMax;
  if (limit > 0) readBody(x, limit, () => requestPhase(x, 0));
  else requestPhase(x, 0);
}

/** Run onRequest from chain index i; sync plugins stay on this stack, async ones continue in a callback. */
export function requestPhase(x: Exchange, i: number): void {
  const chain = x.router.chain;
  for (; i < chain.length; i++) {
    if (x.aborted) return;
    const mw = chain[i]!;
    if (mw.broken) {
      if (failed(x, i, 'request', undefined)) return;
      continue;
    }
    const fn = mw.onRequest;
    if (!fn) continue;
    const stats = mw.stats;
    stats.calls.request++;
    const t0 = performance.now();
    let r: unknown;
    try {
      if (mw.native) r = fn(pluginRequest(x, mw), ctx(x, mw, {})); // a built-in: no plugin version to pin
      else if (!mw.onResponse) {
        // One call per request: nothing to keep on one version (the call holds its version while
        // it runs, async part included), so no pin is taken; the serving version answers, through
        // the catalog's proxy.
        r = fn(pluginRequest(x, mw), ctx(x, mw, undefined));
      } else {
        const p = pin(x, i, mw);
        r = p.has('onRequest') ? p.call('onRequest', [pluginRequest(x, mw), ctx(x, mw, undefined)]) : undefined;
      }
    } catch (e) {
      stats.duration.request.observe((performance.now() - t0) / 1000);
      if (failed(x, i, 'request', e)) return;
      continue;
    }
    if (r instanceof Promise) {
      const at = i;
      settle(x, r, stats.duration.request, t0, (ok, v) => {
        if (ok ? afterRequest(x, at, v) : !failed(x, at, 'request', v)) requestPhase(x, at + 1);
      });
      return;
    }
    stats.duration.request.observe((performance.now() - t0) / 1000);
    if (!afterRequest(x, i, r)) return;
  }
  forward(x);
}

/** Apply an onRequest result. False when the request is answered (respond, or fail-closed). */
export function afterRequest(x: Exchange, i: number, r: unknown): boolean {
  if (x.aborted) return false;
  try {
    const d = requestDecision(r);
    if (!d) return true;
    if (d.respond !== undefined) {
      const resp = d.respond as unknown;
      if (resp === null || typeof resp !== 'object' || Array.isArray(resp)) throw new MiddlewareResultError('respond must be an object: { status, headers, body }');
      const { status, headers, body } = resp as { status?: unknown; headers?: unknown; body?: unknown };
      const hs = headerObject(headers, 'respond.headers');
      const b = bodyBytes(body, 'respond.body');
      if (b.json && hs['content-type'] === undefined) hs['content-type'] = JSON_TYPE;
      x.status = statusOf(status, 'respond.status', 200);
      x.resHeaders = hs;
      x.resBody = b.bytes;
      x.stop = i;
      x.router.chain[i]!.stats.responded++;
      responsePhase(x, i - 1);
      return false;
    }
    const mw = x.router.chain[i]!;
    if (d.setHeaders !== undefined || d.removeHeaders !== undefined) applyHeaderChanges(ownHeaders(x), d.setHeaders, d.removeHeaders, 'onRequest');
    if (d.path !== undefined) {
      x.path = pathOf(d.path);
      x.urlChanged = true;
      if (x.pluginReq) x.pluginReq.path = x.path;
    }
    if (d.query !== undefined) {
      x.query = queryOf(d.query);
      x.rawQuery = querystring.stringify(x.query);
      x.urlChanged = true;
      if (x.pluginReq) x.pluginReq.query = x.query;
    }
    if (d.body !== undefined) {
      if (mw.requestBodyMax === 0) throw new MiddlewareResultError('body: only plugins that declare meta.gateway.requestBody may replace the request body');
      x.body = bodyBytes(d.body, 'body').bytes;
    }
    if (d.state !== undefined) (x.states ??= [])[i] = stateOf(d.state);
    return true;
  } catch (e) {
    return !failed(x, i, 'request', e);
  }
}

/**
 * The request headers, ours to change: `req.headers` is copied the first time (once per
 * request, whatever the number of middlewares that change them).
 */
export function ownHeaders(x: Exchange): IncomingHttpHeaders {
  if (x.headers === x.req.headers) {
    x.headers = Object.assign({}, x.headers);
    if (x.pluginReq) x.pluginReq.headers = x.headers as Record<string, string | string[]>;
  }
  return x.headers;
}

/** Buffer the request body (up to `limit` bytes, else 413), then continue. */
export function readBody(x: Exchange, limit: number, then: () => void): void {
  const req = x.req;
  if (!hasBody(req)) {
    x.body = EMPTY;
    then();
    return;
  }
  const cl = Number(req.headers['content-length']);
  if (cl > limit) {
    tooLarge(x, limit);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on('data', (c: Buffer) => {
    if (over || x.aborted) return;
    size += c.length;
    if (size > limit) {
      over = true;
      tooLarge(x, limit);
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    if (over || x.aborted) return;
    x.body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
    x.guard(then);
  });
}

function tooLarge(x: Exchange, limit: number): void {
  // The rest of the body is not read: the connection cannot be reused.
  x.res.shouldKeepAlive = false;
  local(x, 413, { error: 'request body too large', limit });
  send(x);
}

/**
 * What middleware `mw` sees of the request. One object per request, shared by the chain's
 * calls (each call copies it into its sandbox, so sharing it is invisible to plugins) and kept
 * up to date by afterRequest; a plugin that declared its headers gets a view with those only.
 */
export function pluginRequest(x: Exchange, mw: ActiveMiddleware): MiddlewareRequest {
  let r = x.pluginReq;
  if (!r) {
    const socket = x.req.socket;
    r = x.pluginReq = {
      method: x.req.method ?? 'GET',
      path: x.path,
      query: queryObject(x),
      headers: x.headers as Record<string, string | string[]>,
      // `local` (the address:port the client connected to) is Envoy's downstreamLocalAddress (middleware/envoy).
      client: { address: clientAddress(socket.remoteAddress), port: socket.remotePort ?? 0, local: hostPort(clientAddress(socket.localAddress), socket.localPort ?? 0) },
    };
  }
  const only = mw.requestHeaders;
  if (only) {
    const headers: Record<string, string | string[]> = {};
    for (const h of only) {
      const v = x.headers[h];
      if (v !== undefined) headers[h] = v;
    }
    r = { method: r.method, path: r.path, query: r.query, headers, client: r.client };
  }
  if (mw.requestBodyMax > 0 && x.body !== undefined) return { ...r, body: x.body.toString('utf8') };
  return r;
}

export function queryObject(x: Exchange): Record<string, string | string[]> {
  if (!x.query) x.query = x.rawQuery ? (querystring.parse(x.rawQuery) as Record<string, string | string[]>) : {};
  return x.query;
}

/**
 * The pin of middleware i's plugin for this request, taken at its first call: only middlewares
 * with both phases take one (their onRequest and onResponse run on one version, with its state).
 */
export function pin(x: Exchange, i: number, mw: ActiveMiddleware): PluginPin {
  const pins = (x.pins ??= []);
  return (pins[i] ??= x.env.host.pin(mw.plugin));
}

/**
 * The `ctx` of a call. A plugin's request-phase ctx (state undefined: `{}`) is the same for every
 * request of a router, so it is made once per middleware and router (the call copies it into the
 * sandbox: sharing it is invisible to the plugin) instead of once per call.
 */
export function ctx(x: Exchange, mw: ActiveMiddleware, state: Record<string, unknown> | undefined): MiddlewareContext {
  if (mw.native) return { config: mw.config, state: state ?? {}, router: x.router.name, middleware: mw.name, exchange: x } as MiddlewareContext;
  if (state !== undefined) return { config: mw.config, state, router: x.router.name, middleware: mw.name };
  const cached = mw.requestCtx;
  if (cached !== undefined && cached.router === x.router.name && cached.config === mw.config) return cached;
  return (mw.requestCtx = { config: mw.config, state: {}, router: x.router.name, middleware: mw.name });
}

/** `address:port`, an IPv6 address in brackets (Envoy's form of an address). */
function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
