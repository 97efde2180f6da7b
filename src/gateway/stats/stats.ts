/**
 * Gateway statistics: what every stage counts (routers, middlewares, services) and the admin API
 * reads. The request path only bumps plain numbers and fixed-bucket histograms kept on objects it
 * already holds (a few ns each); admin/metrics.ts turns them into Prometheus text when `/metrics`
 * is scraped. Labelled prom-client metrics hash their labels on every update, which cost more
 * than the rest of the gateway's bookkeeping together on the request path. This sits below every
 * stage because every stage records into it.
 */

import type { TraefikSeries } from './traefik.js';
import { Histogram } from './histogram.js';

export { Histogram };

/** Request latency buckets, in seconds. */
export const REQUEST_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Middleware call latency buckets, in seconds (a sandboxed call takes microseconds). */
export const MIDDLEWARE_BUCKETS: readonly number[] = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1];

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
  /** Traefik's request series, when `metrics.prometheus` is configured (stats/traefik.ts). */
  traefik: TraefikSeries | undefined;

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
