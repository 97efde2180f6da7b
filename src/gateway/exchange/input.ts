/**
 * What a plugin call gets of an exchange: the request as plugins see it (body, headers, query),
 * the request headers ours to change, the versions pinned for the request and the `ctx` of a call.
 */
import type { IncomingHttpHeaders } from 'node:http';
import querystring from 'node:querystring';
import type { PluginPin } from '../../host/pin.js';
import type { MiddlewareContext, MiddlewareRequest } from '../middleware/contract.js';
import type { ActiveMiddleware } from '../middleware/plugin.js';
import { clientAddress } from '../routing/ipnet.js';
import { repeatedHeaders } from '../middleware/envoy/index.js';
import { guard, hasBody, local, send } from './answer.js';
import type { Exchange } from './state.js';

const EMPTY = Buffer.alloc(0);

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
    guard(x, then);
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
  // meta.gateway.repeatedHeaders (Envoy filters): a repeated request header as its list of values, not node's joined string.
  if (mw.repeatedHeaders) {
    const h = repeatedHeaders(r.headers, x.req);
    if (h !== r.headers) r = { ...r, headers: h };
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
