/**
 * Typed proxies over a plugin's exports, bound by reflection: any property read on the proxy is a
 * function that calls the export of that name in whatever currently serves the plugin's name (so
 * proxies survive crash-only restarts, hot reloads, and a file deleted and added again).
 */
import type { ManagedPlugin } from '../host/plugin.js';

/** What `host.get<T>()` returns: T's functions, plus the plugin's name. */
export type PluginProxy<T extends object> = T & { readonly [PLUGIN_NAME]: string };

/** Symbol key under which a proxy exposes the name of its plugin. */
export const PLUGIN_NAME: unique symbol = Symbol.for('terrarium.plugin');

/** `current()` returns the plugin serving the name now (looked up on every call: one Map lookup). */
export function makeProxy<T extends object>(current: () => ManagedPlugin): PluginProxy<T> {
  const fns = new Map<string, (...args: unknown[]) => unknown>();
  const handler: ProxyHandler<PluginProxy<T>> = {
    get(_t, prop) {
      const plugin = current();
      if (prop === PLUGIN_NAME) return plugin.name;
      // Not a thenable unless the plugin really exports `then`: `await proxy` must not call into it.
      if (typeof prop === 'symbol' || (prop === 'then' && !plugin.hasExport('then'))) return undefined;
      let fn = fns.get(prop);
      if (!fn) {
        fn = (...args: unknown[]) => current().call(prop, args);
        Object.defineProperty(fn, 'name', { value: prop });
        fns.set(prop, fn);
      }
      return fn;
    },
    has(_t, prop) {
      return typeof prop === 'string' && current().hasExport(prop);
    },
    ownKeys() {
      return current().exports.map((e) => e.name);
    },
    getOwnPropertyDescriptor(_t, prop) {
      if (typeof prop !== 'string' || !current().hasExport(prop)) return undefined;
      return { configurable: true, enumerable: true, writable: false, value: handler.get!(_t, prop, undefined) };
    },
    set() {
      return false;
    },
  };
  return new Proxy(Object.create(null) as PluginProxy<T>, handler);
}
