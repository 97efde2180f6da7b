/**
 * The admin backend of a cluster primary (cluster.ts): each request asks every live worker over
 * IPC and merges the answers. `/metrics` through prom-client's AggregatorRegistry (counters and
 * histograms summed), the `/api/*` views with mergeViews, the dashboard with mergeDashboards (the
 * aggregate and each worker), `/api/workers`; an action runs in every worker (a reload, or a
 * re-probe of the plugin, which each worker quarantined on its own).
 */
import type { Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { AdminBackend, DashboardData } from '../admin/backend.js';
import { isDeepStrictEqual } from 'node:util';
import { mergeDashboards, sumDeep, type WorkerSummary } from '../admin/merge.js';
import type { WorkerStatus } from './cluster-messages.js';

export interface ClusterQueries {
  live(): Worker[];
  /** Ask every live worker; the answers of those that answered in time. */
  queryAll(what: string, timeoutMs?: number): Promise<{ pid: number; data: unknown }[]>;
  restarts(): number;
}

const VIEWS = ['/api/plugins', '/api/routers', '/api/middlewares', '/api/services'];
/** An action (a reload) may take longer than a query for figures. */
const ACTION_TIMEOUT_MS = 30_000;

/** Fields summed across workers besides `counters`. */
const SUMMED = new Set(['memoryBytes', 'inFlight']);

/**
 * Merge one admin view (a list of objects with a `name`) answered by several workers: counters
 * and memory summed, equal fields once, a field that differs listed per worker pid under `workers`.
 * @example mergeViews([{ pid: 1, data: [{ name: 'a', status: 'loaded' }] }, { pid: 2, data: [{ name: 'a', status: 'failed' }] }])
 * // [{ name: 'a', workers: { '1': { status: 'loaded' }, '2': { status: 'failed' } } }]
 */
export function mergeViews(answers: { pid: number; data: unknown }[]): unknown[] {
  const byName = new Map<string, { pid: number; item: Record<string, unknown> }[]>();
  for (const { pid, data } of answers) {
    if (!Array.isArray(data)) continue;
    for (const item of data as Record<string, unknown>[]) {
      const name = String(item.name);
      if (!byName.has(name)) byName.set(name, []);
      byName.get(name)!.push({ pid, item });
    }
  }
  const out: unknown[] = [];
  for (const [name, entries] of byName) {
    const merged: Record<string, unknown> = { name };
    const perWorker: Record<string, Record<string, unknown>> = {};
    const keys = new Set(entries.flatMap((e) => Object.keys(e.item)));
    keys.delete('name');
    for (const key of keys) {
      const values = entries.map((e) => e.item[key]);
      if (key === 'counters' || SUMMED.has(key)) merged[key] = sumDeep(values.map((v) => v ?? 0));
      else if (values.every((v) => isDeepStrictEqual(v, values[0])) && entries.length === answers.length) merged[key] = values[0];
      else for (const e of entries) (perWorker[String(e.pid)] ??= {})[key] = e.item[key];
    }
    // Also say which workers lack it entirely.
    for (const { pid } of answers) if (!entries.some((e) => e.pid === pid)) perWorker[String(pid)] = { missing: true };
    if (Object.keys(perWorker).length > 0) merged.workers = perWorker;
    out.push(merged);
  }
  return out;
}

export function clusterBackend(q: ClusterQueries): AdminBackend {
  // Every worker is a whole gateway: its host can re-probe.
  const actions = ['/api/reload', '/api/plugins/{name}/reprobe'];
  return {
    viewPaths: [...VIEWS, '/api/workers'],
    view(path) {
      if (path === '/api/workers') return q.queryAll('status').then((answers) => answers.map((a) => a.data as WorkerStatus).sort((a, b) => a.pid - b.pid));
      if (VIEWS.includes(path)) return q.queryAll(path).then((answers) => mergeViews(answers));
      return undefined;
    },
    async snapshot() {
      const answers = (await q.queryAll('dashboard')) as { pid: number; data: DashboardData & { worker: WorkerSummary } }[];
      if (answers.length === 0) throw new Error('no worker answered');
      return JSON.stringify(mergeDashboards(answers));
    },
    async metrics() {
      const answers = await q.queryAll('metrics');
      const registry = AggregatorRegistry.aggregate(answers.map((a) => a.data as object));
      const own =
        '# HELP terrarium_cluster_workers Workers running now.\n# TYPE terrarium_cluster_workers gauge\n' +
        `terrarium_cluster_workers ${q.live().length}\n` +
        '# HELP terrarium_cluster_worker_restarts_total Workers started again after one exited.\n# TYPE terrarium_cluster_worker_restarts_total counter\n' +
        `terrarium_cluster_worker_restarts_total ${q.restarts()}\n`;
      return { contentType: registry.contentType, text: (await registry.metrics()) + own };
    },
    actions: () => actions,
    act(path) {
      if (path !== '/api/reload' && !/^\/api\/plugins\/[^/]+\/reprobe$/.test(path)) return undefined;
      return q.queryAll(`act:${path}`, ACTION_TIMEOUT_MS).then((answers) => {
        const results = answers.map((a) => ({ pid: a.pid, ...(a.data as { status: number; body: Record<string, unknown> }) }));
        if (results.length === 0) return { status: 503, body: { ok: false, error: 'no worker answered' } };
        // One answer for the whole gateway: the best status (a re-probe that started in one worker started), each worker's below.
        const status = Math.min(...results.map((r) => r.status));
        const ok = path === '/api/reload' ? results.every((r) => r.body.ok === true) : results.some((r) => r.body.ok === true);
        return { status, body: { ...results[0]!.body, ok, workers: Object.fromEntries(results.map((r) => [String(r.pid), r.body])) } };
      });
    },
    close() {},
  };
}
