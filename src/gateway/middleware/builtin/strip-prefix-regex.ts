/**
 * `stripPrefixRegex`: removes the part of the path matched (from its start) by the first regex
 * that matches, and tells the upstream in X-Forwarded-Prefix.
 * @example
 * stripPrefixRegex: { regex: ['/foo/[a-z0-9]+/[0-9]+/'] }   # /foo/abc/12/bar -> /bar
 */
import { leadingSlash } from './strip-prefix.js';
import { addHeader } from './util.js';
import { defineBuiltin, goRegExp, obj, strList } from './types.js';

export default defineBuiltin<{ regex: string[] }>('stripPrefixRegex', obj({ regex: strList }, ['regex']), (o, env) => {
  const res: RegExp[] = [];
  o.regex.forEach((r, i) => {
    const re = goRegExp(r);
    if (typeof re === 'string') env.issue(['regex', i], re);
    else res.push(re);
  });
  return {
    onRequest(req) {
      for (const re of res) {
        const m = re.exec(req.path);
        if (m && m[0].length > 0 && m.index === 0) {
          return { path: leadingSlash(req.path.slice(m[0].length)), setHeaders: { 'x-forwarded-prefix': addHeader(req.headers['x-forwarded-prefix'], m[0]) } };
        }
      }
      return undefined;
    },
  };
});
