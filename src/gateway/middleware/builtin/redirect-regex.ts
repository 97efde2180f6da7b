/**
 * `redirectRegex`: when the regex matches the full request URL (scheme://host/path?query), redirect
 * to the replacement (Go's `$1` / `${name}` templates).
 * @example
 * redirectRegex: { regex: '^http://localhost/(.*)', replacement: 'http://mydomain/${1}' }
 */
import { redirect } from './redirect.js';
import { bool, defineBuiltin, goRegExp, goReplacement, isTls, obj, str } from './types.js';

export default defineBuiltin<{ regex: string; replacement: string; permanent?: boolean }>(
  'redirectRegex',
  obj({ regex: str, replacement: str, permanent: bool }, ['regex', 'replacement']),
  (o, env) => {
    const re = goRegExp(o.regex);
    if (typeof re === 'string') {
      env.issue(['regex'], re);
      return undefined;
    }
    const replacement = goReplacement(o.replacement);
    const all = new RegExp(re.source, `${re.flags}g`);
    return {
      onRequest(req, ctx) {
        const url = `${isTls(ctx) ? 'https' : 'http'}://${String(req.headers.host ?? '')}${ctx.exchange.url()}`;
        if (!re.test(url)) return undefined;
        // Go's ReplaceAllString, as Traefik: every match replaced, the rest of the URL kept.
        const location = url.replace(all, replacement);
        return redirect(location, o.permanent ?? false, req.method);
      },
    };
  },
);
