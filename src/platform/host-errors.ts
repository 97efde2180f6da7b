/**
 * The errors of the platform's host half, and the hash names it accepts: shared by host.ts
 * (digest, HMAC, URL) and keys.ts (asymmetric keys), which host.ts dispatches to.
 */
/** Thrown when an input is larger than the plugin's memory cap; engines turn it into ERR_PLUGIN_MEMORY. */
export class PlatformInputTooLarge extends Error {
  constructor(readonly bytes: number) {
    super(`platform input of ${bytes} bytes is over the memory cap`);
  }
}

/** A DOMException-like error: the guest glue rebuilds it with the same name and message. */
export class PlatformError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

const HASH: Record<string, string> = { 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

/** node:crypto's name of a Web Crypto hash ('SHA-256' -> 'sha256'); Lua names are accepted too ('sha256'). */
export function nodeHash(name: string): string {
  const h = HASH[name.toUpperCase()] ?? HASH[name.toUpperCase().replace(/^SHA(\d)/, 'SHA-$1')];
  if (!h) throw new PlatformError('NotSupportedError', `unsupported hash algorithm "${name}" (use SHA-1, SHA-256, SHA-384 or SHA-512)`);
  return h;
}

