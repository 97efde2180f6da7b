/**
 * The Lua idioms of the platform APIs, as plain host functions over copied values (the Lua
 * engine binds them like capabilities, so arguments and results follow the marshalling rules and
 * errors are sanitized the same way). Names follow lua-cjson and OpenResty:
 *   json.encode(v) / json.decode(s) / json.null      (cjson; null and {} as docs/marshalling.md)
 *   base64.encode(s) / base64.decode(s)              (ngx.encode_base64 / ngx.decode_base64)
 *   hex.encode(s) / hex.decode(s)                    (resty.string to_hex, and back)
 *   crypto.digest(alg, s) / crypto.hmac(alg, key, s) (raw bytes, like ngx.sha1_bin / ngx.hmac_sha1)
 *   crypto.random_bytes(n)                           (resty.random.bytes)
 *   crypto.verify(alg, key, data, sig) -> boolean    (alg a JOSE name: ES256, RS256, PS256, EdDSA, ...;
 *   crypto.sign(alg, private_key, data) -> sig        key PEM or JWK JSON text; ECDSA signatures r||s, as in a JWT)
 *   crypto.equals(a, b) -> boolean                   (constant-time comparison, for MACs)
 * Binary results are Lua strings of raw bytes. Every function checks its input against the
 * plugin's memory cap (PlatformInputTooLarge -> the plugin's memory error).
 */
import { PlatformInputTooLarge, digest, hmac, random } from './host.js';
import { joseSign, joseVerify } from './keys.js';
import { timingSafeEqual } from 'node:crypto';

type Fn = (...args: unknown[]) => unknown;

/** Bytes of a Lua string as the marshaller hands it over: a JS string (valid UTF-8) or a Uint8Array. */
function bytesOf(v: unknown, what: string, capBytes: number): Uint8Array {
  let b: Uint8Array;
  if (v instanceof Uint8Array) b = v;
  else if (typeof v === 'string') b = Buffer.from(v, 'utf8');
  else if (typeof v === 'number') b = Buffer.from(String(v), 'utf8');
  else throw new TypeError(`${what}: expected a string, got ${v === null ? 'null' : typeof v}`);
  if (b.length > capBytes) throw new PlatformInputTooLarge(b.length);
  return b;
}

const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.length);
/** A string result: text when it is, bytes otherwise (so it is a Lua string either way). */
const textOrBytes = (b: Buffer): string | Uint8Array => {
  const s = b.toString('utf8');
  return Buffer.byteLength(s) === b.length && !s.includes('\ufffd') ? s : u8(b);
};

/** JSON text of a copied Lua value; byte strings that are not UTF-8 and non-finite numbers are refused. */
function jsonEncode(v: unknown, capBytes: number): string {
  const text = JSON.stringify(v, (_k, x: unknown) => {
    if (x instanceof Uint8Array) throw new TypeError('json.encode: cannot encode a string that is not valid UTF-8');
    if (typeof x === 'number' && !Number.isFinite(x)) throw new TypeError(`json.encode: cannot encode ${x} (JSON has no such number)`);
    return x;
  });
  if (text === undefined) return 'null';
  if (text.length > capBytes) throw new PlatformInputTooLarge(text.length);
  return text;
}

/** forgiving-base64 decode (HTML spec, as atob): undefined when the input is not base64. */
function forgivingBase64(s: string): Buffer | undefined {
  let t = s.replace(/[\t\n\f\r ]/g, '');
  if (t.length % 4 === 0) t = t.replace(/==?$/, '');
  if (t.length % 4 === 1 || !/^[A-Za-z0-9+/]*$/.test(t)) return undefined;
  return Buffer.from(t, 'base64');
}

/** The Lua libraries (global tables) of the platform for a plugin with memory cap `capBytes`. */
export function luaPlatformLibs(capBytes: number): Record<string, Record<string, Fn>> {
  return {
    json: {
      encode: (v) => jsonEncode(v, capBytes),
      decode: (s) => {
        const text = typeof s === 'string' ? s : Buffer.from(bytesOf(s, 'json.decode', capBytes)).toString('utf8');
        if (text.length > capBytes) throw new PlatformInputTooLarge(text.length);
        try {
          return JSON.parse(text) as unknown;
        } catch (e) {
          throw new SyntaxError(`json.decode: ${(e as Error).message}`);
        }
      },
    },
    base64: {
      encode: (s) => Buffer.from(bytesOf(s, 'base64.encode', capBytes)).toString('base64'),
      // nil (not an error) on invalid input, as ngx.decode_base64 does; forgiving-base64 as atob
      decode: (s) => {
        const b = forgivingBase64(Buffer.from(bytesOf(s, 'base64.decode', capBytes)).toString('latin1'));
        return b === undefined ? undefined : textOrBytes(b);
      },
    },
    hex: {
      encode: (s) => Buffer.from(bytesOf(s, 'hex.encode', capBytes)).toString('hex'),
      decode: (s) => {
        const t = Buffer.from(bytesOf(s, 'hex.decode', capBytes)).toString('latin1');
        if (t.length % 2 === 1 || !/^[0-9a-fA-F]*$/.test(t)) return undefined;
        return textOrBytes(Buffer.from(t, 'hex'));
      },
    },
    crypto: {
      digest: (alg, s) => textOrBytes(Buffer.from(digest(String(alg), bytesOf(s, 'crypto.digest', capBytes), capBytes))),
      hmac: (alg, key, s) => textOrBytes(Buffer.from(hmac(String(alg), bytesOf(key, 'crypto.hmac', capBytes), bytesOf(s, 'crypto.hmac', capBytes), capBytes))),
      verify: (alg, key, data, sig) =>
        joseVerify(String(alg), Buffer.from(bytesOf(key, 'crypto.verify', capBytes)).toString('utf8'), bytesOf(data, 'crypto.verify', capBytes), bytesOf(sig, 'crypto.verify', capBytes), capBytes),
      sign: (alg, key, data) =>
        textOrBytes(Buffer.from(joseSign(String(alg), Buffer.from(bytesOf(key, 'crypto.sign', capBytes)).toString('utf8'), bytesOf(data, 'crypto.sign', capBytes), capBytes))),
      equals: (a, b) => {
        const x = bytesOf(a, 'crypto.equals', capBytes);
        const y = bytesOf(b, 'crypto.equals', capBytes);
        return x.length === y.length && timingSafeEqual(x, y);
      },
      random_bytes: (n) => {
        if (typeof n !== 'number') throw new TypeError('crypto.random_bytes: expected a number of bytes');
        return textOrBytes(Buffer.from(random(n, capBytes)));
      },
    },
  };
}
