/**
 * ioredis options from a resolved connection block. Both the kv backend (kv/redis-worker.ts) and
 * the Redis provider (config/providers/redis.ts) connect with them, so they live at the kv stage,
 * below the config checker that reads the provider.
 */
import type { RedisOptions } from 'ioredis';
import type { ResolvedRedis } from '../config/model.js';

/**
 * ioredis options for a resolved block. Commands never queue while disconnected (they fail at
 * once) and are never retried: the caller decides what a failure means. Reconnection goes on in
 * the background, backing off up to one second, so a returning Redis is used again within ~1s.
 */
export function ioredisOptions(r: ResolvedRedis, extra: RedisOptions = {}): RedisOptions {
  return {
    ...(r.username !== undefined ? { username: r.username } : {}),
    ...(r.password !== undefined ? { password: r.password } : {}),
    ...(r.db !== undefined ? { db: r.db } : {}),
    ...(r.tls ? { tls: r.tls } : {}),
    connectTimeout: r.dialTimeoutMs,
    commandTimeout: r.timeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
    lazyConnect: true,
    ...extra,
  };
}
