/**
 * Lua's `http.request(url, opts)`, named after lua-resty-http's `request_uri`:
 *   local res = http.request('https://auth.example.com/check', { method = 'POST', headers = { authorization = tok }, body = s, timeout = 2000 })
 *   -- res.status, res.reason, res.headers['content-type'], res.body
 * The call waits on I/O by yielding the export's coroutine (engines/lua/host-calls.ts), so the
 * plugin's code reads synchronously and the host thread never blocks; the call's deadline and the
 * memory cap hold while it is suspended. A refusal is raised as an error carrying its code
 * (ERR_FETCH_DENIED, ERR_FETCH_LIMIT, ERR_FETCH_FAILED): catch it with pcall. `timeout` is in ms.
 */
import { FetchDeniedError } from '../errors.js';
import { type OutboundPort, outboundCall } from './calls.js';

const textOrBytes = (b: Uint8Array): string | Uint8Array => {
  const s = Buffer.from(b.buffer, b.byteOffset, b.length).toString('utf8');
  return Buffer.byteLength(s) === b.length && !s.includes('\ufffd') ? s : b;
};

/** The `http` library of one Lua plugin. */
export function luaHttp(port: OutboundPort | undefined, plugin: () => string): Record<string, (...args: unknown[]) => unknown> {
  return {
    request(url: unknown, opts: unknown) {
      if (typeof url !== 'string') throw new TypeError('http.request: url must be a string');
      const o = opts !== null && typeof opts === 'object' ? (opts as Record<string, unknown>) : {};
      const headers: [string, string][] = [];
      if (o.headers !== null && typeof o.headers === 'object') for (const [k, v] of Object.entries(o.headers as Record<string, unknown>)) headers.push([k, String(v)]);
      const body = typeof o.body === 'string' || o.body instanceof Uint8Array ? o.body : null;
      const method = typeof o.method === 'string' ? o.method.toUpperCase() : body === null ? 'GET' : 'POST';
      const timeout = typeof o.timeout === 'number' ? o.timeout : null;
      const r = outboundCall(port, 'fetch', [url, method, headers, body, timeout, 'follow'], 0, (u) => new FetchDeniedError('not-granted', u, plugin(), 'the host gave this plugin no outbound access'));
      return (r as Promise<[number, string, [string, string][], Uint8Array, string, boolean]>).then(([status, reason, hs, b, finalUrl]) => {
        const h: Record<string, string> = {};
        for (const [k, v] of hs) h[k] = h[k] === undefined ? v : `${h[k]}, ${v}`;
        return { status, reason, headers: h, body: textOrBytes(b), url: finalUrl };
      });
    },
  };
}
