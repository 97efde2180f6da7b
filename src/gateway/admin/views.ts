/**
 * The JSON views of the admin API (`/api/plugins`, `/api/routers`, `/api/middlewares`,
 * `/api/services`), built from a running gateway: what the admin server (api.ts), the dashboard's
 * data (backend.ts) and Traefik's `api.insecure` entry point endpoints read.
 */
import type { ConfigIssue, TerrariumError } from '../../errors.js';
import type { Host } from '../../host/host.js';
import type { ResolvedService } from '../config/model.js';
import type { Runtime } from '../exchange/runtime.js';
import type { GatewayStats } from '../stats/stats.js';
import type { PluginLogs } from './logs.js';

/** What the admin API reads of a running gateway; its actions are POST /api/reload, when `gateway` is given, and a plugin's re-probe, when the host can. */
export interface AdminSource {
  readonly host: Pick<Host, 'plugins'> & Partial<Pick<Host, 'on' | 'reprobe'>>;
  /** The plugins' recent log lines (the dashboard's cards), when the gateway taps them. */
  readonly logs?: PluginLogs;
  readonly stats: GatewayStats;
  /** The routing table in force (replaced whole on reload). */
  runtime(): Readonly<Pick<Runtime, 'config' | 'routers' | 'middlewares' | 'services'>>;
  /** The gateway, when it can reload (POST /api/reload) and report rejected configs (the dashboard's config problems). */
  readonly gateway?: {
    reload(): Promise<void>;
    on(event: 'reload', listener: (e: { ok: boolean; error?: { issues: readonly ConfigIssue[] } }) => void): () => void;
  };
}

function counts<K extends string | number>(m: Map<K, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of [...m].sort((a, b) => String(a[0]).localeCompare(String(b[0])))) out[String(k)] = v;
  return out;
}

/** An error as the admin API shows it: code, message, and the plugin file:line when known. */
function errorView(e: TerrariumError): { code: string; message: string; file?: string; line?: number } {
  return { code: e.code, message: e.message, ...(e.file ? { file: e.file } : {}), ...(e.line ? { line: e.line } : {}) };
}

/** The JSON documents of the admin API, built from the running gateway. */
export function adminViews(gw: AdminSource): Record<string, () => unknown> {
  return {
    '/api/plugins': () => {
      const usedBy = new Map<string, string[]>();
      for (const mw of gw.runtime().middlewares.values()) usedBy.set(mw.plugin, [...(usedBy.get(mw.plugin) ?? []), mw.name]);
      return gw.host.plugins.map((p) => ({
        name: p.name,
        file: p.file,
        engine: p.engine,
        status: p.status,
        version: p.version,
        description: p.meta?.description,
        exports: p.exports.map((e) => e.name),
        middlewares: usedBy.get(p.name) ?? [],
        counters: p.counters,
        memoryBytes: p.memoryBytes,
        standby: p.standby,
        ...(p.nextProbeAt ? { nextProbeAt: p.nextProbeAt } : {}),
        // measured when host.plugins was read for this response, never a cached figure (README, Memory (Lua))
        memoryMeasuredAt: new Date().toISOString(),
        ...(p.error ? { error: errorView(p.error) } : {}),
        ...(p.lastError ? { lastError: p.lastError } : {}),
        ...(p.lastReload ? { lastReload: { at: p.lastReload.at, ok: p.lastReload.ok, ...(p.lastReload.error ? { error: errorView(p.lastReload.error) } : {}) } } : {}),
      }));
    },
    '/api/routers': () =>
      gw.runtime().routers.map((r) => ({
        name: r.name,
        rule: r.spec.rule,
        priority: r.spec.priority,
        entryPoints: r.spec.entryPoints,
        middlewares: r.spec.middlewares,
        service: r.spec.service,
        status: r.chain.some((m) => m.broken && !m.failOpen) ? 'degraded' : 'enabled',
        counters: { requests: r.stats.requests, codes: counts(r.stats.codes) },
      })),
    '/api/middlewares': () =>
      [...gw.runtime().middlewares.values()].map((m) => ({
        name: m.name,
        plugin: m.plugin,
        failOpen: m.failOpen,
        status: m.broken ? 'broken' : 'enabled',
        ...(m.broken ? { error: m.broken } : {}),
        phases: [...(m.onRequest ? ['onRequest'] : []), ...(m.onResponse ? ['onResponse'] : [])],
        bodies: { requestMaxBytes: m.requestBodyMax, responseMaxBytes: m.responseBodyMax },
        config: m.config,
        counters: {
          calls: m.stats.calls,
          errors: counts(m.stats.errors),
          timeouts: m.stats.timeouts,
          responded: m.stats.responded,
          skipped: m.stats.skipped,
        },
      })),
    '/api/services': () =>
      [...gw.runtime().services.values()].map((s) => ({
        name: s.name,
        ...serviceView(gw.runtime().config.services.get(s.name)),
        counters: { requests: s.stats.requests, errors: counts(s.stats.errors) },
      })),
  };
}

/** The type of a service and what it forwards to, for /api/services. */
function serviceView(spec: ResolvedService | undefined): Record<string, unknown> {
  if (!spec) return {};
  if (spec.kind === 'echo') return { type: 'echo' };
  if (spec.kind === 'loadBalancer') return { type: 'loadBalancer', servers: spec.servers.map((u) => u.href) };
  if (spec.kind === 'weighted') return { type: 'weighted', services: spec.services };
  if (spec.kind === 'mirroring') return { type: 'mirroring', service: spec.service, mirrors: spec.mirrors };
  return { type: 'failover', service: spec.service, fallback: spec.fallback };
}
