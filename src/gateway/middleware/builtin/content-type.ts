/**
 * `contentType`: sets Content-Type from the first bytes of the body (Go's http.DetectContentType
 * signatures) when the upstream sent none. Without it no Content-Type is invented (Traefik v3).
 * @example
 * contentType: {}
 */
import { peekBody } from './peek.js';
import { bool, defineBuiltin, obj } from './types.js';

const HTML_TAGS = ['<!DOCTYPE HTML', '<HTML', '<HEAD', '<SCRIPT', '<IFRAME', '<H1', '<DIV', '<FONT', '<TABLE', '<A', '<STYLE', '<TITLE', '<B', '<BODY', '<BR', '<P', '<!--'];

/** The content type of data, after Go's net/http sniffing algorithm (the common signatures). */
export function sniff(b: Buffer): string {
  const head = b.subarray(0, 512);
  const starts = (sig: number[] | string) => {
    const bytes = typeof sig === 'string' ? Buffer.from(sig, 'latin1') : Buffer.from(sig);
    return head.length >= bytes.length && head.subarray(0, bytes.length).equals(bytes);
  };
  let i = 0;
  while (i < head.length && [0x09, 0x0a, 0x0c, 0x0d, 0x20].includes(head[i]!)) i++;
  const text = head.subarray(i).toString('latin1').toUpperCase();
  for (const tag of HTML_TAGS) {
    if (text.startsWith(tag)) {
      const next = text.charCodeAt(tag.length);
      if (tag === '<!--' || next === 0x20 || next === 0x3e) return 'text/html; charset=utf-8';
    }
  }
  if (text.startsWith('<?XML')) return 'text/xml; charset=utf-8';
  if (starts('%PDF-')) return 'application/pdf';
  if (starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (starts('GIF87a') || starts('GIF89a')) return 'image/gif';
  if (starts([0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (starts('RIFF') && head.subarray(8, 14).toString('latin1') === 'WEBPVP') return 'image/webp';
  if (starts([0x1f, 0x8b, 0x08])) return 'application/x-gzip';
  if (starts('PK\x03\x04')) return 'application/zip';
  if (starts([0x00, 0x61, 0x73, 0x6d])) return 'application/wasm';
  if (starts('OggS\x00')) return 'application/ogg';
  if (starts([0xfe, 0xff]) || starts([0xff, 0xfe])) return 'text/plain; charset=utf-16';
  if (starts([0xef, 0xbb, 0xbf])) return 'text/plain; charset=utf-8';
  for (const c of head) if (c <= 0x08 || c === 0x0b || (c >= 0x0e && c <= 0x1a) || (c >= 0x1c && c <= 0x1f)) return 'application/octet-stream';
  return 'text/plain; charset=utf-8';
}

export default defineBuiltin<{ autoDetect?: boolean }>('contentType', obj({ autoDetect: bool }), (o) => {
  if (o.autoDetect === false) return {};
  return {
    onResponse(res, ctx) {
      if (res.headers['content-type'] !== undefined || res.status === 204 || res.status === 304) return undefined;
      const ex = ctx.exchange;
      if (ex.resBody !== undefined) return ex.resBody.length ? { setHeaders: { 'content-type': sniff(ex.resBody) } } : undefined;
      if (!ex.resStream) return undefined;
      return peekBody(ex, ex.resStream, 1).then((b) => (b.length ? { setHeaders: { 'content-type': sniff(b) } } : undefined));
    },
  };
});
