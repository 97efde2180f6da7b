/**
 * `compress`: compresses responses with the best encoding the client accepts among `encodings`
 * (Traefik's default order zstd, br, gzip; zstd only where Node's zlib has it, 22.15+), unless the
 * response is already encoded, smaller than `minResponseBodyBytes` (default 1024), or of an
 * excluded type (`excludedContentTypes`, or not in `includedContentTypes`; gRPC never).
 * Streams are compressed as they flow (node:zlib); Vary: Accept-Encoding is added.
 * @example
 * compress: { excludedContentTypes: ['text/event-stream'], minResponseBodyBytes: 2048 }
 */
import { pipeline, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { headerText } from './util.js';
import { peekBody } from './peek.js';
import { defineBuiltin, int, obj, str, strList, type NativeExchange } from './types.js';

interface CompressOptions {
  excludedContentTypes?: string[];
  includedContentTypes?: string[];
  minResponseBodyBytes?: number;
  defaultEncoding?: string;
  encodings?: string[];
}

type Enc = 'zstd' | 'br' | 'gzip';
const z = zlib as unknown as Record<string, unknown>;
const HAS_ZSTD = typeof z.createZstdCompress === 'function';

function encoder(e: Enc): Transform {
  if (e === 'gzip') return zlib.createGzip();
  if (e === 'br') return zlib.createBrotliCompress();
  return (z.createZstdCompress as () => Transform)();
}

function encodeSync(e: Enc, b: Buffer): Buffer {
  if (e === 'gzip') return zlib.gzipSync(b);
  if (e === 'br') return zlib.brotliCompressSync(b);
  return (z.zstdCompressSync as (b: Buffer) => Buffer)(b);
}

/** The media type of a Content-Type value, lower-cased, without parameters. */
function mediaType(ct: string): string {
  return ct.split(';')[0]!.trim().toLowerCase();
}

/** Pick an encoding from Accept-Encoding: the highest q among ours; ties in our order. */
export function negotiate(accept: string, ours: readonly Enc[]): Enc | undefined {
  const q = new Map<string, number>();
  for (const part of accept.split(',')) {
    const [name, ...params] = part.trim().split(';');
    if (!name) continue;
    let weight = 1;
    for (const p of params) {
      const m = /^\s*q=([0-9.]+)\s*$/.exec(p);
      if (m) weight = Number(m[1]);
    }
    q.set(name.trim().toLowerCase(), weight);
  }
  let best: Enc | undefined;
  let bestQ = 0;
  for (const e of ours) {
    const w = q.get(e) ?? q.get('*') ?? 0;
    if (w > bestQ) {
      best = e;
      bestQ = w;
    }
  }
  return best;
}

export default defineBuiltin<CompressOptions>(
  'compress',
  obj({ excludedContentTypes: strList, includedContentTypes: strList, minResponseBodyBytes: int(0), defaultEncoding: str, encodings: strList }),
  (o, env) => {
    if (o.excludedContentTypes?.length && o.includedContentTypes?.length) env.issue([], 'set only one of excludedContentTypes and includedContentTypes');
    const wanted = (o.encodings ?? ['zstd', 'br', 'gzip']).map((e) => e.toLowerCase());
    wanted.forEach((e, i) => {
      if (e !== 'zstd' && e !== 'br' && e !== 'gzip') env.issue(['encodings', i], `unknown encoding "${e}"; expected zstd, br or gzip`);
      else if (e === 'zstd' && !HAS_ZSTD && o.encodings) env.issue(['encodings', i], `zstd needs Node 22.15 or later (this is ${process.version}); remove it or upgrade Node`);
    });
    const encodings = wanted.filter((e): e is Enc => e === 'gzip' || e === 'br' || (e === 'zstd' && HAS_ZSTD));
    const excluded = (o.excludedContentTypes ?? []).map(mediaType);
    const included = (o.includedContentTypes ?? []).map(mediaType);
    const min = o.minResponseBodyBytes ?? 1024;
    return {
      onResponse(res, ctx) {
        const ex = ctx.exchange;
        if (ex.req.method === 'HEAD' || res.status === 204 || res.status === 304 || res.status < 200) return undefined;
        if (res.headers['content-encoding'] !== undefined) return undefined;
        const type = mediaType(headerText(res.headers['content-type']));
        if (type.startsWith('application/grpc')) return undefined;
        if (included.length ? !included.includes(type) : excluded.includes(type)) return undefined;
        const accept = headerText(ex.req.headers['accept-encoding']);
        const enc = accept ? negotiate(accept, encodings) : (o.defaultEncoding as Enc | undefined);
        if (!enc || !encodings.includes(enc)) return undefined;
        const cl = res.headers['content-length'];
        if (cl !== undefined && Number(cl) < min) return undefined;
        if (ex.resBody === undefined && ex.resStream && cl === undefined) {
          // Unknown length: read up to the minimum first, as Traefik, to decide.
          return peekBody(ex, ex.resStream, min).then(() => {
            apply(ex, enc);
            return undefined;
          });
        }
        apply(ex, enc);
        return undefined;
      },
    };

    function apply(ex: NativeExchange, enc: Enc): void {
      if (ex.resBody !== undefined && ex.resBody.length < min) return;
      const headers = Object.assign({}, ex.resHeaders);
      headers['content-encoding'] = enc;
      const vary = headerText(headers.vary as string | string[] | undefined);
      if (!/(^|,)\s*accept-encoding\s*(,|$)/i.test(vary)) headers.vary = vary ? `${vary}, Accept-Encoding` : 'Accept-Encoding';
      delete headers['content-length'];
      if (ex.resBody !== undefined) {
        ex.resBody = encodeSync(enc, ex.resBody);
      } else if (ex.resStream) {
        const source = ex.resStream;
        const out = encoder(enc);
        for (const c of ex.resPrefix ?? []) out.write(c);
        ex.resPrefix = undefined;
        // pipeline: when the client goes away (out destroyed), the upstream body is destroyed too.
        pipeline(source, out, () => undefined);
        ex.resStream = out;
      } else return;
      ex.resHeaders = headers;
    }
  },
);
