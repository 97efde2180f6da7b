/**
 * The Redis provider: the routers, middlewares and services of the configuration, read from Redis
 * in Traefik's KV layout and laid over the file's (`providers.redis` in the file). One key per
 * value under `rootKey` (default `traefik`):
 *
 *   traefik/http/routers/api/rule                     PathPrefix(`/api`)
 *   traefik/http/routers/api/entrypoints/0            web
 *   traefik/http/routers/api/middlewares/0            limit
 *   traefik/http/routers/api/service                  echo
 *   traefik/http/middlewares/limit/plugin/rate-limit/limit   10
 *   traefik/http/services/app/loadbalancer/servers/0/url     http://127.0.0.1:3000
 *
 * Names of the configuration's own fields match case-insensitively (`entrypoints`, `entryPoints`);
 * router, middleware, service and plugin names and plugin options are kept as written. Values are
 * strings typed by the schema (`priority` a number, `failOpen` a boolean); in plugin options
 * `true`/`false` and numbers are typed, and a value starting with `{`, `[` or `"` is read as JSON
 * (write `"123"` for the string). Numbered keys (`0`, `1`) make lists. A router, middleware or
 * service defined in Redis replaces the file's of the same name as a whole.
 *
 * Redis is polled (SCAN + MGET under `rootKey/http/`, every `pollInterval`, default 500 ms), which
 * works with any Redis (keyspace notifications are often disabled in managed ones). A change is
 * checked exactly like the file: a bad one is refused with every wrong key named, and the last
 * good configuration keeps serving. While Redis is unreachable the last configuration read stays.
 */
import { Redis } from 'ioredis';
import type { Logger } from '../../../types.js';
import { GATEWAY_SCHEMA } from '../schema.js';
import { dotted } from '../issues.js';
import type { Place } from '../model.js';
import type { Parsed } from '../yaml.js';
import { redactUrl } from '../../kv/redis.js';
import type { ResolvedRedisProvider } from '../model.js';
import { ioredisOptions } from '../../kv/redis-options.js';

/** A running provider. */
export interface RedisProvider {
  /** Lay the snapshot over a parsed file (for readConfig). */
  overlay(parsed: Parsed): Parsed;
  /** Called when what Redis holds changed. */
  onChange(listener: () => void): void;
  /** The keys read last time (for tests and the log). */
  readonly keys: number;
  close(): Promise<void>;
}

type Schema = { type?: string | readonly string[]; properties?: Record<string, Schema>; additionalProperties?: Schema | boolean; items?: Schema };

const SECTIONS = ['routers', 'middlewares', 'services'] as const;
const UNSAFE = new Set(['__proto__', 'constructor', 'prototype']);
const httpSchema = (GATEWAY_SCHEMA.properties.http as unknown as Schema).properties!;

function typesOf(s: Schema | undefined): readonly string[] {
  if (!s?.type) return [];
  return typeof s.type === 'string' ? [s.type] : s.type;
}

/** A Redis string as the value the schema expects. */
function typed(raw: string, s: Schema | undefined): unknown {
  const c = raw.charAt(0);
  if (c === '{' || c === '[' || c === '"') {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      return raw;
    }
  }
  const types = typesOf(s);
  const free = types.length === 0;
  if ((free || types.includes('boolean')) && (raw === 'true' || raw === 'false')) return raw === 'true';
  if ((free || types.includes('number') || types.includes('integer')) && /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/.test(raw)) return Number(raw);
  return raw;
}

/** Objects keyed 0..n-1 become arrays. */
function listify(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) o[k] = listify(o[k]);
  const keys = Object.keys(o);
  if (keys.length > 0 && keys.every((k, i) => /^(0|[1-9][0-9]*)$/.test(k)) && keys.map(Number).sort((a, b) => a - b).every((n, i) => n === i)) {
    return keys.map(Number).sort((a, b) => a - b).map((n) => o[String(n)]);
  }
  return o;
}

interface Tree {
  http: Record<string, Record<string, unknown>>;
  /** Keys left out: a segment such as `__proto__` could reach object prototypes. */
  ignored: string[];
  /** Dotted config path of each value, to its Redis key. */
  keyOf: Map<string, string>;
  /** `routers.api` etc.: the entries Redis defines. */
  names: Map<string, string>;
}

/** Turn `rootKey/http/...` keys into the `http` part of a configuration. */
export function buildTree(rootKey: string, entries: ReadonlyMap<string, string>): Tree {
  const http: Record<string, Record<string, unknown>> = {};
  const keyOf = new Map<string, string>();
  const names = new Map<string, string>();
  const ignored: string[] = [];
  const prefix = `${rootKey}/http/`;
  for (const [key, raw] of [...entries].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (!key.startsWith(prefix)) continue;
    const segs = key.slice(prefix.length).split('/');
    if (segs.some((x) => UNSAFE.has(x) || x === '')) {
      ignored.push(key);
      continue;
    }
    const section = SECTIONS.find((x) => x === segs[0]?.toLowerCase());
    const name = segs[1];
    if (!section || !name || segs.length < 3) continue;
    let schema: Schema | undefined = (httpSchema[section]!.additionalProperties as Schema) ?? undefined;
    const path: (string | number)[] = ['http', section, name];
    let node = (http[section] ??= {}) as Record<string, unknown>;
    node = (node[name] ??= {}) as Record<string, unknown>;
    names.set(`${section}.${name}`, `${prefix}${segs[0]}/${name}/*`);
    const rest = segs.slice(2);
    rest.forEach((seg, i) => {
      let field = seg;
      let next: Schema | undefined;
      const props = schema?.properties;
      const known = props && Object.keys(props).find((p) => p.toLowerCase() === seg.toLowerCase());
      if (known) {
        field = known;
        next = props[known];
      } else if (schema && typesOf(schema).includes('array')) next = schema.items;
      else if (schema && typeof schema.additionalProperties === 'object') next = schema.additionalProperties;
      path.push(/^(0|[1-9][0-9]*)$/.test(field) && typesOf(schema).includes('array') ? Number(field) : field);
      if (i === rest.length - 1) node[field] = typed(raw, next);
      else {
        const child = node[field];
        node = (child !== null && typeof child === 'object' ? child : (node[field] = {})) as Record<string, unknown>;
      }
      schema = next;
    });
    keyOf.set(dotted(path), key);
  }
  for (const section of Object.keys(http)) for (const name of Object.keys(http[section]!)) http[section]![name] = listify(http[section]![name]);
  return { http, ignored, keyOf, names };
}

/** The file's configuration with Redis's routers, middlewares and services laid over it. */
export function overlayTree(tree: Tree, parsed: Parsed): Parsed {
  if (tree.names.size === 0) return parsed;
  const value = (parsed.value !== null && typeof parsed.value === 'object' ? { ...(parsed.value as Record<string, unknown>) } : parsed.value) as Record<string, unknown>;
  if (value && typeof value === 'object') {
    const http = { ...((value.http as Record<string, unknown> | undefined) ?? {}) };
    for (const [section, entries] of Object.entries(tree.http)) http[section] = { ...((http[section] as Record<string, unknown> | undefined) ?? {}), ...entries };
    value.http = http;
  }
  const where = (segs: readonly (string | number)[]): Place => {
    if (segs[0] === 'http' && tree.names.has(`${String(segs[1])}.${String(segs[2])}`)) {
      for (let n = segs.length; n >= 3; n--) {
        const key = tree.keyOf.get(dotted(segs.slice(0, n)));
        if (key) return { file: `redis key ${key}` };
      }
      return { file: `redis keys ${tree.names.get(`${String(segs[1])}.${String(segs[2])}`)}` };
    }
    return parsed.where(segs);
  };
  return { value, file: parsed.file, where };
}

async function snapshot(redis: Redis, rootKey: string): Promise<Map<string, string>> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${rootKey}/http/*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  const out = new Map<string, string>();
  const unique = [...new Set(keys)];
  for (let i = 0; i < unique.length; i += 500) {
    const chunk = unique.slice(i, i + 500);
    const values = await redis.mget(...chunk);
    chunk.forEach((k, j) => {
      const v = values[j];
      if (typeof v === 'string') out.set(k, v);
    });
  }
  return out;
}

function fingerprint(m: ReadonlyMap<string, string>): string {
  return JSON.stringify([...m].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
}

/**
 * Connect, read the configuration once (waiting up to dialTimeout; without Redis the file alone
 * serves until it answers), then poll.
 * @example const provider = await startRedisProvider(config.redisProvider, logger)
 */
export async function startRedisProvider(config: ResolvedRedisProvider, logger: Logger): Promise<RedisProvider> {
  const where = redactUrl(config.url);
  // Unlike kv calls, a poll may wait for the connection: it runs in the background.
  const redis = new Redis(config.url, ioredisOptions(config));
  redis.on('error', () => undefined);
  let tree = buildTree(config.rootKey, new Map());
  let seen = fingerprint(new Map());
  let down = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const listeners: (() => void)[] = [];

  const poll = async (): Promise<boolean> => {
    try {
      const snap = await snapshot(redis, config.rootKey);
      if (down) logger.info({ provider: 'redis', url: where }, `provider redis: ${where} answers again`);
      down = false;
      const f = fingerprint(snap);
      if (f === seen) return false;
      seen = f;
      tree = buildTree(config.rootKey, snap);
      if (tree.ignored.length > 0)
        logger.warn({ provider: 'redis', keys: tree.ignored }, `provider redis: keys ignored (empty segment, or __proto__/constructor/prototype): ${tree.ignored.join(', ')}`);
      return true;
    } catch (e) {
      if (closed) return false;
      if (!down)
        logger.warn({ provider: 'redis', url: where, err: (e as Error).message }, `provider redis: cannot read ${config.rootKey}/http/ from ${where} (${(e as Error).message}); the configuration read last keeps serving`);
      down = true;
      return false;
    }
  };
  const loop = () => {
    timer = setTimeout(() => {
      void poll().then((changed) => {
        if (closed) return;
        if (changed) {
          logger.info({ provider: 'redis', keys: tree.keyOf.size }, `provider redis: configuration changed under ${config.rootKey}/http/`);
          for (const l of listeners) l();
        }
        loop();
      });
    }, config.pollIntervalMs);
    timer.unref();
  };

  await Promise.race([redis.connect().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, config.dialTimeoutMs).unref())]);
  if (redis.status === 'ready') await poll();
  else {
    down = true;
    logger.warn({ provider: 'redis', url: where }, `provider redis: no connection to ${where} within ${config.dialTimeoutMs} ms; serving the file's configuration until it answers`);
  }
  loop();
  return {
    overlay: (parsed) => overlayTree(tree, parsed),
    onChange: (l) => void listeners.push(l),
    get keys() {
      return tree.keyOf.size;
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      redis.disconnect();
    },
  };
}
