/**
 * The request path as Traefik sees it before routing (its "Request Path" security page):
 * 1. encoded characters that mean something different once decoded (`%2F` `%5C` `%00` `%3B` `%25`
 *    `%3F` `%23`) are refused with 400, so no upstream decodes them into a path the router never saw;
 * 2. percent-escapes of unreserved characters (RFC 3986 2.3) are decoded and the others upper-cased;
 * 3. `.` and `..` segments are removed and repeated slashes merged.
 * The result is what routers match and what the upstream receives.
 */

const UNRESERVED = /[A-Za-z0-9\-._~]/;
const REFUSED = new Set(['2F', '5C', '00', '3B', '25', '3F', '23']);

/** What normalizePath found: the normalized path, or why the request is refused. */
export type NormalizedPath = { path: string; refused?: undefined } | { path?: undefined; refused: string };

/** RFC 3986 remove_dot_segments, with repeated slashes merged first. */
export function removeDotSegments(p: string): string {
  const out: string[] = [];
  const segs = p.split('/');
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i]!;
    if (s === '..') out.pop();
    else if (s === '' && i < segs.length - 1) continue; // `//`: merged
    else if (s !== '.') out.push(s);
  }
  const last = segs[segs.length - 1];
  if (last === '.' || last === '..') out.push('');
  return `/${out.join('/')}`;
}

/**
 * Normalize an origin-form path (no query). The common path (no `%`, no `/.`, no `//`) returns
 * the same string without allocating.
 * @example
 * normalizePath('/%61dmin//users/./x') // { path: '/admin/users/x' }
 * normalizePath('/a%2Fb')              // { refused: 'encoded character %2F in the path' }
 */
export function normalizePath(path: string): NormalizedPath {
  let p = path;
  if (p.includes('%')) {
    let out = '';
    let last = 0;
    for (let i = p.indexOf('%'); i >= 0; i = p.indexOf('%', i + 1)) {
      const hex = p.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return { refused: `malformed percent-escape "%${hex}" in the path` };
      const up = hex.toUpperCase();
      if (REFUSED.has(up)) return { refused: `encoded character %${up} in the path` };
      const ch = String.fromCharCode(parseInt(up, 16));
      out += p.slice(last, i) + (UNRESERVED.test(ch) ? ch : `%${up}`);
      last = i + 3;
    }
    p = out + p.slice(last);
  }
  if (p.includes('/.') || p.includes('//')) p = removeDotSegments(p);
  return { path: p };
}

/** Escapes Traefik keeps encoded in its routing path: they would change the meaning of the URL. */
const ROUTING_RESERVED = new Set(['3A', '2F', '3F', '23', '5B', '5D', '40', '21', '24', '26', '27', '28', '29', '2A', '2B', '2C', '3B', '3D', '25']);

/**
 * The path routers match, as Traefik's withRoutingPath makes it: every percent-escape decoded
 * except those of reserved characters, so ``PathPrefix(`/foo bar`)`` matches `/foo%20bar` and
 * `/caf%C3%A9` matches ``Path(`/café`)``. The upstream still receives the normalized path.
 * Takes a path that normalizePath accepted (every escape well-formed and upper-case).
 * @example
 * routingPath('/foo%20bar/a%3Ab') // '/foo bar/a%3Ab'
 */
export function routingPath(path: string): string {
  if (!path.includes('%')) return path;
  const bytes: number[] = [];
  const enc = Buffer.from(path, 'utf8');
  for (let i = 0; i < enc.length; i++) {
    const c = enc[i]!;
    if (c === 0x25 && i + 2 < enc.length) {
      const hex = String.fromCharCode(enc[i + 1]!, enc[i + 2]!).toUpperCase();
      if (!ROUTING_RESERVED.has(hex) && /^[0-9A-F]{2}$/.test(hex)) {
        bytes.push(parseInt(hex, 16));
        i += 2;
        continue;
      }
    }
    bytes.push(c);
  }
  return Buffer.from(bytes).toString('utf8');
}
