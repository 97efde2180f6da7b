/**
 * Permissions a plugin declares in its meta, checked against what the host granted it:
 *   export const meta = { name: 'authz', permissions: { fetch: ['https://auth.example.com'], kv: true, kvShared: ['sessions'], bigint: true } }
 * A plugin asking for more than it was granted does not load (ERR_PERMISSION naming each missing
 * grant), so an operator sees at deploy time what a plugin needs instead of at its first call.
 * Encoding, URL, crypto and timers need no permission.
 *
 * Declared permissions also narrow the grant (least privilege): a plugin granted fetch to
 * https://a and https://b that declares only https://a can fetch only https://a, and one that
 * declares permissions without `kv` gets no host.kv. A plugin that declares no permissions at all
 * has exactly its grants.
 *
 * Grants are keyed by plugin name (meta.name, else the file name without its extension); an
 * entry under the file name is used when there is none under the plugin name.
 */
import { PermissionError, type ErrorContext } from '../errors.js';
import type { CapabilityEntry } from './index.js';
import { type PluginGrants, didYouMean, fetchGrantOf } from './grants.js';
import { matchOrigin, parseOrigin } from '../outbound/policy.js';

const KNOWN = ['fetch', 'kv', 'kvShared', 'bigint'];

const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : undefined);

/** The missing grants of `permissions` (meta.permissions) for `plugin`, or [] when all are granted. */
export function missingGrants(permissions: unknown, plugin: string, grants: PluginGrants | undefined, capabilities: readonly CapabilityEntry[]): string[] {
  if (permissions === undefined || permissions === null) return [];
  if (typeof permissions !== 'object' || Array.isArray(permissions)) return ['meta.permissions must be an object such as { fetch: ["https://auth.example.com"], kv: true }'];
  const out: string[] = [];
  const p = permissions as Record<string, unknown>;
  for (const k of Object.keys(p)) if (!KNOWN.includes(k)) out.push(`unknown permission "${k}"${didYouMean(k, KNOWN)}`);
  if (p.fetch !== undefined) {
    const want = strings(p.fetch);
    const allow = (fetchGrantOf(grants)?.allow ?? []).map(parseOrigin);
    if (!want) out.push('permissions.fetch must be an array of origins');
    else
      for (const o of want) {
        let u: URL | undefined;
        try {
          u = new URL(o);
        } catch {
          out.push(`permissions.fetch: "${o}" is not a URL`);
          continue;
        }
        if (!matchOrigin(allow, u)) out.push(`fetch ${u.origin} (grants.${plugin}.fetch)`);
      }
  }
  if (p.kv !== undefined && p.kv !== false) {
    if (p.kv !== true) out.push('permissions.kv must be true or false');
    else if (!capabilities.some((c) => c.path[0] === 'kv')) out.push('kv (the host has no kv capability)');
  }
  if (p.kvShared !== undefined) {
    const want = strings(p.kvShared);
    const have = grants?.kv?.shared ?? [];
    if (!want) out.push('permissions.kvShared must be an array of namespace names');
    else for (const ns of want) if (!have.includes(ns)) out.push(`kvShared ${ns} (grants.${plugin}.kv.shared)`);
  }
  if (p.bigint !== undefined && p.bigint !== false && grants?.bigint !== true) out.push(`bigint (grants.${plugin}.bigint)`);
  return out;
}

/** The grants of plugin `name` loaded from a file named `fileName`: by plugin name, else by file name. */
export function grantsFor(grants: Record<string, PluginGrants>, name: string, fileName: string): PluginGrants | undefined {
  return Object.hasOwn(grants, name) ? grants[name] : Object.hasOwn(grants, fileName) ? grants[fileName] : undefined;
}

/** What a plugin may use: its grants, narrowed by its declared permissions; `kv` says whether host.kv is open to it at all. */
export interface EffectiveGrants extends PluginGrants {
  kvOwn: boolean;
}

/**
 * `granted` narrowed by `permissions` (meta.permissions, already checked by `checkPermissions`):
 * without a declaration, the grants as they are; with one, only what it names.
 * @example narrowGrants({ fetch: ['https://a', 'https://b'] }, { fetch: ['https://a'] }) // fetch: { allow: ['https://a'] }, kvOwn: false
 */
export function narrowGrants(granted: PluginGrants | undefined, permissions: unknown): EffectiveGrants {
  const g = granted ?? {};
  if (permissions === undefined || permissions === null || typeof permissions !== 'object') return { ...g, kvOwn: true };
  const p = permissions as Record<string, unknown>;
  const out: EffectiveGrants = { kvOwn: p.kv === true };
  const fetch = fetchGrantOf(g);
  const want = strings(p.fetch);
  if (fetch && want) {
    const urls = want.flatMap((o) => {
      try {
        return [new URL(o)];
      } catch {
        return [];
      }
    });
    out.fetch = { ...fetch, allow: fetch.allow.filter((a) => urls.some((u) => matchOrigin([parseOrigin(a)], u))) };
  }
  const shared = strings(p.kvShared);
  if (shared && g.kv?.shared) out.kv = { shared: g.kv.shared.filter((ns) => shared.includes(ns)) };
  if (p.bigint === true && g.bigint === true) out.bigint = true;
  return out;
}

/** Throw ERR_PERMISSION when `meta.permissions` asks for more than `grants` give. */
export function checkPermissions(meta: Record<string, unknown> | undefined, plugin: string, grants: PluginGrants | undefined, capabilities: readonly CapabilityEntry[], ctx: ErrorContext): void {
  const missing = missingGrants(meta?.permissions, plugin, grants, capabilities);
  if (missing.length) throw new PermissionError(missing, ctx, `Grant them with createHost({ grants: { ${plugin}: {...} } }) or the gateway's plugins.grants.${plugin}, or remove them from meta.permissions`);
}
