/**
 * The `memory` kv backend (the default): the gateway's in-memory key-value store, granted to plugins as `host.kv` when the config says
 * `plugins.capabilities.kv`. Every operation is synchronous: a middleware that counts requests (a
 * rate limiter) calls it on every request, and a sync capability keeps the plugin call sync, which
 * is the fast path of the host. Keys are shared by every plugin of the gateway: prefix them with
 * the plugin's name. Expired keys are dropped when read and by a periodic sweep; past `maxKeys`
 * the oldest key is evicted, so a plugin cannot grow the gateway's memory without bound.
 */

import { kvCapability, type KvStore } from './store.js';

interface Entry {
  value: unknown;
  /** Expiry time (ms since the epoch), or 0 for none. */
  expires: number;
}

/**
 * Create the store. `maxKeys` bounds its size (the oldest key is evicted first).
 * @example
 * const kv = createKvStore({ maxKeys: 1000 })
 * kv.incr('rate:10.0.0.1', 1, 60_000) // 1, and the key expires in a minute
 */
export function createKvStore(options: { maxKeys: number; sweepMs?: number }): KvStore {
  const map = new Map<string, Entry>();
  const live = (key: string, now: number): Entry | undefined => {
    const e = map.get(key);
    if (e && e.expires !== 0 && e.expires <= now) {
      map.delete(key);
      return undefined;
    }
    return e;
  };
  const insert = (key: string, e: Entry) => {
    if (!map.has(key) && map.size >= options.maxKeys) {
      const oldest = map.keys().next();
      if (!oldest.done) map.delete(oldest.value);
    }
    map.set(key, e);
  };
  const ttl = (ttlMs: unknown, now: number): number => (typeof ttlMs === 'number' && ttlMs > 0 && Number.isFinite(ttlMs) ? now + ttlMs : 0);

  const store: KvStore = {
    backend: 'memory',
    get size() {
      return map.size;
    },
    get(key) {
      return live(String(key), Date.now())?.value;
    },
    set(key, value, ttlMs) {
      const now = Date.now();
      insert(String(key), { value, expires: ttl(ttlMs, now) });
      return true;
    },
    incr(key, by = 1, ttlMs) {
      const k = String(key);
      const now = Date.now();
      const e = live(k, now);
      const step = typeof by === 'number' && Number.isFinite(by) ? by : 1;
      if (e && typeof e.value === 'number') {
        e.value += step;
        return e.value;
      }
      // A new counter starts its TTL now (a fixed window); an existing one keeps its expiry.
      insert(k, { value: step, expires: e ? e.expires : ttl(ttlMs, now) });
      return step;
    },
    delete(key) {
      return map.delete(String(key));
    },
    get capability() {
      return kvCapability(store);
    },
    dispose() {
      clearInterval(timer);
      map.clear();
    },
    [Symbol.dispose]() {
      store.dispose();
    },
  };
  const timer = setInterval(() => {
    const now = Date.now();
    for (const [k, e] of map) if (e.expires !== 0 && e.expires <= now) map.delete(k);
  }, options.sweepMs ?? 10_000);
  timer.unref();
  return store;
}
