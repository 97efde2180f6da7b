/**
 * The dashboard of `--workers N`: every worker's DashboardData made into one, the aggregate, with
 * the list of workers. Counters, histograms and memory are summed; a plugin's status is the
 * worst of its workers' (each worker's under `workerStatus` when they differ), its re-probe the
 * soonest, its last error the newest; events and log lines are merged by time, tagged with the
 * worker's pid, and kept as bounded as in one gateway.
 */
import type { DashboardData } from './backend.js';

/** What a worker says about itself, with its dashboard data. */
export interface WorkerSummary {
  pid: number;
  startedAt: string;
  inFlight: number;
  requests: number;
  reloads: { success: number; failure: number };
}

export type ClusterDashboard = DashboardData & { workers: (WorkerSummary & { notReady: string[] })[] };

type Item = Record<string, unknown> & { name: string };

/** Numbers added, objects added key by key, arrays of numbers added element-wise; anything else: the first. */
export function sumDeep(values: unknown[]): unknown {
  const present = values.filter((v) => v !== undefined);
  if (present.length === 0) return undefined;
  if (present.every((v) => typeof v === 'number')) return (present as number[]).reduce((a, b) => a + b, 0);
  if (present.every((v) => Array.isArray(v) && v.every((x) => typeof x === 'number'))) {
    const arrays = present as number[][];
    return arrays[0]!.map((_, i) => arrays.reduce((a, arr) => a + (arr[i] ?? 0), 0));
  }
  if (present.every((v) => v !== null && typeof v === 'object' && !Array.isArray(v))) {
    const keys = new Set(present.flatMap((v) => Object.keys(v as object)));
    const out: Record<string, unknown> = {};
    // A histogram's bucket bounds are the same in every worker: kept, not added.
    for (const k of [...keys].sort()) out[k] = k === 'buckets' ? (present[0] as Record<string, unknown>)[k] : sumDeep(present.map((v) => (v as Record<string, unknown>)[k]));
    return out;
  }
  return present[0];
}

/** Worse first: the status a plugin shows when its workers disagree. */
const SEVERITY = ['failed', 'quarantined', 'restarting', 'loading', 'unloaded', 'broken', 'degraded', 'ready', 'enabled'];
const severity = (s: unknown) => {
  const i = SEVERITY.indexOf(String(s));
  return i < 0 ? -1 : i;
};

const byTime = <T extends { at: string }>(lists: T[][], max: number): T[] =>
  lists
    .flat()
    .sort((a, b) => a.at.localeCompare(b.at))
    .slice(-max);

const SUMMED = new Set(['counters', 'latency', 'memoryBytes']);

function mergeItems(answers: { pid: number; items: Item[] }[], maxLogs: number): Item[] {
  const byName = new Map<string, { pid: number; item: Item }[]>();
  for (const { pid, items } of answers) for (const item of items) byName.set(item.name, [...(byName.get(item.name) ?? []), { pid, item }]);
  const out: Item[] = [];
  for (const [name, entries] of byName) {
    const merged: Item = { name };
    const keys = new Set(entries.flatMap((e) => Object.keys(e.item)));
    for (const key of keys) {
      if (key === 'name') continue;
      const values = entries.map((e) => e.item[key]);
      if (SUMMED.has(key)) merged[key] = sumDeep(values);
      else if (key === 'status') {
        merged.status = values.reduce((w, v) => (severity(v) < severity(w) ? v : w), values[0]);
        if (values.some((v) => v !== values[0]) || entries.length < answers.length) merged.workerStatus = Object.fromEntries(entries.map((e) => [String(e.pid), e.item.status]));
      } else if (key === 'nextProbeAt') merged.nextProbeAt = (values.filter((v) => typeof v === 'string') as string[]).sort()[0];
      else if (key === 'lastError') merged.lastError = (values.filter((v) => v) as { at?: string }[]).sort((a, b) => String(a.at).localeCompare(String(b.at))).at(-1);
      else if (key === 'recent' || key === 'logs') {
        const tagged = entries.map((e) => ((e.item[key] as { at: string }[] | undefined) ?? []).map((x) => ({ ...x, worker: e.pid })));
        merged[key] = byTime(tagged, key === 'logs' ? maxLogs : 10);
      } else merged[key] = values.find((v) => v !== undefined);
    }
    out.push(merged);
  }
  return out;
}

/**
 * One dashboard from the workers' answers.
 * @example mergeDashboards([{ pid: 11, data: a }, { pid: 12, data: b }]).workers.map((w) => w.pid) // [11, 12]
 */
export function mergeDashboards(answers: { pid: number; data: DashboardData & { worker: WorkerSummary } }[], maxLogs = 50): ClusterDashboard {
  const list = (k: 'plugins' | 'routers' | 'middlewares' | 'services') => mergeItems(answers.map((a) => ({ pid: a.pid, items: a.data[k] as Item[] })), maxLogs);
  const gateways = answers.map((a) => a.data.gateway);
  return {
    plugins: list('plugins') as DashboardData['plugins'],
    routers: list('routers'),
    middlewares: list('middlewares'),
    services: list('services'),
    gateway: {
      inFlight: gateways.reduce((n, g) => n + g.inFlight, 0),
      // Every worker reloads the same files: the count of one worker, the one that did most.
      reloads: { success: Math.max(0, ...gateways.map((g) => g.reloads.success)), failure: Math.max(0, ...gateways.map((g) => g.reloads.failure)) },
      canReload: gateways.some((g) => g.canReload),
      canReprobe: gateways.some((g) => g.canReprobe),
    },
    problems: [...new Set(answers.flatMap((a) => a.data.problems))],
    events: byTime(answers.map((a) => a.data.events.map((e) => ({ ...e, worker: a.pid }))), 20),
    workers: answers
      .map((a) => ({ ...a.data.worker, notReady: a.data.plugins.filter((p) => p.status !== 'ready').map((p) => p.name) }))
      .sort((x, y) => x.pid - y.pid),
  };
}
