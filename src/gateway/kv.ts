/**
 * The `kv` capability granted to plugins as `host.kv` (`plugins.capabilities.kv`): get, set with
 * a TTL, incr with a TTL as one atomic step, delete. Two backends behind one synchronous
 * interface, so plugins never change with the backend:
 * - `memory` (default, kv-memory.ts): this process only; with several workers or instances every
 *   one has its own counters, so a limit multiplies by their number.
 * - `redis` (kv-redis.ts): shared by every worker and instance; a call waits for Redis at most
 *   `timeout` and fails with ERR_KV_UNAVAILABLE when Redis is down or slow.
 */
import type { Logger } from '../types.js';
import type { ResolvedKv } from './redis-config.js';
import { createKvStore } from './kv-memory.js';

/** The store behind `host.kv`. */
export interface KvStore extends Disposable {
  /** `memory` or `redis`. */
  readonly backend: 'memory' | 'redis';
  /** The capability tree to grant: `{ kv: { get, set, incr, delete } }`. */
  readonly capability: { kv: Record<string, (...args: never[]) => unknown> };
  /** Keys held (memory backend; the redis backend answers -1). */
  readonly size: number;
  get(key: string): unknown;
  set(key: string, value: unknown, ttlMs?: number): true;
  incr(key: string, by?: number, ttlMs?: number): number;
  delete(key: string): boolean;
  dispose(): void;
}

/** The capability tree of a store (functions only: nothing of the store is reachable). */
export function kvCapability(store: Pick<KvStore, 'get' | 'set' | 'incr' | 'delete'>): KvStore['capability'] {
  return {
    kv: {
      get: (key: string) => store.get(key),
      set: (key: string, value: unknown, ttlMs?: number) => store.set(key, value, ttlMs),
      incr: (key: string, by?: number, ttlMs?: number) => store.incr(key, by, ttlMs),
      delete: (key: string) => store.delete(key),
    },
  };
}

/**
 * Open the backend the configuration chose. The redis backend waits for its first connection up
 * to `dialTimeout`; if Redis is not there yet the gateway starts anyway (calls fail with
 * ERR_KV_UNAVAILABLE until it is), and says so in the log.
 * @example const kv = await openKv({ maxKeys: 1000, backend: 'memory' }, logger)
 */
export async function openKv(config: ResolvedKv, logger: Logger): Promise<KvStore> {
  if (config.backend === 'redis' && config.redis) {
    const { openRedisKv } = await import('./kv-redis.js');
    return openRedisKv(config.redis, logger);
  }
  return createKvStore({ maxKeys: config.maxKeys });
}

export { createKvStore };
