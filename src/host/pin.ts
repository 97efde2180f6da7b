/**
 * Pins: one unit of work (a gateway request) keeps the version of a plugin it started on. Without
 * them, a hot reload between a request's `onRequest` and its `onResponse` ran the two phases on
 * two versions, with the first one's `ctx.state`.
 */
import type { ManagedPlugin, Pin } from './plugin.js';

/** What `host.pin(name)` returns. */
export interface PluginPin {
  /** `meta.version` of the pinned version (undefined: unversioned, or pinned while nothing served). */
  readonly version: string | undefined;
  /** Whether the pinned version exports `name`. */
  has(name: string): boolean;
  /** Call an export of the pinned version, like `host.get(name)[exportName](...args)`. */
  call(exportName: string, args: readonly unknown[]): unknown;
  /** Let the version go (idempotent): a retired version is disposed when its last pin and call are done. */
  release(): void;
}

export function makePin(plugin: ManagedPlugin): PluginPin {
  const pin: Pin = plugin.pin();
  const version = pin.v?.built.instance.meta?.version;
  return {
    version: version === undefined ? undefined : String(version),
    has: (name) => plugin.pinnedHas(pin, name),
    call: (exportName, args) => plugin.callPinned(pin, exportName, args),
    release: () => plugin.unpin(pin),
  };
}
