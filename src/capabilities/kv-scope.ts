/**
 * Per-plugin key spaces for key-value capabilities (`host.kv`). A capability function marked with
 * `keyScoped` takes a key as its first argument; the host rewrites that key per plugin, so two
 * plugins writing "hits" write two different entries in the same store (memory or Redis alike:
 * the store only ever sees the rewritten key):
 *   "hits"            -> "p:<plugin>:hits"          (the plugin's own space, always)
 *   "@counters/hits"  -> "s:counters:hits"          (shared namespace "counters", if granted)
 * Sharing is a grant: `createHost({ grants: { <plugin>: { kv: { shared: ['counters'] } } } })`.
 * Every plugin granted "counters" sees the same "@counters/..." keys; a plugin without the grant
 * gets an error naming the namespace and the option.
 */
import type { PluginGrants } from './grants.js';
import type { CapabilityEntry } from './index.js';

const KEY_SCOPED = Symbol.for('terrarium.keyScoped');

/**
 * Mark a capability function whose first argument is a key to be scoped per plugin.
 * @example capabilities: { kv: { get: keyScoped((k: string) => store.get(k)) } }
 */
export function keyScoped<F extends (...args: never[]) => unknown>(fn: F): F {
  Object.defineProperty(fn, KEY_SCOPED, { value: true });
  return fn;
}

/** The store key for `key` written by `plugin` holding shared namespaces `shared`. */
export function scopeKey(plugin: string, key: unknown, shared: readonly string[]): string {
  if (typeof key !== 'string') throw new TypeError(`kv keys are strings, got ${key === null ? 'null' : typeof key}`);
  if (key.startsWith('@')) {
    const slash = key.indexOf('/');
    const ns = slash === -1 ? key.slice(1) : key.slice(1, slash);
    if (slash === -1 || !shared.includes(ns)) {
      throw new Error(`kv namespace "${ns}" is not granted to plugin "${plugin}" (grant it with grants.${plugin}.kv.shared: ["${ns}"])`);
    }
    return `s:${ns}:${key.slice(slash + 1)}`;
  }
  return `p:${plugin}:${key}`;
}

/**
 * The capabilities of one plugin: key-scoped functions wrapped to rewrite their key argument, and
 * every host.kv function refused when the plugin's declared permissions leave kv out.
 * `grants(name)` gives the plugin's effective grants (see permissions.ts narrowGrants).
 */
export function withKeyScope(fns: CapabilityEntry[], plugin: () => string, grants: (name: string) => (PluginGrants & { kvOwn?: boolean }) | undefined): CapabilityEntry[] {
  return fns.map((c) => {
    const scoped = (c.fn as unknown as Record<symbol, unknown>)[KEY_SCOPED] === true;
    if (!scoped && c.path[0] !== 'kv') return c;
    const fn = c.fn;
    return {
      path: c.path,
      fn: (...args: unknown[]) => {
        const name = plugin();
        const g = grants(name);
        const [key, ...rest] = args;
        // without kv: true, only the shared namespaces it declared (kvShared) stay open
        const sharedKey = scoped && typeof key === 'string' && key.startsWith('@');
        if (c.path[0] === 'kv' && g?.kvOwn === false && !sharedKey) throw new Error(`host.kv is not declared in the meta.permissions of plugin "${name}" (add kv: true)`);
        if (!scoped) return fn(...args);
        return fn(scopeKey(name, key, g?.kv?.shared ?? []), ...rest);
      },
    };
  });
}
