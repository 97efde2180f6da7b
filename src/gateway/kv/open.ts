/**
 * The `kv` capability granted to plugins as `host.kv` (`plugins.capabilities.kv`): get, set with
 * a TTL, incr with a TTL as one atomic step, delete. Two backends behind one synchronous
 * interface, so plugins never change with the backend:
 * - `memory` (default, kv-memory.ts): this process only; with several workers or instances every
 *   one has its own counters, so a limit multiplies by their number.
 * - `redis` (kv-redis.ts): shared by every worker and instance; a call waits for Redis at most
 *   `timeout` and fails with ERR_KV_UNAVAILABLE when Redis is down or slow.
 */
import type { Logger } from '../../types.js';
import type { ResolvedKv } from '../config/model.js';
import { createKvStore } from './memory.js';
import type { KvStore } from './store.js';

export { kvCapability, type KvStore } from './store.js';

/**
 * Open the backend the configuration chose. The redis backend waits for its first connection up
 * to `dialTimeout`; if Redis is not there yet the gateway starts anyway (calls fail with
 * ERR_KV_UNAVAILABLE until it is), and says so in the log.
 * @example const kv = await openKv({ maxKeys: 1000, backend: 'memory' }, logger)
 */
export async function openKv(config: ResolvedKv, logger: Logger): Promise<KvStore> {
  if (config.backend === 'redis' && config.redis) {
    const { openRedisKv } = await import('./redis.js');
    return openRedisKv(config.redis, logger);
  }
  return createKvStore({ maxKeys: config.maxKeys });
}

export { createKvStore };
