/**
 * The Redis parts of the gateway configuration: the connection block shared by the `redis` kv
 * backend (`plugins.capabilities.kv.redis`) and the Redis provider (`providers.redis`), their JSON
 * schemas, and how a checked block becomes ioredis options. Kept apart from config.ts so the
 * gateway's main schema only references them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { RedisOptions } from 'ioredis';
import type { RedisConnectionConfig, ResolvedKv, ResolvedRedisProvider, ResolvedRedis, KvConfig, ProvidersConfig } from './model.js';
/** Declared in the config model (model.ts), re-exported for the modules that use them with this one. */
export type { RedisConnectionConfig, ResolvedKv, ResolvedRedisProvider, ResolvedRedis, KvConfig, ProvidersConfig };

const duration = { type: ['number', 'string'], minimum: 0, pattern: '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$', description: 'a duration: milliseconds as a number, or a string like 100ms, 2s' };

const connectionProperties = {
  url: { type: 'string', pattern: '^rediss?://', description: 'a Redis URL like redis://127.0.0.1:6379 (rediss:// for TLS)' },
  username: { type: 'string' },
  password: { type: 'string' },
  db: { type: 'integer', minimum: 0 },
  dialTimeout: duration,
  timeout: duration,
  tls: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ca: { type: 'string', minLength: 1 },
      cert: { type: 'string', minLength: 1 },
      key: { type: 'string', minLength: 1 },
      serverName: { type: 'string', minLength: 1 },
      insecureSkipVerify: { type: 'boolean' },
    },
  },
} as const;

/** Schema of `plugins.capabilities.kv` (true, or an object choosing the backend). */
export const KV_SCHEMA = {
  type: ['boolean', 'object'],
  additionalProperties: false,
  properties: {
    maxKeys: { type: 'integer', minimum: 1 },
    backend: { enum: ['memory', 'redis'], description: 'memory (default, this process only) or redis (shared by every instance)' },
    redis: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: { ...connectionProperties, keyPrefix: { type: 'string', description: 'prefix of every key (default terrarium:kv:)' } },
    },
  },
  description: 'true, or { maxKeys, backend, redis }',
} as const;

/** Schema of `providers` (dynamic configuration besides the file). */
export const PROVIDERS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    redis: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        ...connectionProperties,
        rootKey: { type: 'string', minLength: 1, pattern: '^[^*?\\[\\]]+$', description: 'the key prefix of the configuration (default traefik)' },
        pollInterval: duration,
      },
    },
  },
} as const;

type IssueFn = (segs: (string | number)[], message: string) => void;

function ms(d: number | string | undefined, dflt: number, segs: (string | number)[], issue: IssueFn): number {
  if (d === undefined) return dflt;
  if (typeof d === 'number') return d;
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/.exec(d);
  const n = m ? Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const)[m[2] as 'ms' | 's' | 'm' | 'h'] : NaN;
  if (!(n > 0)) issue(segs, 'must be a positive duration, e.g. 100ms or 2s');
  return n;
}

function pem(v: string | undefined, baseDir: string, segs: (string | number)[], issue: IssueFn): string | undefined {
  if (v === undefined || v.includes('-----BEGIN')) return v;
  try {
    return readFileSync(path.resolve(baseDir, v), 'utf8');
  } catch (e) {
    issue(segs, `cannot read ${v}: ${(e as Error).message}`);
    return undefined;
  }
}

function resolveConnection(c: RedisConnectionConfig, segs: (string | number)[], baseDir: string, issue: IssueFn, timeoutDefault: number): ResolvedRedis {
  const t = c.tls;
  const tls =
    t || c.url.startsWith('rediss://')
      ? {
          ...(t?.ca ? { ca: pem(t.ca, baseDir, [...segs, 'tls', 'ca'], issue) } : {}),
          ...(t?.cert ? { cert: pem(t.cert, baseDir, [...segs, 'tls', 'cert'], issue) } : {}),
          ...(t?.key ? { key: pem(t.key, baseDir, [...segs, 'tls', 'key'], issue) } : {}),
          ...(t?.serverName ? { servername: t.serverName } : {}),
          rejectUnauthorized: !(t?.insecureSkipVerify ?? false),
        }
      : undefined;
  return {
    url: c.url,
    ...(c.username !== undefined ? { username: c.username } : {}),
    ...(c.password !== undefined ? { password: c.password } : {}),
    ...(c.db !== undefined ? { db: c.db } : {}),
    dialTimeoutMs: ms(c.dialTimeout, 2000, [...segs, 'dialTimeout'], issue),
    timeoutMs: ms(c.timeout, timeoutDefault, [...segs, 'timeout'], issue),
    ...(tls ? { tls } : {}),
  };
}

/** Check `plugins.capabilities.kv` (its shape is already valid). */
export function resolveKv(kv: boolean | KvConfig | undefined, baseDir: string, issue: IssueFn): ResolvedKv | undefined {
  if (kv === undefined || kv === false) return undefined;
  const k: KvConfig = kv === true ? {} : kv;
  const backend = k.backend ?? (k.redis ? 'redis' : 'memory');
  const segs = ['plugins', 'capabilities', 'kv'];
  if (backend === 'redis' && !k.redis) issue([...segs, 'backend'], 'backend redis needs a redis block: redis: { url: redis://127.0.0.1:6379 }');
  if (backend === 'memory' && k.redis) issue([...segs, 'redis'], 'a redis block needs backend: redis (or remove backend)');
  const out: ResolvedKv = { maxKeys: k.maxKeys ?? 100_000, backend };
  if (backend === 'redis' && k.redis) out.redis = { ...resolveConnection(k.redis, [...segs, 'redis'], baseDir, issue, 100), keyPrefix: k.redis.keyPrefix ?? 'terrarium:kv:' };
  return out;
}

/** Check `providers.redis` (its shape is already valid). */
export function resolveRedisProvider(p: ProvidersConfig | undefined, baseDir: string, issue: IssueFn): ResolvedRedisProvider | undefined {
  const r = p?.redis;
  if (!r) return undefined;
  const segs = ['providers', 'redis'];
  return {
    ...resolveConnection(r, segs, baseDir, issue, 1000),
    rootKey: (r.rootKey ?? 'traefik').replace(/\/+$/, ''),
    pollIntervalMs: ms(r.pollInterval, 500, [...segs, 'pollInterval'], issue),
  };
}

