/**
 * The Prometheus exposition of the gateway's statistics (stats/stats.ts): prom-client, with its
 * own Registry (never the global one), reads the plain counters only when `/metrics` is scraped.
 */
import { Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { PluginInfo } from '../../host/plugin.js';
import type { GatewayStats, Histogram } from '../stats/stats.js';

type Value = { labels: Record<string, string | number>; value: number; metricName?: string };

/** A prom-client metric whose values are read from our stats at scrape time. */
function collected(name: string, help: string, type: 'counter' | 'gauge' | 'histogram', values: () => Value[]): Metric {
  return {
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, values: values(), aggregator: 'sum' }),
  } as unknown as Metric;
}

function histogramValues(name: string, h: Histogram, labels: Record<string, string>): Value[] {
  const out: Value[] = [];
  let acc = 0;
  h.buckets.forEach((le, i) => {
    acc += h.counts[i]!;
    out.push({ labels: { ...labels, le }, value: acc, metricName: `${name}_bucket` });
  });
  out.push({ labels: { ...labels, le: '+Inf' }, value: h.count, metricName: `${name}_bucket` });
  out.push({ labels, value: h.sum, metricName: `${name}_sum` });
  out.push({ labels, value: h.count, metricName: `${name}_count` });
  return out;
}

/**
 * The gateway's Prometheus registry: gateway metrics from `stats`, plugin metrics from the host's
 * snapshot (read only at scrape time), and Node's process metrics.
 */
export function createRegistry(stats: GatewayStats, plugins: () => PluginInfo[], traefik?: TraefikMetrics): Registry {
  const registry = new Registry();
  const add = (m: Metric) => registry.registerMetric(m);
  const rq = 'terrarium_gateway_';

  add(
    collected(`${rq}requests_total`, 'Requests answered, by router and status code (499: the client closed the connection first).', 'counter', () =>
      [...stats.routers].flatMap(([router, s]) => [...s.codes].map(([code, value]) => ({ labels: { router, code }, value }))),
    ),
  );
  add(
    collected(`${rq}request_duration_seconds`, 'Time from receiving a request to the end of its response, by router.', 'histogram', () =>
      [...stats.routers].flatMap(([router, s]) => histogramValues(`${rq}request_duration_seconds`, s.duration, { router })),
    ),
  );
  add(collected(`${rq}requests_in_flight`, 'Requests being served now.', 'gauge', () => [{ labels: {}, value: stats.inFlight }]));
  add(
    collected(`${rq}middleware_calls_total`, 'Middleware plugin calls, by middleware, plugin and phase (request or response).', 'counter', () =>
      [...stats.middlewares].flatMap(([middleware, s]) =>
        (['request', 'response'] as const).map((phase) => ({ labels: { middleware, plugin: s.plugin, phase }, value: s.calls[phase] })),
      ),
    ),
  );
  add(
    collected(`${rq}middleware_errors_total`, 'Failed middleware calls (thrown, timeout, memory, unavailable, invalid result), by error code.', 'counter', () =>
      [...stats.middlewares].flatMap(([middleware, s]) =>
        [...s.errors].map(([key, value]) => {
          const [phase, code] = key.split(' ');
          return { labels: { middleware, plugin: s.plugin, phase: phase ?? '', code: code ?? '' }, value };
        }),
      ),
    ),
  );
  add(
    collected(`${rq}middleware_timeouts_total`, 'Middleware calls that ran past the plugin\'s callTimeoutMs.', 'counter', () =>
      [...stats.middlewares].flatMap(([middleware, s]) =>
        (['request', 'response'] as const).map((phase) => ({ labels: { middleware, plugin: s.plugin, phase }, value: s.timeouts[phase] })),
      ),
    ),
  );
  add(
    collected(`${rq}middleware_responses_total`, 'Requests a middleware answered itself (short-circuit).', 'counter', () =>
      [...stats.middlewares].map(([middleware, s]) => ({ labels: { middleware, plugin: s.plugin }, value: s.responded })),
    ),
  );
  add(
    collected(`${rq}middleware_skipped_total`, 'Middleware failures skipped because the middleware is failOpen.', 'counter', () =>
      [...stats.middlewares].map(([middleware, s]) => ({ labels: { middleware, plugin: s.plugin }, value: s.skipped })),
    ),
  );
  add(
    collected(`${rq}middleware_duration_seconds`, 'Time spent in one middleware call, by middleware and phase.', 'histogram', () =>
      [...stats.middlewares].flatMap(([middleware, s]) =>
        (['request', 'response'] as const).flatMap((phase) => histogramValues(`${rq}middleware_duration_seconds`, s.duration[phase], { middleware, phase })),
      ),
    ),
  );
  add(
    collected(`${rq}service_requests_total`, 'Requests forwarded to a service.', 'counter', () =>
      [...stats.services].map(([service, s]) => ({ labels: { service }, value: s.requests })),
    ),
  );
  add(
    collected(`${rq}upstream_errors_total`, 'Upstream failures, by service and kind (refused, reset, timeout, error).', 'counter', () =>
      [...stats.services].flatMap(([service, s]) => [...s.errors].map(([kind, value]) => ({ labels: { service, kind }, value }))),
    ),
  );
  add(
    collected(`${rq}config_reloads_total`, 'Configuration reloads, by result (success or failure).', 'counter', () => [
      { labels: { result: 'success' }, value: stats.reloads.success },
      { labels: { result: 'failure' }, value: stats.reloads.failure },
    ]),
  );

  const pl = 'terrarium_plugin_';
  add(
    collected(`${pl}info`, 'One series per plugin: engine, version and status (1).', 'gauge', () =>
      plugins().map((p) => ({ labels: { plugin: p.name, engine: p.engine, version: p.version ?? '', status: p.status }, value: 1 })),
    ),
  );
  const counter = (key: keyof PluginInfo['counters'], name: string, help: string) =>
    add(collected(`${pl}${name}`, help, 'counter', () => plugins().map((p) => ({ labels: { plugin: p.name }, value: p.counters[key] }))));
  counter('calls', 'calls_total', 'Calls into the plugin (all exports).');
  counter('errors', 'errors_total', 'Calls that failed.');
  counter('timeouts', 'timeouts_total', 'Calls that ran past callTimeoutMs.');
  counter('memoryErrors', 'memory_errors_total', 'Calls that exceeded memoryBytes.');
  counter('restarts', 'restarts_total', 'Times the instance was recreated after a limit violation.');
  add(
    collected(`${pl}memory_bytes`, 'Memory held by the plugin\'s live instance, measured at scrape time (Lua: estimated by a walk of its reachable data; QuickJS: its WebAssembly memory size).', 'gauge', () =>
      plugins().map((p) => ({ labels: { plugin: p.name }, value: p.memoryBytes })),
    ),
  );

  if (traefik) addTraefikMetrics(add, stats);
  collectDefaultMetrics({ register: registry, prefix: 'terrarium_' });
  return registry;
}

/** `metrics.prometheus` label switches (Traefik's addRoutersLabels, addServicesLabels). */
export interface TraefikMetrics {
  routers: boolean;
  services: boolean;
}

/**
 * The series Traefik's Prometheus exporter names: config reloads always; the entry point, router
 * and service families that `metrics.prometheus` switched on (`stats.traefik`).
 */
function addTraefikMetrics(add: (m: Metric) => void, stats: GatewayStats): void {
  add(
    collected('traefik_config_reloads_total', 'Config reloads.', 'counter', () => [{ labels: {}, value: stats.reloads.success + stats.reloads.failure }]),
  );
  add(
    collected('traefik_config_reloads_failure_total', 'Config reload failures.', 'counter', () => [{ labels: {}, value: stats.reloads.failure }]),
  );
  // Traefik's request series (stats/traefik.ts), with its labels and the configured buckets.
  for (const f of stats.traefik?.families() ?? []) {
    add(
      collected(f.name, f.help, f.type, () =>
        [...f.series()].flatMap((s) => (f.type === 'counter' ? [{ labels: s.labels, value: s.requests }] : histogramValues(f.name, s.duration, s.labels))),
      ),
    );
  }
}
