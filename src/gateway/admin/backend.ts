/**
 * What the admin server (api.ts) serves, apart from HTTP, auth and the page: the JSON views, the
 * dashboard's data, /metrics and the actions. `localBackend` reads one gateway in this process;
 * a cluster primary has its own (serve/cluster.ts), asking every worker's localBackend over IPC,
 * so that both admin servers are one server with the same auth, CSRF and page.
 */
import { configIssueText, type ConfigIssue } from '../../errors.js';
import { HOST_EVENTS } from '../../host/events.js';
import { adminViews, type AdminSource } from './views.js';
import { createRegistry } from './metrics.js';

export interface AdminBackend {
  /** The JSON document at `path` (`/api/plugins`...), or undefined when there is none. */
  view(path: string): Promise<unknown> | undefined;
  /** Every view path, for a 404's list. */
  readonly viewPaths: readonly string[];
  /** The dashboard's data as JSON text, the same text while nothing changed (SSE sends only changes). */
  snapshot(): Promise<string>;
  metrics(): Promise<{ contentType: string; text: string }>;
  /** The actions there are (POST paths; `{name}` stands for a plugin's name). */
  actions(): string[];
  /** Run the action at a POST path, or undefined when there is no such action. */
  act(path: string): Promise<{ status: number; body: unknown }> | undefined;
  close(): void;
}

/** Recent lifecycle events of the host's plugins, the dashboard's log (bounded: the newest `max`). */
export class RecentEvents {
  readonly list: { at: string; plugin: string; event: string; reason?: string; code?: string; file?: string; line?: number }[] = [];
  constructor(private readonly max = 100) {}
  push(e: RecentEvents['list'][number]): void {
    this.list.push(e);
    if (this.list.length > this.max) this.list.splice(0, this.list.length - this.max);
  }
}

/** A histogram as the dashboard reads it: bucket upper bounds (seconds) and counts per bucket (the last: above). */
function histogramView(h: { buckets: readonly number[]; counts: Float64Array }): { buckets: number[]; counts: number[] } {
  return { buckets: [...h.buckets], counts: [...h.counts] };
}

/** The dashboard's data of one gateway (what a cluster worker sends its primary). */
export interface DashboardData {
  plugins: ({ name: string; status: string } & Record<string, unknown>)[];
  routers: ({ name: string } & Record<string, unknown>)[];
  middlewares: unknown[];
  services: unknown[];
  gateway: { inFlight: number; reloads: { success: number; failure: number }; canReload: boolean; canReprobe: boolean };
  problems: string[];
  events: RecentEvents['list'];
}

/** The path of the re-probe action of plugin `name`. */
export const reprobePath = (name: string) => `/api/plugins/${encodeURIComponent(name)}/reprobe`;
const REPROBE = /^\/api\/plugins\/([^/]+)\/reprobe$/;

/** The plugin a POST path asks to re-probe, or undefined. */
export function reprobeTarget(path: string): string | undefined {
  const m = REPROBE.exec(path);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return undefined;
  }
}

export interface LocalBackend extends AdminBackend {
  /** The dashboard's data as an object (before JSON). */
  data(): DashboardData;
}

/** The admin backend of one gateway in this process. */
export function localBackend(gw: AdminSource): LocalBackend {
  const views = adminViews(gw);
  const registry = createRegistry(gw.stats, () => gw.host.plugins);
  const recent = new RecentEvents();
  const unsubscribe: (() => void)[] = [];
  if (gw.host.on) {
    for (const event of HOST_EVENTS) {
      unsubscribe.push(
        gw.host.on(event, (e) =>
          recent.push({
            at: new Date().toISOString(),
            plugin: e.plugin,
            event,
            ...(e.reason ? { reason: e.reason } : {}),
            ...(e.error ? { code: e.error.code, ...(e.error.file ? { file: e.error.file } : {}), ...(e.error.line ? { line: e.error.line } : {}) } : {}),
          }),
        ),
      );
    }
  }
  // Config problems exactly as the CLI prints them (configIssueText), from the last rejected reload.
  let problems: string[] = [];
  if (gw.gateway) {
    const file = gw.runtime().config.file;
    unsubscribe.push(gw.gateway.on('reload', (e) => (problems = e.ok ? [] : (e.error?.issues ?? []).map((i: ConfigIssue) => configIssueText(i, file)))));
  }
  const canReprobe = typeof gw.host.reprobe === 'function';

  /**
   * Everything the dashboard shows: the /api/* views plus the latency histograms, granted
   * permissions, recent plugin events and log lines, and config problems. Without timestamps of
   * its own, so an unchanged gateway gives the same text and nothing is sent.
   */
  const data = (): DashboardData => {
    const rt = gw.runtime();
    const latency = new Map<string, { buckets: number[]; counts: number[] }>();
    for (const [, m] of gw.stats.middlewares) {
      const h = m.duration.request;
      const acc = latency.get(m.plugin) ?? { buckets: [...h.buckets], counts: new Array<number>(h.counts.length).fill(0) };
      h.counts.forEach((c, i) => (acc.counts[i]! += c + (m.duration.response.counts[i] ?? 0)));
      latency.set(m.plugin, acc);
    }
    const plugins = (views['/api/plugins']!() as { name: string; status: string; memoryMeasuredAt?: string }[]).map(({ memoryMeasuredAt: _, ...p }) => ({
      ...p,
      latency: latency.get(p.name),
      grants: rt.config.plugins.grants?.[p.name] ?? {},
      recent: recent.list.filter((e) => e.plugin === p.name).slice(-10),
      logs: gw.logs?.lines(p.name) ?? [],
    }));
    const routers = (views['/api/routers']!() as { name: string }[]).map((r) => {
      const s = gw.stats.routers.get(r.name);
      return { ...r, latency: s ? histogramView(s.duration) : undefined };
    });
    return {
      plugins,
      routers,
      middlewares: views['/api/middlewares']!() as unknown[],
      services: views['/api/services']!() as unknown[],
      gateway: { inFlight: gw.stats.inFlight, reloads: { ...gw.stats.reloads }, canReload: gw.gateway !== undefined, canReprobe },
      problems,
      events: recent.list.slice(-20),
    };
  };

  return {
    data,
    viewPaths: Object.keys(views),
    view: (path) => (views[path] ? Promise.resolve().then(views[path]) : undefined),
    snapshot: async () => JSON.stringify(data()),
    metrics: async () => ({ contentType: registry.contentType, text: await registry.metrics() }),
    actions: () => [...(gw.gateway ? ['/api/reload'] : []), ...(canReprobe ? ['/api/plugins/{name}/reprobe'] : [])],
    act(path) {
      if (path === '/api/reload' && gw.gateway) {
        return gw.gateway.reload().then(
          () => ({ status: 200, body: { ok: true, problems } }),
          (e: unknown) => ({ status: 200, body: { ok: false, problems, error: (e as Error)?.message ?? String(e) } }),
        );
      }
      const name = reprobeTarget(path);
      if (name !== undefined && canReprobe) {
        if (!gw.host.plugins.some((p) => p.name === name)) return Promise.resolve({ status: 404, body: { error: `no plugin ${name}` } });
        const started = gw.host.reprobe!(name);
        return Promise.resolve(
          started ? { status: 202, body: { ok: true, plugin: name, probing: true } } : { status: 409, body: { ok: false, plugin: name, error: `plugin ${name} is not quarantined` } },
        );
      }
      return undefined;
    },
    close() {
      for (const u of unsubscribe) u();
    },
  };
}
