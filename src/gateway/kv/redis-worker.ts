/**
 * The thread behind the `redis` kv backend (kv-redis.ts): it owns the ioredis connection, runs
 * each operation the gateway thread posts on `port`, posts the answer back and wakes the waiting
 * gateway thread through `flags[0]`. `flags[1]` is 1 while the connection is ready, so the gateway
 * thread fails at once (no wait) while Redis is down. Events for the log go to parentPort.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { Redis } from 'ioredis';
import type { ResolvedKv } from '../config/model.js';
import { ioredisOptions } from './redis-options.js';

interface Data {
  port: MessagePort;
  flags: Int32Array;
  config: NonNullable<ResolvedKv['redis']>;
}
export interface KvRequest {
  id: number;
  op: 'get' | 'set' | 'incr' | 'delete';
  key: string;
  /** JSON text (set). */
  value?: string;
  by?: number;
  ttlMs?: number;
}
export type KvReply = { id: number; ok: unknown } | { id: number; reason: 'timeout' | 'error' | 'disconnected'; message: string };

// A new counter starts its TTL (a fixed window); an existing one keeps its expiry. A value that is
// not a number restarts the counter, as in the memory backend.
const INCR = `
local cur = redis.call('GET', KEYS[1])
local existed = cur ~= false
if existed and tonumber(cur) == nil then redis.call('DEL', KEYS[1]); existed = false; cur = false end
local by = tonumber(ARGV[1])
local n
if by == math.floor(by) and (not cur or string.find(cur, '^-?%d+$')) then n = redis.call('INCRBY', KEYS[1], ARGV[1]) else n = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1]) end
if not existed and tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return tostring(n)
`;

const { port, flags, config } = workerData as Data;
const redis = new Redis(config.url, ioredisOptions(config, { keyPrefix: config.keyPrefix })) as Redis & { tincr(key: string, by: number, ttlMs: number): Promise<string> };
redis.defineCommand('tincr', { numberOfKeys: 1, lua: INCR });

let last = '';
const report = (state: string, detail?: string) => {
  Atomics.store(flags, 1, state === 'ready' ? 1 : 0);
  // One line per change of state, not one per reconnection attempt.
  if (state !== last) parentPort?.postMessage({ state, detail });
  last = state;
};
redis.on('ready', () => report('ready'));
redis.on('close', () => report('down', 'connection closed'));
redis.on('end', () => report('down', 'connection ended'));
redis.on('error', (e: Error) => report('down', e.message));

async function run(m: KvRequest): Promise<unknown> {
  switch (m.op) {
    case 'get': {
      const v = await redis.get(m.key);
      return v === null ? undefined : (JSON.parse(v) as unknown);
    }
    case 'set':
      if (m.value === undefined) await redis.del(m.key);
      else if (m.ttlMs && m.ttlMs > 0) await redis.set(m.key, m.value, 'PX', Math.ceil(m.ttlMs));
      else await redis.set(m.key, m.value);
      return true;
    case 'incr':
      return Number(await redis.tincr(m.key, m.by ?? 1, m.ttlMs && m.ttlMs > 0 ? Math.ceil(m.ttlMs) : 0));
    case 'delete':
      return (await redis.del(m.key)) > 0;
  }
}

port.on('message', (m: KvRequest | 'close') => {
  if (m === 'close') {
    redis.disconnect();
    port.close();
    return;
  }
  run(m).then(
    (ok) => answer({ id: m.id, ok }),
    (e: Error) => {
      const message = e?.message ?? String(e);
      const reason = /timed out/i.test(message) ? 'timeout' : redis.status !== 'ready' ? 'disconnected' : 'error';
      answer({ id: m.id, reason, message });
    },
  );
});

function answer(r: KvReply): void {
  port.postMessage(r);
  Atomics.add(flags, 0, 1);
  Atomics.notify(flags, 0);
}

redis.connect().catch(() => undefined);
