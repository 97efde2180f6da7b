/**
 * `terrarium serve --workers N`: the cluster primary. It runs no gateway itself: it forks N
 * workers (cluster-worker.ts) that share the entry points' listening sockets through node:cluster,
 * and it
 * - replaces a worker that dies (and logs it), backing off when workers keep dying at start;
 * - passes SIGHUP on to every worker (a config file change and plugin hot reload reach every
 *   worker by themselves: each watches the files);
 * - on SIGTERM/SIGINT asks every worker to drain and waits for them all;
 * - serves the admin address for the whole gateway, with the same auth, page and actions as one
 *   gateway's (cluster-admin.ts): `/metrics` aggregated across workers, the `/api/*` views and
 *   the dashboard merged, `/api/workers`.
 */
import cluster, { type Worker } from 'node:cluster';
import type http from 'node:http';
import type { Logger } from '../../types.js';
import { createAdminHttp } from '../admin/api.js';
import { adminAuth } from '../admin/auth.js';
import { clusterBackend } from './cluster-admin.js';
import { isFromWorker, type FromWorker, type ToWorker } from './cluster-messages.js';
import type { ResolvedConfig } from '../config/model.js';
import { listenOn, type BoundAddress } from './listeners.js';

export interface PrimaryOptions {
  workers: number;
  logger: Logger;
  /** How long a stop waits for workers to drain before killing them (default 15000 ms). */
  shutdownTimeoutMs?: number;
  /** How long a query (metrics, views) waits for a worker (default 2000 ms). */
  queryTimeoutMs?: number;
}

/** A running cluster primary. */
export interface Primary {
  /** Entry point URLs, as the first worker bound them. */
  readonly entryPoints: Record<string, string>;
  readonly admin: BoundAddress | undefined;
  /** Workers now running, by pid. */
  workerPids(): number[];
  /** Ask every worker to reload its configuration. */
  reload(): void;
  /** Drain and stop every worker, then close the admin server. */
  close(): Promise<void>;
  /** Settles when the primary has stopped (close(), or every worker failed at start). */
  readonly done: Promise<void>;
}

export { mergeViews } from './cluster-admin.js';

/**
 * Start the primary: fork the workers and wait until every one is listening (or failed).
 * Rejects with the first worker's failure when no worker could start.
 * @example const p = await startPrimary(config, { workers: 4, logger }); process.on('SIGHUP', () => p.reload())
 */
export async function startPrimary(config: ResolvedConfig, options: PrimaryOptions): Promise<Primary> {
  const { logger } = options;
  const queryTimeoutMs = options.queryTimeoutMs ?? 2000;
  let stopping = false;
  let entryPoints: Record<string, string> = {};
  let adminServer: http.Server | undefined;
  let admin: BoundAddress | undefined;
  let restarts = 0;
  let quickDeaths = 0;
  let seq = 0;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));

  const live = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
  const post = (w: Worker, m: ToWorker) => {
    if (w.isConnected()) w.send(m);
  };
  const query = (w: Worker, what: string, timeoutMs = queryTimeoutMs): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = ++seq;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`worker ${w.process.pid} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      post(w, { type: 'query', id, what });
    });
  const queryAll = async (what: string, timeoutMs?: number) => {
    const ws = live();
    const settled = await Promise.allSettled(ws.map((w) => query(w, what, timeoutMs)));
    return settled.flatMap((s, i) => (s.status === 'fulfilled' ? [{ pid: ws[i]!.process.pid!, data: s.value }] : []));
  };

  let firstReady: (() => void) | undefined;
  let firstFailed: ((e: Error) => void) | undefined;
  const fork = () => {
    const startedAt = Date.now();
    const w = cluster.fork();
    let ready = false;
    w.on('message', (m: unknown) => {
      if (!isFromWorker(m)) return;
      const msg = m as FromWorker;
      if (msg.type === 'ready') {
        ready = true;
        if (Object.keys(entryPoints).length === 0) entryPoints = msg.entryPoints;
        firstReady?.();
      } else if (msg.type === 'failed') {
        const e = Object.assign(new Error(msg.message), { issues: msg.issues, exitCode: msg.exitCode });
        firstFailed?.(e);
      } else if (msg.type === 'reloaded') {
        if (!msg.ok) logger.warn({ worker: w.process.pid, source: msg.source }, `worker ${w.process.pid}: reload rejected, it keeps its running configuration`);
      } else if (msg.type === 'answer') {
        const p = pending.get(msg.id);
        if (!p) return;
        pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.data);
        else p.reject(new Error(msg.error ?? 'query failed'));
      }
    });
    w.on('exit', (code, signal) => {
      if (stopping) return;
      const how = signal ? `signal ${signal}` : `code ${code}`;
      if (!ready && Object.keys(entryPoints).length === 0) return; // a start failure: reported by 'failed'
      restarts++;
      // A worker dying right after start (a crash loop) is restarted more and more slowly.
      quickDeaths = Date.now() - startedAt < 5000 ? quickDeaths + 1 : 0;
      const delay = Math.min(quickDeaths * 1000, 10_000);
      logger.warn({ worker: w.process.pid, code, signal, restarts, delayMs: delay }, `worker ${w.process.pid} exited (${how}); starting a new one${delay ? ` in ${delay} ms` : ''}`);
      setTimeout(() => {
        if (!stopping) fork();
      }, delay).unref();
    });
  };

  // Refused before any worker starts when the admin would be open to the network (ERR_ADMIN_INSECURE).
  const auth = config.admin ? adminAuth(config.admin, config.file, logger) : undefined;

  // Wait for every worker of the first round: all listening, or the first failure.
  await new Promise<void>((resolve, reject) => {
    let readyCount = 0;
    firstReady = () => {
      if (++readyCount === options.workers) resolve();
    };
    firstFailed = (e) => {
      stopping = true;
      for (const w of live()) post(w, { type: 'stop' });
      reject(e);
    };
    for (let i = 0; i < options.workers; i++) fork();
  });
  firstReady = undefined;
  firstFailed = undefined;
  logger.info({ workers: options.workers, pids: live().map((w) => w.process.pid) }, `${options.workers} workers listening`);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= shutdown());
  const shutdown = async () => {
    stopping = true;
    const ws = live();
    const exits = ws.map((w) => new Promise<void>((resolve) => (w.isDead() ? resolve() : w.once('exit', () => resolve()))));
    for (const w of ws) post(w, { type: 'stop' });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(exits),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          logger.warn({ workers: live().map((w) => w.process.pid) }, 'shutdown timeout: killing workers still running');
          for (const w of live()) w.process.kill('SIGKILL');
          resolve();
        }, options.shutdownTimeoutMs ?? 15_000);
      }),
    ]);
    clearTimeout(timer);
    await Promise.all(exits);
    if (adminServer) {
      const s = adminServer;
      adminServer = undefined;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    }
    logger.info({}, 'gateway stopped (all workers)');
    resolveDone();
  };

  if (config.admin) {
    adminServer = createAdminHttp(clusterBackend({ live, queryAll, restarts: () => restarts }), { auth: auth!, logger });
    try {
      admin = await listenOn(adminServer, config.admin, 'admin', config.file);
    } catch (e) {
      // The workers are running already: stop them before reporting.
      adminServer = undefined;
      await close();
      throw e;
    }
  }

  return {
    get entryPoints() {
      return entryPoints;
    },
    admin,
    workerPids: () => live().map((w) => w.process.pid!),
    reload() {
      const ws = live();
      logger.info({ workers: ws.map((w) => w.process.pid) }, `reloading the configuration in ${ws.length} workers`);
      for (const w of ws) post(w, { type: 'reload' });
    },
    close,
    done,
  };
}
