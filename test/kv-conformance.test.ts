/**
 * The kv conformance suite (test/kv/conformance.ts) on both backends: the memory store, and the
 * redis store against a real redis-server (test/fixtures/redis.ts), a fresh key prefix per case.
 */
import { after, before } from 'node:test';
import { createKvStore, openKv } from '../dist/gateway/kv/open.js';
import { runKvConformance } from './kv/conformance.js';
import { memoryLogger } from './fixtures/gateway/helpers.js';
import { startRedis, type RedisServer } from './fixtures/redis.js';

runKvConformance({ backend: 'memory', open: async () => createKvStore({ maxKeys: 10_000 }) });

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(() => redis.stop());

let cases = 0;
runKvConformance({
  backend: 'redis',
  // One server, a key prefix of its own per case: every case starts on an empty key space.
  open: () =>
    openKv({ maxKeys: 10_000, backend: 'redis', redis: { url: redis.url, keyPrefix: `kvc${++cases}:`, dialTimeoutMs: 5000, timeoutMs: 2000 } }, memoryLogger()),
  skip: {
    'stores a Uint8Array': 'the redis backend stores JSON text and refuses bytes (encode them as a string)',
  },
});
