/**
 * `redirectScheme`: redirects to another scheme (and port) unless the request already uses it.
 * @example
 * redirectScheme: { scheme: https, permanent: true }   # http://a.example/x -> 301 https://a.example/x
 */
import { redirect } from './redirect.js';
import { bool, defineBuiltin, isTls, obj, str } from './types.js';

const DEFAULT_PORT: Record<string, string> = { http: '80', https: '443' };

export default defineBuiltin<{ scheme?: string; port?: string; permanent?: boolean }>(
  'redirectScheme',
  obj({ scheme: str, port: { type: ['string', 'integer'] }, permanent: bool }),
  (o) => {
    const scheme = o.scheme || 'https';
    const port = o.port === undefined ? '' : String(o.port);
    return {
      onRequest(req, ctx) {
        const hostHeader = String(req.headers.host ?? '');
        const m = /^(\[[^\]]*\]|[^:]*)(?::([0-9]*))?$/.exec(hostHeader);
        const host = m?.[1] ?? hostHeader;
        const current = isTls(ctx) ? 'https' : 'http';
        const currentPort = m?.[2] || DEFAULT_PORT[current] || '';
        if (current === scheme && (port === '' || port === currentPort)) return undefined;
        const p = port === '' || port === DEFAULT_PORT[scheme] ? '' : `:${port}`;
        return redirect(`${scheme}://${host}${p}${ctx.exchange.url()}`, o.permanent ?? false, req.method);
      },
    };
  },
);
