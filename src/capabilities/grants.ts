/**
 * Per-plugin grants of host powers (createHost `grants.<plugin>`, gateway `plugins.grants`):
 * shared kv namespaces, BigInt in JavaScript, and outbound HTTP (fetch) with its allowlist and
 * limits. Validated here once, when the host is created: a misspelt grant is ERR_OPTIONS with a
 * "did you mean" hint, never a silently missing power.
 */
import { OptionsError } from '../errors.js';
import type { FetchGrant } from '../outbound/outbound.js';
import { parseOrigin } from '../outbound/policy.js';

/** Per-plugin grants of host powers. */
export interface PluginGrants {
  kv?: { shared?: readonly string[] };
  /**
   * JavaScript: BigInt on (off by default, since one BigInt operation cannot be interrupted: the
   * plugin may overrun callTimeoutMs by one operation, ~2 s near the size limit).
   */
  bigint?: boolean;
  /** Outbound HTTP: the origins the plugin may fetch (an array), or the allowlist with limits. */
  fetch?: readonly string[] | FetchGrant;
}

const NAMESPACE = /^[A-Za-z0-9_.-]{1,64}$/;
const GRANT_KEYS = ['kv', 'bigint', 'fetch'];
const FETCH_KEYS = ['allow', 'timeoutMs', 'maxResponseBytes', 'maxInFlight'];

/** The fetch grant as an object (`['https://a']` is `{ allow: ['https://a'] }`), or undefined. */
export function fetchGrantOf(g: PluginGrants | undefined): FetchGrant | undefined {
  const f = g?.fetch;
  if (f === undefined) return undefined;
  return Array.isArray(f) ? { allow: f as readonly string[] } : (f as FetchGrant);
}

/** Edit distance, for "did you mean" hints on near-miss names. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

/** ` (did you mean "x"?)` for the closest of `known` within two edits, else ''. */
export function didYouMean(name: string, known: readonly string[]): string {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const dd = distance(name, k);
    if (dd < bestD) [best, bestD] = [k, dd];
  }
  return best === undefined ? '' : ` (did you mean "${best}"?)`;
}

/** Validate `options.grants`; throws ERR_OPTIONS naming the bad entry. */
export function checkGrants(grants: unknown): void {
  if (grants === undefined) return;
  const hint = 'Pass e.g. grants: { counter: { kv: { shared: ["counters"] }, fetch: ["https://auth.example.com"] } }';
  if (grants === null || typeof grants !== 'object' || Array.isArray(grants)) throw new OptionsError('options.grants must be an object keyed by plugin name', hint);
  for (const [name, g] of Object.entries(grants as Record<string, unknown>)) {
    if (g === null || typeof g !== 'object' || Array.isArray(g)) throw new OptionsError(`options.grants.${name} must be an object`, hint);
    for (const k of Object.keys(g)) if (!GRANT_KEYS.includes(k)) throw new OptionsError(`unknown grant "grants.${name}.${k}"${didYouMean(k, GRANT_KEYS)}`, `Known grants: ${GRANT_KEYS.join(', ')}`);
    const bigint = (g as PluginGrants).bigint;
    if (bigint !== undefined && typeof bigint !== 'boolean') throw new OptionsError(`options.grants.${name}.bigint must be true or false`, 'Pass e.g. grants: { big: { bigint: true } }');
    checkFetch(name, (g as PluginGrants).fetch);
    const kv = (g as PluginGrants).kv;
    if (kv === undefined) continue;
    if (kv === null || typeof kv !== 'object') throw new OptionsError(`options.grants.${name}.kv must be an object`, hint);
    for (const k of Object.keys(kv)) if (k !== 'shared') throw new OptionsError(`unknown grant "grants.${name}.kv.${k}"${didYouMean(k, ['shared'])}`, 'Known: shared');
    const shared = kv.shared;
    if (shared !== undefined && (!Array.isArray(shared) || shared.some((s) => typeof s !== 'string' || !NAMESPACE.test(s)))) {
      throw new OptionsError(`options.grants.${name}.kv.shared must be an array of namespace names (letters, digits, _ . -)`, hint);
    }
  }
}

function checkFetch(name: string, f: unknown): void {
  if (f === undefined) return;
  const hint = `Pass e.g. grants: { ${name}: { fetch: ["https://auth.example.com"] } } or { fetch: { allow: [...], timeoutMs: 5000 } }`;
  const g = Array.isArray(f) ? { allow: f } : f;
  if (g === null || typeof g !== 'object') throw new OptionsError(`options.grants.${name}.fetch must be an array of origins or an object`, hint);
  for (const k of Object.keys(g)) if (!FETCH_KEYS.includes(k)) throw new OptionsError(`unknown grant "grants.${name}.fetch.${k}"${didYouMean(k, FETCH_KEYS)}`, `Known: ${FETCH_KEYS.join(', ')}`);
  const allow = (g as { allow?: unknown }).allow;
  if (!Array.isArray(allow) || allow.some((o) => typeof o !== 'string')) throw new OptionsError(`options.grants.${name}.fetch.allow must be an array of origins`, hint);
  for (const o of allow as string[]) {
    try {
      parseOrigin(o);
    } catch (e) {
      throw new OptionsError(`options.grants.${name}.fetch: ${(e as Error).message}`, hint);
    }
  }
  for (const k of ['timeoutMs', 'maxResponseBytes', 'maxInFlight'] as const) {
    const v = (g as Record<string, unknown>)[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)) throw new OptionsError(`options.grants.${name}.fetch.${k} must be a positive integer`, hint);
  }
}
