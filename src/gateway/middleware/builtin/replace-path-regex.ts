/**
 * `replacePathRegex`: when the regex matches the path, every match is replaced (Go's `$1` and
 * `${name}` templates), and the old path is kept in X-Replaced-Path.
 * @example
 * replacePathRegex: { regex: '^/foo/(.*)', replacement: '/bar/$1' }   # /foo/x -> /bar/x
 */
import { leadingSlash } from './strip-prefix.js';
import { defineBuiltin, goRegExp, goReplacement, obj, str } from './types.js';

export default defineBuiltin<{ regex: string; replacement: string }>('replacePathRegex', obj({ regex: str, replacement: str }, ['regex', 'replacement']), (o, env) => {
  const re = goRegExp(o.regex, 'g');
  if (typeof re === 'string') {
    env.issue(['regex'], re);
    return undefined;
  }
  const replacement = goReplacement(o.replacement);
  return {
    onRequest(req) {
      re.lastIndex = 0;
      if (!re.test(req.path)) return undefined;
      re.lastIndex = 0;
      return { path: leadingSlash(req.path.replace(re, replacement)), setHeaders: { 'x-replaced-path': req.path } };
    },
  };
});
