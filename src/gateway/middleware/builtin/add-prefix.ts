/**
 * `addPrefix`: puts a prefix before the path.
 * @example
 * addPrefix: { prefix: /v1 }   # /users -> /v1/users
 */
import { leadingSlash } from './strip-prefix.js';
import { defineBuiltin, obj, str } from './types.js';

export default defineBuiltin<{ prefix: string }>('addPrefix', obj({ prefix: str }, ['prefix']), (o) => ({
  onRequest(req) {
    return { path: leadingSlash(o.prefix + req.path) };
  },
}));
