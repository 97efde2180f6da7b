/**
 * The `redis` kv backend: `host.kv` shared by every worker and gateway instance through one Redis.
 *
 * Plugins call `host.kv.incr(...)` synchronously (the example rate limiter does), and that must keep
 * working unchanged, so each operation is synchronous here too: the connection lives in a worker
 * thread (kv-redis-worker.ts), and this thread posts the operation and waits on a shared counter
 * (Atomics.wait) for the answer. The wait is bounded by `timeout` (default 100 ms); a late answer
 * is recognised by its id and dropped. While Redis is down a call fails at once, and after three
 * timeouts in a row calls fail at once for a second (then one is let through), so a dead or
 * stalled Redis costs the gateway no waiting per request. Every failure is a KvUnavailableError
 * (ERR_KV_UNAVAILABLE) thrown inside the plugin. The price: this thread is blocked for one Redis
 * round trip per call (tens of µs on a LAN); spread the load with `--workers`.
 */
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { KvUnavailableError } from '../../errors.js';
import type { Logger } from '../../types.js';
import { kvCapability, type KvStore } from './store.js';
import type { KvReply, KvRequest } from './redis-worker.js';
import type { ResolvedKv } from '../config/model.js';

const OPEN_AFTER = 3;
const OPEN_MS = 1000;

/** Where Redis is: the URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable url)';
  }
}

/**
 * The worker's bootstrap. Run from the TypeScript sources (the tests, through tsx), the worker
 * thread does not inherit tsx's loader, so it registers it before importing the .ts file.
 */
function workerEntry(): string {
  const ts = import.meta.url.endsWith('.ts');
  const file = new URL(`./redis-worker.${ts ? 'ts' : 'js'}`, import.meta.url).href;
  return ts ? `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(file)}); })` : `import(${JSON.stringify(file)})`;
}

/**
 * Start the worker thread and wait (up to dialTimeout) for its first connection.
 * @example const kv = await openRedisKv({ url: 'redis://127.0.0.1:6379', keyPrefix: 'gw:', dialTimeoutMs: 2000, timeoutMs: 100 }, logger)
 */
export async function openRedisKv(config: NonNullable<ResolvedKv['redis']>, logger: Logger): Promise<KvStore> {
  const flags = new Int32Array(new SharedArrayBuffer(8));
  const where = redactUrl(config.url);
  let disposed = false;
  let firstReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (firstReady = resolve));
  let port1!: MessagePort;
  let worker!: Worker;
  const start = () => {
    const channel = new MessageChannel();
    port1 = channel.port1;
    worker = new Worker(workerEntry(), { eval: true, workerData: { port: channel.port2, flags, config }, transferList: [channel.port2] });
    worker.unref();
    port1.unref();
    worker.on('message', (m: { state: string; detail?: string }) => {
      if (m.state === 'ready') {
        firstReady();
        logger.info({ kv: 'redis', url: where }, `kv: connected to Redis at ${where}`);
      } else if (!disposed) {
        logger.warn({ kv: 'redis', url: where, detail: m.detail }, `kv: Redis at ${where} is unavailable (${m.detail ?? 'down'}); host.kv calls fail with ERR_KV_UNAVAILABLE until it is back`);
      }
    });
    worker.on('error', (e) => logger.error({ kv: 'redis', err: e.message }, `kv: the Redis thread failed: ${e.message}`));
    worker.on('exit', () => {
      Atomics.store(flags, 1, 0);
      if (disposed) return;
      // A bug in the thread must not leave the kv down for good: start a new one (calls fail meanwhile).
      logger.error({ kv: 'redis' }, 'kv: the Redis thread stopped; starting a new one in 1 s');
      port1.close();
      setTimeout(() => disposed || start(), 1000).unref();
    });
  };
  start();

  let seq = 0;
  let timeouts = 0;
  let openUntil = 0;
  const call = (req: Omit<KvRequest, 'id'>): unknown => {
    if (disposed || Atomics.load(flags, 1) !== 1) throw new KvUnavailableError('disconnected', req.op, `no connection to ${where}`);
    const now = performance.now();
    if (now < openUntil) throw new KvUnavailableError('timeout', req.op, `${OPEN_AFTER} calls in a row timed out; calls fail at once for ${OPEN_MS} ms`);
    const id = ++seq;
    port1.postMessage({ ...req, id });
    const deadline = now + config.timeoutMs;
    for (;;) {
      const seen = Atomics.load(flags, 0);
      let msg = receiveMessageOnPort(port1);
      // Answers to calls that already timed out come first: drop them.
      while (msg && (msg.message as KvReply).id !== id) msg = receiveMessageOnPort(port1);
      if (msg) {
        const r = msg.message as KvReply;
        if ('ok' in r) {
          timeouts = 0;
          return r.ok;
        }
        if (r.reason === 'timeout' && ++timeouts >= OPEN_AFTER) openUntil = performance.now() + OPEN_MS;
        throw new KvUnavailableError(r.reason, req.op, r.message);
      }
      const left = deadline - performance.now();
      if (left <= 0 || Atomics.wait(flags, 0, seen, left) === 'timed-out') {
        // One last look: the answer may have arrived with the deadline.
        const late = receiveMessageOnPort(port1);
        if (late && (late.message as KvReply).id === id && 'ok' in (late.message as KvReply)) return (late.message as { ok: unknown }).ok;
        if (++timeouts >= OPEN_AFTER) openUntil = performance.now() + OPEN_MS;
        throw new KvUnavailableError('timeout', req.op, `no answer from ${where} within ${config.timeoutMs} ms`);
      }
    }
  };

  const store: KvStore = {
    backend: 'redis',
    get size() {
      return -1;
    },
    get: (key) => call({ op: 'get', key: String(key) }),
    set(key, value, ttlMs) {
      if (value instanceof Uint8Array) throw new TypeError('kv.set: the redis backend stores JSON data; encode bytes as a string (e.g. base64)');
      const text = JSON.stringify(value);
      call({ op: 'set', key: String(key), ...(text === undefined ? {} : { value: text }), ...(typeof ttlMs === 'number' && ttlMs > 0 && Number.isFinite(ttlMs) ? { ttlMs } : {}) });
      return true;
    },
    incr(key, by = 1, ttlMs) {
      const step = typeof by === 'number' && Number.isFinite(by) ? by : 1;
      return call({ op: 'incr', key: String(key), by: step, ...(typeof ttlMs === 'number' && ttlMs > 0 && Number.isFinite(ttlMs) ? { ttlMs } : {}) }) as number;
    },
    delete: (key) => call({ op: 'delete', key: String(key) }) as boolean,
    get capability() {
      return kvCapability(store);
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      port1.postMessage('close');
      port1.close();
      void worker.terminate();
    },
    [Symbol.dispose]() {
      store.dispose();
    },
  };
  let timer: NodeJS.Timeout | undefined;
  const dialed = await Promise.race([ready.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), config.dialTimeoutMs)))]);
  clearTimeout(timer);
  if (!dialed) logger.warn({ kv: 'redis', url: where }, `kv: no connection to Redis at ${where} within ${config.dialTimeoutMs} ms; starting anyway (host.kv calls fail with ERR_KV_UNAVAILABLE until it answers)`);
  return store;
}
