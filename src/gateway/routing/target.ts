/**
 * The request target and Host header, checked as RFC 9112 section 3.2 requires before routing:
 * exactly one valid Host (else 400), the authority of an absolute-form target (`GET
 * http://a.example/x`) in place of the Host header, no Host needed from HTTP/1.0 clients, and the
 * asterisk-form `*` for OPTIONS only (RFC 9112 3.2.4: a question to the server itself).
 */

/** RFC 3986 host (reg-name, IPv4, or an IP literal in brackets) with an optional port. */
const VALID_HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?$/;

/** A checked target: the authority requests are routed by, the path and the raw query. */
export type Target =
  | { host: string | undefined; path: string; rawQuery: string; absolute: boolean; asterisk?: undefined; error?: undefined }
  | { host: string | undefined; asterisk: true; error?: undefined }
  | { error: string };

/**
 * Check `req.url` and the Host header(s).
 * @example
 * parseTarget('http://a.example/x?y', ['Host', 'b.example'], '1.1') // { host: 'a.example', path: '/x', rawQuery: 'y', absolute: true }
 */
export function parseTarget(url: string, rawHeaders: string[], httpVersion: string, method = 'GET'): Target {
  let host: string | undefined;
  let hosts = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const k = rawHeaders[i]!;
    if (k.length === 4 && k.toLowerCase() === 'host') {
      hosts++;
      host = rawHeaders[i + 1];
    }
  }
  if (hosts > 1) return { error: 'more than one Host header' };
  if (host !== undefined && !VALID_HOST.test(host)) return { error: 'invalid Host header' };
  if (hosts === 0 && httpVersion !== '1.0') return { error: 'missing Host header' };
  if (url === '*') return method === 'OPTIONS' ? { host, asterisk: true } : { error: 'the request target "*" is only valid for OPTIONS' };
  let rest = url;
  let absolute = false;
  if (url.charCodeAt(0) !== 47 /* / */) {
    const m = /^https?:\/\/([^/?#]*)/i.exec(url);
    if (!m) return { error: 'bad request target' };
    const authority = m[1]!;
    if (authority.includes('@') || !VALID_HOST.test(authority) || authority === '') return { error: 'bad request target' };
    host = authority;
    absolute = true;
    rest = url.slice(m[0].length) || '/';
    if (rest.charCodeAt(0) === 63 /* ? */) rest = `/${rest}`;
  }
  const q = rest.indexOf('?');
  return { host, path: q < 0 ? rest : rest.slice(0, q), rawQuery: q < 0 ? '' : rest.slice(q + 1), absolute };
}
