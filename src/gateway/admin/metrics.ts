/**
 * Gateway statistics and their Prometheus exposition. The request path only bumps plain numbers
 * and fixed-bucket histograms kept on objects it already holds (a few ns each); prom-client
 * (its own Registry, never the global one) turns them into the text format when `/metrics` is
 * scraped. Labelled prom-client metrics hash their labels on every update, which cost more than
 * the rest of the gateway's bookkeeping together on the request path.
 */
import { Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { PluginInfo } from '../../host/plugin.js';

/** Request latency buckets, in seconds. */
export const REQUEST_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Middleware call latency buckets, in seconds (a sandboxed call takes microseconds). */
export const MIDDLEWARE_BUCKETS: readonly number[] = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1];

/** A cumulative-on-read histogram with fixed buckets. */
export class Histogram {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly buckets: readonly number[]) {
    this.counts = new Float64Array(buckets.length + 1);
  }
  observe(seconds: number): void {
    const b = this.buckets;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

export interface RouterStats {
  requests: number;
  /** Responses by status code (499: the client went away first). */
  codes: Map<number, number>;
  duration: Histogram;
}

export type Phase = 'request' | 'response';

export interface MiddlewareStats {
  plugin: string;
  calls: { request: number; response: number };
  /** Errors by `${phase} ${code}`. */
  errors: Map<string, number>;
  timeouts: { request: number; response: number };
  /** Requests answered by this middleware itself (short-circuit). */
  responded: number;
  /** Failures skipped because of failOpen. */
  skipped: number;
  duration: { request: Histogram; response: Histogram };
}

export interface ServiceStats {
  requests: number;
  /** Upstream failures by kind: refused, reset, timeout, error. */
  errors: Map<string, number>;
}

/** Every statistic of a gateway, kept across config reloads (by name). */
export class GatewayStats {
  readonly routers = new Map<string, RouterStats>();
  readonly middlewares = new Map<string, MiddlewareStats>();
  readonly services = new Map<string, ServiceStats>();
  readonly reloads = { success: 0, failure: 0 };
  inFlight = 0;

  router(name: string): RouterStats {
    let s = this.routers.get(name);
    if (!s) this.routers.set(name, (s = { requests: 0, codes: new Map(), duration: new Histogram(REQUEST_BUCKETS) }));
    return s;
  }

  middleware(name: string, plugin: string): MiddlewareStats {
    let s = this.middlewares.get(name);
    if (!s || s.plugin !== plugin) {
      s = {
        plugin,
        calls: { request: 0, response: 0 },
        errors: new Map(),
        timeouts: { request: 0, response: 0 },
        responded: 0,
        skipped: 0,
        duration: { request: new Histogram(MIDDLEWARE_BUCKETS), response: new Histogram(MIDDLEWARE_BUCKETS) },
      };
      this.middlewares.set(name, s);
    }
    return s;
  }

  service(name: string): ServiceStats {
    let s = this.services.get(name);
    if (!s) this.services.set(name, (s = { requests: 0, errors: new Map() }));
    return s;
  }
}

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
export function createRegistry(stats: GatewayStats, plugins: () => PluginInfo[]): Registry {
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

  collectDefaultMetrics({ register: registry, prefix: 'terrarium_' });
  return registry;
}
