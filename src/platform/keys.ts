/**
 * The host half of Web Crypto's asymmetric keys (ECDSA P-256/P-384/P-521, RSASSA-PKCS1-v1_5,
 * RSA-PSS, Ed25519): import, sign, verify and export, all on node:crypto.
 *
 * A guest's CryptoKey never holds a host object. Import checks the key material once and returns
 * its canonical DER (SPKI for a public key, PKCS#8 for a private one); the guest keeps those
 * bytes as data, and every sign/verify hands them back, to be parsed again here. Parsing a DER key
 * costs a few microseconds against the tens a signature costs, and it means there is no table of
 * host keys to bound, leak or free when an instance is thrown away.
 */
import { constants, createPrivateKey, createPublicKey, sign, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { PlatformError, PlatformInputTooLarge, nodeHash } from './host-errors.js';

/** Web Crypto curve names and node:crypto's. */
const CURVES: Record<string, string> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' };
const CURVE_BYTES: Record<string, number> = { 'P-256': 32, 'P-384': 48, 'P-521': 66 };

/** The algorithms this file handles, by their Web Crypto names. */
export const ASYMMETRIC = new Set(['ECDSA', 'RSASSA-PKCS1-v1_5', 'RSA-PSS', 'Ed25519']);

/** What import tells the guest: [type, der, namedCurve or '', modulusLength or 0, publicExponent bytes]. */
export type ImportedKey = [type: 'public' | 'private', der: Uint8Array, namedCurve: string, modulusLength: number, publicExponent: Uint8Array];

const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.length);
const dataErr = (m: string): PlatformError => new PlatformError('DataError', m);
const b64url = (b: Uint8Array): string => Buffer.from(b).toString('base64url');

function checkSize(capBytes: number, n: number): void {
  if (n > capBytes) throw new PlatformInputTooLarge(n);
}

/** What the importKey call says the key is for: the hash (HMAC, RSA) and the usages asked for. */
export interface JwkUse {
  hash: string;
  usages: string[];
}

const HASH_BITS: Record<string, string> = { 'SHA-1': '1', 'SHA-256': '256', 'SHA-384': '384', 'SHA-512': '512' };
const CURVE_ALG: Record<string, string> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };

/** The JWK `alg` Web Crypto requires for this import, or undefined when any is accepted. */
function jwkAlg(alg: string, hash: string, curve: string): string[] | undefined {
  const bits = HASH_BITS[hash];
  if (alg === 'HMAC') return [`HS${bits}`];
  if (alg === 'RSASSA-PKCS1-v1_5') return [`RS${bits}`];
  if (alg === 'RSA-PSS') return [`PS${bits}`];
  if (alg === 'ECDSA') return CURVE_ALG[curve] === undefined ? undefined : [CURVE_ALG[curve]];
  if (alg === 'Ed25519') return ['Ed25519', 'EdDSA'];
  return undefined;
}

/**
 * Web Crypto's checks on the members that say what a JWK is for (WebCrypto 'import key' for each
 * algorithm): `kty`, `use` ("sig" when usages are asked), `key_ops` (must hold every usage asked,
 * no repeats), `alg` (the one the algorithm, hash or curve implies) and, for EC, `crv`. Without
 * them a key published for encryption, or for HS512, would verify HS256 signatures.
 */
function checkJwk(jwk: unknown, alg: string, curve: string, use: JwkUse): JsonWebKey {
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) throw dataErr('importKey: the JWK must be an object');
  const k = jwk as JsonWebKey;
  const kty = alg === 'HMAC' ? 'oct' : alg === 'ECDSA' ? 'EC' : alg === 'Ed25519' ? 'OKP' : 'RSA';
  if (k.kty !== kty) throw dataErr(`importKey: a ${alg} JWK has kty "${kty}", not "${String(k.kty)}"`);
  if (use.usages.length > 0 && k.use !== undefined && k.use !== 'sig') throw dataErr(`importKey: the JWK's use is ${JSON.stringify(k.use)}, not "sig"`);
  if (k.key_ops !== undefined) {
    const ops: unknown = k.key_ops;
    if (!Array.isArray(ops) || ops.some((o) => typeof o !== 'string') || new Set(ops).size !== ops.length) throw dataErr('importKey: the JWK\'s key_ops must be an array of distinct strings');
    for (const u of use.usages) if (!ops.includes(u)) throw dataErr(`importKey: the JWK's key_ops does not allow ${u}`);
  }
  const want = jwkAlg(alg, use.hash, curve);
  if (k.alg !== undefined && want !== undefined && !want.includes(String(k.alg))) throw dataErr(`importKey: the JWK's alg is ${JSON.stringify(k.alg)}, this import needs ${want.join(' or ')}`);
  if (alg === 'ECDSA' && k.crv !== curve) throw dataErr(`importKey: the JWK's crv is ${JSON.stringify(k.crv)}, not ${curve}`);
  if (alg === 'Ed25519' && k.crv !== 'Ed25519') throw dataErr(`importKey: the JWK's crv is ${JSON.stringify(k.crv)}, not Ed25519`);
  return k;
}

/** A JWK from its JSON text, checked as Web Crypto does. */
function parseJwk(text: string, alg: string, curve: string, use: JwkUse): JsonWebKey {
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch {
    throw dataErr('importKey: the JWK is not valid JSON');
  }
  return checkJwk(jwk, alg, curve, use);
}

/** An EC or Ed25519 public key from its raw encoding (uncompressed point, or the 32 bytes). */
function rawPublic(alg: string, curve: string, raw: Uint8Array): KeyObject {
  if (alg === 'Ed25519') {
    if (raw.length !== 32) throw dataErr('importKey: a raw Ed25519 public key is 32 bytes');
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(raw) }, format: 'jwk' });
  }
  if (alg !== 'ECDSA') throw new PlatformError('NotSupportedError', `importKey: the raw format is not supported for ${alg}`);
  const n = CURVE_BYTES[curve]!;
  if (raw.length !== 1 + 2 * n || raw[0] !== 4) throw dataErr(`importKey: a raw ${curve} key is an uncompressed point of ${1 + 2 * n} bytes`);
  return createPublicKey({ key: { kty: 'EC', crv: curve, x: b64url(raw.subarray(1, 1 + n)), y: b64url(raw.subarray(1 + n)) }, format: 'jwk' });
}

/** The key as node:crypto reads it, or a DataError saying why it cannot be read. */
function readKey(alg: string, format: string, data: Uint8Array | string, curve: string, use: JwkUse): KeyObject {
  try {
    if (format === 'spki') return createPublicKey({ key: Buffer.from(data as Uint8Array), format: 'der', type: 'spki' });
    if (format === 'pkcs8') return createPrivateKey({ key: Buffer.from(data as Uint8Array), format: 'der', type: 'pkcs8' });
    if (format === 'jwk') {
      const jwk = parseJwk(String(data), alg, curve, use);
      return jwk.d !== undefined ? createPrivateKey({ key: jwk, format: 'jwk' }) : createPublicKey({ key: jwk, format: 'jwk' });
    }
    if (format === 'raw') return rawPublic(alg, curve, data as Uint8Array);
  } catch (e) {
    if (e instanceof PlatformError) throw e;
    throw dataErr(`importKey: invalid ${format} ${alg} key (${(e as Error).message})`);
  }
  throw new PlatformError('NotSupportedError', `importKey: unknown format "${format}" (use raw, jwk, spki or pkcs8)`);
}

/**
 * Check `data` as a `format` key for `alg` (with `namedCurve` for ECDSA) and return it in its
 * canonical form. The key's own type must be the algorithm's: an RSA key is no ECDSA key, a P-384
 * key no P-256 one.
 * A JWK is checked against `use` (the hash and usages of the import) as Web Crypto says.
 * @example importAsymmetric('Ed25519', 'raw', new Uint8Array(32), '', 1 << 20)
 */
export function importAsymmetric(alg: string, format: string, data: Uint8Array | string, namedCurve: string, capBytes: number, use: JwkUse = { hash: '', usages: [] }): ImportedKey {
  checkSize(capBytes, data.length);
  if (alg === 'ECDSA' && CURVES[namedCurve] === undefined) throw new PlatformError('NotSupportedError', `importKey: unsupported namedCurve "${namedCurve}" (use P-256, P-384 or P-521)`);
  const key = readKey(alg, format, data, namedCurve, use);
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (alg === 'ECDSA') {
    if (type !== 'ec') throw dataErr(`importKey: an ECDSA key was expected, this is ${type}`);
    if (details.namedCurve !== CURVES[namedCurve]) throw dataErr(`importKey: the key's curve is not ${namedCurve}`);
  } else if (alg === 'Ed25519') {
    if (type !== 'ed25519') throw dataErr(`importKey: an Ed25519 key was expected, this is ${type}`);
  } else if (type !== 'rsa' && !(alg === 'RSA-PSS' && type === 'rsa-pss')) {
    throw dataErr(`importKey: an RSA key was expected, this is ${type}`);
  }
  const isPrivate = key.type === 'private';
  const der = u8(key.export(isPrivate ? { format: 'der', type: 'pkcs8' } : { format: 'der', type: 'spki' }) as Buffer);
  const e = details.publicExponent;
  let hex = e === undefined ? '' : e.toString(16);
  if (hex.length % 2 === 1) hex = '0' + hex;
  const exp = u8(Buffer.from(hex, 'hex'));
  return [isPrivate ? 'private' : 'public', der, alg === 'ECDSA' ? namedCurve : '', details.modulusLength ?? 0, exp];
}

/** Parameters of one signature, as the guest checked them. */
export interface SignParams {
  alg: string;
  /** Web Crypto hash name: for ECDSA from the sign call, for RSA from the key. Unused for Ed25519. */
  hash: string;
  /** RSA-PSS salt length in bytes. */
  saltLength: number;
}

function options(p: SignParams, key: KeyObject) {
  if (p.alg === 'ECDSA') return { key, dsaEncoding: 'ieee-p1363' as const };
  if (p.alg === 'RSA-PSS') {
    if (!Number.isInteger(p.saltLength) || p.saltLength < 0) throw new PlatformError('TypeError', 'RSA-PSS: saltLength must be a non-negative integer');
    return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: p.saltLength };
  }
  if (p.alg === 'RSASSA-PKCS1-v1_5') return { key, padding: constants.RSA_PKCS1_PADDING };
  return { key };
}

const digestOf = (p: SignParams): string | null => (p.alg === 'Ed25519' ? null : nodeHash(p.hash));

/** Signature of `data` with the PKCS#8 key `der`. */
export function signAsymmetric(p: SignParams, der: Uint8Array, data: Uint8Array, capBytes: number): Uint8Array {
  checkSize(capBytes, der.length + data.length);
  const key = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
  try {
    return u8(sign(digestOf(p), data, options(p, key)));
  } catch (e) {
    throw new PlatformError('OperationError', `sign: ${(e as Error).message}`);
  }
}

/** Whether `signature` is a valid signature of `data` under the SPKI key `der`; false for a malformed one, as Web Crypto says. */
export function verifyAsymmetric(p: SignParams, der: Uint8Array, signature: Uint8Array, data: Uint8Array, capBytes: number): boolean {
  checkSize(capBytes, der.length + signature.length + data.length);
  const key = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  if (p.alg === 'ECDSA') {
    const n = CURVE_BYTES[Object.keys(CURVES).find((c) => CURVES[c] === key.asymmetricKeyDetails?.namedCurve) ?? 'P-256']!;
    if (signature.length !== 2 * n) return false;
  }
  try {
    return verify(digestOf(p), data, options(p, key), signature);
  } catch {
    return false;
  }
}

/** The bytes of an HMAC key given as a JWK (kty "oct"), checked as Web Crypto does. */
export function octJwk(text: string, capBytes: number, use: JwkUse = { hash: '', usages: [] }): Uint8Array {
  checkSize(capBytes, text.length);
  const jwk = parseJwk(text, 'HMAC', '', use);
  if (typeof jwk.k !== 'string') throw dataErr('importKey: an HMAC JWK has kty "oct" and a string k');
  if (!/^[A-Za-z0-9_-]*$/.test(jwk.k)) throw dataErr('importKey: the JWK\'s k is not base64url');
  return u8(Buffer.from(jwk.k, 'base64url'));
}

/**
 * The key `der` (of `type`) in `format`: spki/pkcs8 give the DER, jwk its JSON text, raw the
 * public point (EC) or the 32 bytes (Ed25519).
 */
export function exportAsymmetric(alg: string, type: string, der: Uint8Array, format: string): Uint8Array | string {
  const key = type === 'private' ? createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' }) : createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  if (format === 'spki' || format === 'pkcs8') {
    if ((format === 'spki') !== (type === 'public')) throw new PlatformError('InvalidAccessError', `exportKey: a ${type} key cannot be exported as ${format}`);
    return der;
  }
  if (format === 'jwk') return JSON.stringify(key.export({ format: 'jwk' }));
  if (format === 'raw') {
    if (type !== 'public') throw new PlatformError('InvalidAccessError', 'exportKey: only a public key has a raw form');
    const jwk = key.export({ format: 'jwk' });
    if (alg === 'Ed25519') return u8(Buffer.from(jwk.x!, 'base64url'));
    if (alg === 'ECDSA') return u8(Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]));
    throw new PlatformError('NotSupportedError', `exportKey: ${alg} keys have no raw form`);
  }
  throw new PlatformError('NotSupportedError', `exportKey: unknown format "${format}"`);
}

/** JOSE algorithm names (RFC 7518) as this file's parameters, for the Lua idiom. */
const JOSE: Record<string, SignParams> = {
  ES256: { alg: 'ECDSA', hash: 'SHA-256', saltLength: 0 },
  ES384: { alg: 'ECDSA', hash: 'SHA-384', saltLength: 0 },
  ES512: { alg: 'ECDSA', hash: 'SHA-512', saltLength: 0 },
  RS256: { alg: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', saltLength: 0 },
  RS384: { alg: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384', saltLength: 0 },
  RS512: { alg: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512', saltLength: 0 },
  PS256: { alg: 'RSA-PSS', hash: 'SHA-256', saltLength: 32 },
  PS384: { alg: 'RSA-PSS', hash: 'SHA-384', saltLength: 48 },
  PS512: { alg: 'RSA-PSS', hash: 'SHA-512', saltLength: 64 },
  EdDSA: { alg: 'Ed25519', hash: '', saltLength: 0 },
};

function joseParams(alg: string): SignParams {
  const p = JOSE[alg];
  if (!p) throw new PlatformError('NotSupportedError', `unsupported algorithm "${alg}" (use ${Object.keys(JOSE).join(', ')})`);
  return p;
}

/**
 * A key given as PEM text (a public or private key, or a certificate) or as JWK JSON text; a JWK
 * that names another JOSE `alg`, or a `use` other than "sig", is refused (as Web Crypto does).
 */
function keyFromText(text: string, isPrivate: boolean, joseAlg: string): KeyObject {
  const t = text.trim();
  if (t.startsWith('{')) {
    let j: JsonWebKey | undefined;
    try {
      j = JSON.parse(t) as JsonWebKey;
    } catch {
      j = undefined; // reported below, with node's message
    }
    if (j !== undefined && j !== null && typeof j === 'object') {
      if (j.alg !== undefined && j.alg !== joseAlg) throw dataErr(`the JWK's alg is ${JSON.stringify(j.alg)}, not ${joseAlg}`);
      if (j.use !== undefined && j.use !== 'sig') throw dataErr(`the JWK's use is ${JSON.stringify(j.use)}, not "sig"`);
    }
  }
  try {
    if (t.startsWith('{')) {
      const jwk = JSON.parse(t) as JsonWebKey;
      return isPrivate ? createPrivateKey({ key: jwk, format: 'jwk' }) : createPublicKey({ key: jwk, format: 'jwk' });
    }
    return isPrivate ? createPrivateKey(t) : createPublicKey(t);
  } catch (e) {
    throw dataErr(`invalid ${isPrivate ? 'private' : 'public'} key: ${(e as Error).message} (give PEM text or a JWK as JSON)`);
  }
}

const spkiOf = (k: KeyObject): Uint8Array => u8(k.export({ format: 'der', type: 'spki' }) as Buffer);

/**
 * Whether `sig` is `alg`'s signature (JOSE name: ES256, RS256, PS256, EdDSA, ...) of `data` under
 * `key` (PEM or JWK text). ECDSA signatures are in JOSE's r||s form, as in a JWT.
 * @example joseVerify('ES256', pem, 'header.payload', sigBytes, 1 << 20)
 */
export function joseVerify(alg: string, key: string, data: Uint8Array, sig: Uint8Array, capBytes: number): boolean {
  checkSize(capBytes, key.length + data.length + sig.length);
  const k = keyFromText(key, false, alg);
  imported(joseParams(alg), k);
  return verifyAsymmetric(joseParams(alg), spkiOf(k), sig, data, capBytes);
}

/** `alg`'s signature of `data` with the private `key` (PEM or JWK text). */
export function joseSign(alg: string, key: string, data: Uint8Array, capBytes: number): Uint8Array {
  checkSize(capBytes, key.length + data.length);
  const k = keyFromText(key, true, alg);
  imported(joseParams(alg), k);
  return signAsymmetric(joseParams(alg), u8(k.export({ format: 'der', type: 'pkcs8' }) as Buffer), data, capBytes);
}

/** The key's type must be the algorithm's (no RSA key for ES256). */
function imported(p: SignParams, k: KeyObject): void {
  const t = k.asymmetricKeyType;
  const ok = p.alg === 'ECDSA' ? t === 'ec' : p.alg === 'Ed25519' ? t === 'ed25519' : t === 'rsa' || t === 'rsa-pss';
  if (!ok) throw dataErr(`a ${t} key cannot be used for ${p.alg}`);
}
