/**
 * `stripPrefix`: removes the first matching prefix from the path and tells the upstream in
 * X-Forwarded-Prefix.
 * @example
 * stripPrefix: { prefixes: ['/api'] }   # /api/users -> /users, X-Forwarded-Prefix: /api
 */
import { addHeader } from './util.js';
import { bool, defineBuiltin, obj, strList } from './types.js';

export default defineBuiltin<{ prefixes: string[]; forceSlash?: boolean }>('stripPrefix', obj({ prefixes: strList, forceSlash: bool }, ['prefixes']), (o) => {
  const prefixes = o.prefixes.filter((p) => p !== '');
  return {
    onRequest(req) {
      for (const p of prefixes) {
        if (req.path.startsWith(p)) {
          return { path: leadingSlash(req.path.slice(p.length)), setHeaders: { 'x-forwarded-prefix': addHeader(req.headers['x-forwarded-prefix'], p) } };
        }
      }
      return undefined;
    },
  };
});

export function leadingSlash(p: string): string {
  return p.startsWith('/') ? p : `/${p}`;
}
