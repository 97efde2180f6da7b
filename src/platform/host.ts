/**
 * The host half of the platform APIs: one function per operation the guest glue (or the Lua
 * libraries) may ask for, on node:crypto and Node's WHATWG URL. Every operation first checks the
 * size of its input against the plugin's memory cap: the host never does (or allocates for) more
 * work on a plugin's behalf than the plugin could hold itself. The caller (the engine's host-call
 * path) runs it under the call's deadline, checked before and after.
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { exportAsymmetric, importAsymmetric, octJwk, signAsymmetric, verifyAsymmetric, type JwkUse, type SignParams } from './keys.js';

export { PlatformError, PlatformInputTooLarge, nodeHash } from './host-errors.js';
import { PlatformError, PlatformInputTooLarge, nodeHash } from './host-errors.js';

function bytes(v: unknown, what: string): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  throw new PlatformError('TypeError', `${what}: expected bytes`);
}

function checkSize(capBytes: number, ...inputs: (Uint8Array | string)[]): void {
  let n = 0;
  for (const i of inputs) n += i.length;
  if (n > capBytes) throw new PlatformInputTooLarge(n);
}

/** importKey's packed [hash, usages] for the JWK checks. */
function jwkUse(v: unknown): JwkUse {
  const [hash, usages] = Array.isArray(v) ? v : [];
  return { hash: String(hash ?? ''), usages: Array.isArray(usages) ? usages.map(String) : [] };
}

/** sign/verify's packed [alg, hash, saltLength] (the guest's platform call takes four arguments). */
function signParams(v: unknown): SignParams {
  const [alg, hash, saltLength] = Array.isArray(v) ? v : [];
  return { alg: String(alg), hash: String(hash), saltLength: Number(saltLength) };
}

const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.length);

/** HMAC of `data` under `key` with Web Crypto hash name `hash`. */
export function hmac(hash: string, key: Uint8Array, data: Uint8Array, capBytes: number): Uint8Array {
  checkSize(capBytes, key, data);
  return u8(createHmac(nodeHash(hash), key).update(data).digest());
}

/** Digest of `data` with Web Crypto hash name `hash`. */
export function digest(hash: string, data: Uint8Array, capBytes: number): Uint8Array {
  checkSize(capBytes, data);
  return u8(createHash(nodeHash(hash)).update(data).digest());
}

/** Random bytes, at most the memory cap. */
export function random(n: number, capBytes: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0) throw new PlatformError('RangeError', 'random: byte count must be a non-negative integer');
  if (n > capBytes) throw new PlatformInputTooLarge(n);
  return u8(randomBytes(n));
}

/** The components of a URL record as the guest class reads them, by index (see url.ts URL_PARTS). */
function record(u: URL): string[] {
  return [u.href, u.origin, u.protocol, u.username, u.password, u.host, u.hostname, u.port, u.pathname, u.search, u.hash];
}

const URL_SETTERS = new Set(['href', 'protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'hash']);

/**
 * Run platform operation `op` with `args` for a plugin whose memory cap is `capBytes`.
 * @example platformCall('digest', ['SHA-256', new Uint8Array([97])], 1 << 20)
 */
export function platformCall(op: string, args: unknown[], capBytes: number): unknown {
  switch (op) {
    case 'digest':
      return digest(String(args[0]), bytes(args[1], 'digest'), capBytes);
    case 'hmac':
      return hmac(String(args[0]), bytes(args[1], 'hmac'), bytes(args[2], 'hmac'), capBytes);
    case 'hmacVerify': {
      const sig = bytes(args[2], 'verify');
      const mac = hmac(String(args[0]), bytes(args[1], 'verify'), bytes(args[3], 'verify'), capBytes);
      return sig.length === mac.length && timingSafeEqual(sig, mac);
    }
    case 'keyImport': {
      // [curve, hash, usages]: the platform call takes four arguments
      const [curve, hash, usages] = Array.isArray(args[3]) ? (args[3] as unknown[]) : [args[3]];
      return importAsymmetric(String(args[0]), String(args[1]), typeof args[2] === 'string' ? args[2] : bytes(args[2], 'importKey'), String(curve ?? ''), capBytes, jwkUse([hash, usages]));
    }
    case 'octExport':
      return Buffer.from(bytes(args[0], 'exportKey')).toString('base64url');
    case 'octJwk':
      return octJwk(String(args[0]), capBytes, jwkUse([args[1], args[2]]));
    case 'sign':
      return signAsymmetric(signParams(args[0]), bytes(args[1], 'sign'), bytes(args[2], 'sign'), capBytes);
    case 'verify':
      return verifyAsymmetric(signParams(args[0]), bytes(args[1], 'verify'), bytes(args[2], 'verify'), bytes(args[3], 'verify'), capBytes);
    case 'keyExport':
      return exportAsymmetric(String(args[0]), String(args[1]), bytes(args[2], 'exportKey'), String(args[3]));
    case 'random':
      return random(Number(args[0]), capBytes);
    case 'uuid':
      return randomUUID();
    case 'now':
      return performance.now();
    case 'timeOrigin':
      return performance.timeOrigin;
    case 'urlParse': {
      const input = String(args[0]);
      const base = args[1] === undefined ? undefined : String(args[1]);
      checkSize(capBytes, input, base ?? '');
      try {
        return record(new URL(input, base));
      } catch {
        return null;
      }
    }
    case 'urlSet': {
      const part = String(args[1]);
      const value = String(args[2]);
      checkSize(capBytes, String(args[0]), value);
      if (!URL_SETTERS.has(part)) throw new PlatformError('TypeError', `URL has no settable ${part}`);
      const u = new URL(String(args[0]));
      try {
        (u as unknown as Record<string, string>)[part] = value;
      } catch {
        return null; // only href throws (Invalid URL); the other setters ignore what they cannot parse
      }
      return record(u);
    }
    case 'qsParse': {
      const s = String(args[0]);
      checkSize(capBytes, s);
      return [...new URLSearchParams(s)];
    }
    case 'qsSerialize': {
      const list = Array.isArray(args[0]) ? (args[0] as unknown[]) : [];
      const p = new URLSearchParams();
      for (const pair of list) if (Array.isArray(pair)) p.append(String(pair[0]), String(pair[1]));
      const s = p.toString();
      checkSize(capBytes, s);
      return s;
    }
    default:
      throw new PlatformError('TypeError', `unknown platform operation ${op}`);
  }
}
