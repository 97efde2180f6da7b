/**
 * Plugin signatures: Ed25519 through node:crypto (no extra dependency). A signature is a small JSON
 * file next to the plugin (`revert.js.sig`) naming the signing key by fingerprint, so the host can
 * tell "signed by a key I do not trust" from "changed after signing". Checked on the file's bytes
 * before any of its code is interpreted.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { OptionsError, SignatureError, type ErrorContext } from '../errors.js';

/** `trust` option of createHost. */
export interface TrustOptions {
  /** Trusted Ed25519 public keys: PEM text, or paths of PEM files (read once at createHost). */
  publicKeys: (string | KeyObject)[];
  /** Reject plugins without a valid signature (default true when publicKeys is given). */
  requireSignature?: boolean;
}

/** The parsed `trust` option: keys by fingerprint. */
export interface TrustStore {
  keys: Map<string, KeyObject>;
  requireSignature: boolean;
}

/** The signature file of a plugin file. */
export const signaturePath = (file: string): string => `${file}.sig`;

/** A key's fingerprint: the first 16 hex digits of the SHA-256 of its SPKI DER encoding. */
export function fingerprint(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

function toPublicKey(k: string | KeyObject, index: number): KeyObject {
  try {
    if (typeof k !== 'string') {
      if (k.asymmetricKeyType !== 'ed25519') throw new Error(`a ${k.asymmetricKeyType ?? k.type} key`);
      return k.type === 'private' ? createPublicKey(k) : k;
    }
    const pem = k.includes('-----BEGIN') ? k : readFileSync(k, 'utf8');
    if (!pem.includes('-----BEGIN PUBLIC KEY-----')) throw new Error(pem.includes('PRIVATE KEY') ? 'it is a private key: pass the .pub file' : 'no PEM public key in it');
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`a ${key.asymmetricKeyType} key`);
    return key;
  } catch (e) {
    const from = typeof k === 'string' && !k.includes('-----BEGIN') ? ` (${k})` : '';
    throw new OptionsError(`trust.publicKeys[${index}]${from} is not an Ed25519 public key: ${(e as Error).message}`, 'Pass PEM text or the path of a .pub file written by `terrarium keygen`');
  }
}

/** Validate the `trust` option (ERR_OPTIONS on a bad key). */
export function makeTrustStore(trust: TrustOptions | undefined): TrustStore | undefined {
  if (trust === undefined) return undefined;
  if (trust === null || typeof trust !== 'object' || !Array.isArray(trust.publicKeys)) {
    throw new OptionsError('options.trust must be { publicKeys: [...], requireSignature?: boolean }', 'Pass the trusted public keys (PEM text or .pub paths)');
  }
  if (trust.requireSignature !== undefined && typeof trust.requireSignature !== 'boolean') {
    throw new OptionsError('options.trust.requireSignature must be a boolean', 'Pass true or false');
  }
  const keys = new Map<string, KeyObject>();
  trust.publicKeys.forEach((k, i) => {
    const key = toPublicKey(k, i);
    keys.set(fingerprint(key), key);
  });
  const requireSignature = trust.requireSignature ?? true;
  if (requireSignature && keys.size === 0) throw new OptionsError('options.trust.requireSignature is set but no publicKeys are given', 'Add the public key that signs your plugins');
  return { keys, requireSignature };
}

interface SignatureFile {
  alg: 'ed25519';
  key: string;
  sig: string;
}

/** Sign a plugin's bytes with an Ed25519 private key (PEM); returns the text of its `.sig` file. */
export function signPlugin(content: Uint8Array, privateKeyPem: string): string {
  if (!privateKeyPem.includes('PRIVATE KEY-----')) {
    throw new OptionsError(
      privateKeyPem.includes('-----BEGIN PUBLIC KEY-----') ? 'the signing key is a public key (.pub), not a private key' : 'the signing key is not a PEM private key',
      'Pass the .key file written by `terrarium keygen`',
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch (e) {
    throw new OptionsError(`the signing key cannot be read (${(e as Error).message})`, 'Pass the .key file written by `terrarium keygen`');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new OptionsError(`the signing key is a ${key.asymmetricKeyType} key, not Ed25519`, 'Create one with `terrarium keygen`');
  const body: SignatureFile = { alg: 'ed25519', key: fingerprint(key), sig: sign(null, content, key).toString('base64') };
  return `${JSON.stringify(body)}\n`;
}

/** A fresh Ed25519 key pair as PEM text (PKCS#8 private, SPKI public). */
export function generateKeys(): { privateKey: string; publicKey: string; fingerprint: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    fingerprint: fingerprint(publicKey),
  };
}

/**
 * Check a plugin's bytes against its signature file text (undefined: no `.sig`). Throws
 * ERR_SIGNATURE when the store requires a signature and it is missing, malformed, made by an
 * untrusted key, or does not match the content. Returns the signing key's fingerprint, if signed.
 */
export function verifyPlugin(content: Uint8Array, sigText: string | undefined, store: TrustStore, ctx: ErrorContext): string | undefined {
  if (sigText === undefined) {
    if (store.requireSignature) throw new SignatureError(`is not signed (no ${ctx.file ?? 'plugin'}.sig next to it)`, ctx);
    return undefined;
  }
  let parsed: Partial<SignatureFile>;
  try {
    parsed = JSON.parse(sigText) as Partial<SignatureFile>;
  } catch {
    throw new SignatureError('has a malformed signature file (not JSON)', ctx, 'Sign it again with `terrarium sign`');
  }
  if (parsed.alg !== 'ed25519' || typeof parsed.key !== 'string' || typeof parsed.sig !== 'string') {
    throw new SignatureError('has a malformed signature file (expected alg ed25519, key and sig)', ctx, 'Sign it again with `terrarium sign`');
  }
  const key = store.keys.get(parsed.key);
  if (!key) {
    throw new SignatureError(`is signed by key ${parsed.key}, which is not trusted (trusted: ${[...store.keys.keys()].join(', ') || 'none'})`, ctx, 'Sign it with a trusted key, or add its public key to trust.publicKeys');
  }
  if (!verify(null, content, key, Buffer.from(parsed.sig, 'base64'))) {
    throw new SignatureError(`was changed after it was signed (signature by key ${parsed.key} does not match its content)`, ctx, 'Restore the signed file, or review the change and sign it again');
  }
  return parsed.key;
}
