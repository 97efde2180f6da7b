/**
 * One worker of `terrarium serve --workers N` (see cluster.ts): a whole gateway whose entry points
 * share the primary's listening sockets (node:cluster), without an admin server (the primary
 * serves it, asking each worker for its views and metrics over IPC). It stops gracefully when the
 * primary says so, on SIGTERM/SIGINT, or when the primary goes away.
 */
import type { Logger } from '../../types.js';
import { localBackend } from '../admin/backend.js';
import type { FromWorker, ToWorker, WorkerStatus } from './cluster-messages.js';
import { createRegistry } from '../admin/metrics.js';
import { gatewayView } from './server.js';
import { onProcess, openGateway, type StartFailure } from './process.js';

function send(m: FromWorker): void {
  process.send?.(m);
}

/** Tag every log line with the worker's pid, so lines from several workers can be told apart. */
function tagged(logger: Logger): Logger {
  const worker = process.pid;
  return {
    debug: (o, m) => logger.debug({ worker, ...o }, m),
    info: (o, m) => logger.info({ worker, ...o }, m),
    warn: (o, m) => logger.warn({ worker, ...o }, m),
    error: (o, m) => logger.error({ worker, ...o }, m),
  };
}

/**
 * Run the gateway as a cluster worker until told to stop.
 * @example if (cluster.isWorker) await runWorker('gateway.yaml', { logger, watch: true })
 */
export async function runWorker(file: string, options: { logger: Logger; watch: boolean }): Promise<void> {
  const logger = tagged(options.logger);
  // Any start failure, a bug included, is reported to the primary.
  const opened = await openGateway(file, { logger, watchConfig: options.watch, admin: false }).catch((e: unknown) => ({
    failure: { message: (e as Error)?.message ?? String(e), exitCode: 1 } as StartFailure,
  }));
  if ('failure' in opened) {
    const f = opened.failure;
    send({ type: 'failed', message: f.message, ...(f.issues ? { issues: f.issues } : {}), exitCode: f.exitCode });
    process.exitCode = 2;
    process.disconnect?.();
    return;
  }
  const gw = opened.gateway;
  const startedAt = new Date().toISOString();
  const view = gatewayView(gw);
  const registry = createRegistry(view.stats, () => view.host.plugins);
  // The dashboard's data and actions of this worker, for the primary's admin (its auth and page).
  const backend = localBackend({ ...view, gateway: { reload: () => gw.reload(), on: (e, l) => gw.on(e, l) } });
  gw.on('reload', (e) => send({ type: 'reloaded', ok: e.ok, source: e.source, ...(e.error ? { error: e.error.message } : {}) }));

  let stopped: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (stopped = resolve));
  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason: why }, `worker ${process.pid}: shutting down (finishing requests in flight)`);
    gw.close().then(stopped, (e: unknown) => {
      logger.error({ err: (e as Error)?.message }, `worker ${process.pid}: shutdown failed`);
      process.exitCode = 1;
      stopped();
    });
  };
  const status = (): WorkerStatus => ({
    pid: process.pid,
    startedAt,
    inFlight: view.stats.inFlight,
    requests: [...view.stats.routers.values()].reduce((n, r) => n + r.requests, 0),
    reloads: { ...view.stats.reloads },
    routers: view.runtime().routers.map((r) => r.name),
  });
  const answer = async (id: number, what: string) => {
    try {
      let data: unknown;
      if (what === 'metrics') data = await registry.getMetricsAsJSON();
      else if (what === 'status') data = status();
      else if (what === 'dashboard') data = { ...backend.data(), worker: status() };
      else if (what.startsWith('act:')) {
        const done = backend.act(what.slice(4));
        if (!done) throw new Error(`unknown action ${what.slice(4)}`);
        data = await done;
      } else {
        const got = backend.view(what);
        if (!got) throw new Error(`unknown view ${what}`);
        data = await got;
      }
      send({ type: 'answer', id, ok: true, data });
    } catch (e) {
      send({ type: 'answer', id, ok: false, error: (e as Error)?.message ?? String(e) });
    }
  };
  const onMessage = (m: ToWorker) => {
    if (m?.type === 'stop') stop('asked by the primary');
    else if (m?.type === 'reload') void gw.reload().catch(() => undefined);
    else if (m?.type === 'query') void answer(m.id, m.what);
  };
  const onSignal = (signal: NodeJS.Signals) => stop(signal);
  // Ctrl-C reaches the whole process group: the primary handles it and stops every worker.
  const onInt = () => undefined;
  const onHup = () => void gw.reload().catch(() => undefined);
  // Without its primary a worker would serve on unsupervised: it stops.
  const onDisconnect = () => stop('the primary went away');
  const off = onProcess({ message: onMessage, SIGTERM: onSignal, SIGINT: onInt, SIGHUP: onHup, disconnect: onDisconnect });
  send({ type: 'ready', entryPoints: Object.fromEntries(Object.entries(gw.entryPoints).map(([n, a]) => [n, a.url])) });
  try {
    await done;
  } finally {
    off();
    backend.close();
    process.disconnect?.();
  }
}
