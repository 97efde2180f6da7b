/**
 * The engines' side of outbound HTTP: the operations a guest may ask for (QuickJS glue's `ocall`,
 * Lua's http.request), from the plain values that crossed the boundary to the plugin's Outbound
 * and back. Arguments are checked here again: the guest is not trusted to have built them.
 */
import type { Outbound, OutboundRequest } from './outbound.js';

/** What the host gives an engine: the plugin's client, or undefined when the host made none. */
export type OutboundPort = Pick<Outbound, 'fetch' | 'abort'>;

const pairs = (v: unknown): [string, string][] => (Array.isArray(v) ? v.filter(Array.isArray).map((p) => [String(p[0]), String(p[1])] as [string, string]) : []);

/** The request in the guest's array form: [url, method, headers, body, timeoutMs, redirect]. */
export function requestFrom(a: unknown): OutboundRequest {
  const r = Array.isArray(a) ? a : [];
  const body = r[3];
  const redirect = r[5] === 'manual' || r[5] === 'error' ? r[5] : 'follow';
  return {
    url: String(r[0]),
    method: typeof r[1] === 'string' ? r[1] : 'GET',
    headers: pairs(r[2]),
    body: body instanceof Uint8Array || typeof body === 'string' ? body : null,
    ...(typeof r[4] === 'number' && r[4] >= 0 ? { timeoutMs: r[4] } : {}),
    redirect,
  };
}

/**
 * Run outbound operation `op`: 'fetch' (a promise of [status, statusText, headers, body, url,
 * redirected]) or 'abort' (id). Without a port every fetch is refused as not granted.
 */
export function outboundCall(port: OutboundPort | undefined, op: string, a: unknown, id: unknown, refuse: (url: string) => Error): unknown {
  const key = typeof id === 'number' ? id : 0;
  if (op === 'abort') {
    port?.abort(key);
    return null;
  }
  if (op !== 'fetch') throw new TypeError(`unknown outbound operation ${op}`);
  const req = requestFrom(a);
  if (!port) return Promise.reject(refuse(req.url));
  return port.fetch(req, key).then((r) => [r.status, r.statusText, r.headers, r.body, r.url, r.redirected]);
}
