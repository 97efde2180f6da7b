/**
 * Repeated request headers as Envoy's header map keeps them. Node's HTTP parser joins the lines of
 * a repeated header into one `a, b` value (and keeps only the first of some, such as user-agent),
 * so `getAtIndex` and `getNumValues` would see one value. For a plugin that declares
 * `meta.gateway.repeatedHeaders`, each repeated header the client sent comes from node's
 * `headersDistinct` (every line, in order) instead.
 */
import type { IncomingMessage } from 'node:http';

type Headers = Record<string, string | string[]>;

/**
 * `headers` (what the plugin would get) with each header the client repeated as its list of
 * values. A header an earlier middleware changed or removed stays as that middleware left it.
 * Without repeated lines this is `headers` itself: no copy on the common path.
 */
export function repeatedHeaders(headers: Headers, req: IncomingMessage): Headers {
  const raw = req.rawHeaders;
  const sent = req.headers;
  let names = 0;
  for (const _ in sent) names++;
  // One raw line per name: nothing was repeated (the common case, decided without headersDistinct).
  if (raw.length === names * 2) return headers;
  const distinct = req.headersDistinct;
  let out: Headers | undefined;
  for (const k in distinct) {
    const values = distinct[k]!;
    if (values.length < 2) continue;
    const now = headers[k];
    if (now === undefined || now !== sent[k]) continue;
    out ??= Object.assign({}, headers);
    out[k] = values;
  }
  return out ?? headers;
}
