/**
 * `replacePath`: replaces the whole path, keeping the old one in X-Replaced-Path.
 * @example
 * replacePath: { path: /foo }   # /anything -> /foo
 */
import { defineBuiltin, obj, str } from './types.js';

export default defineBuiltin<{ path: string }>('replacePath', obj({ path: str }, ['path']), (o, env) => {
  if (!o.path.startsWith('/')) env.issue(['path'], 'must start with "/"');
  return {
    onRequest(req) {
      return { path: o.path, setHeaders: { 'x-replaced-path': req.path } };
    },
  };
});
