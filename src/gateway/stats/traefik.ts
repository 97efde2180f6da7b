/**
 * The request series of Traefik's Prometheus exporter (`metrics.prometheus`), kept only when the
 * static file asks for it: traefik_entrypoint_*, traefik_router_* and traefik_service_* requests
 * and durations, with Traefik's labels (code, method, protocol and the entry point, router and
 * service) and the configured latency buckets (default Traefik's 0.1, 0.3, 1.2, 5). Which families
 * exist follows addEntryPointsLabels (default true), addRoutersLabels (default false) and
 * addServicesLabels (default true). One Map lookup per family per request, off the request's
 * critical path (the response has closed); admin/metrics.ts exposes them at scrape time.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Histogram } from './histogram.js';

/** Traefik's default `metrics.prometheus.buckets`. */
export const TRAEFIK_BUCKETS: readonly number[] = [0.1, 0.3, 1.2, 5];

export interface TraefikMetricsOptions {
  buckets: readonly number[];
  entryPoints: boolean;
  routers: boolean;
  services: boolean;
}

interface Series {
  labels: Record<string, string>;
  requests: number;
  duration: Histogram;
}

/** One metric family as admin/metrics.ts exposes it. */
export interface TraefikFamily {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  series: () => Iterable<{ labels: Record<string, string>; requests: number; duration: Histogram }>;
}

/** Traefik's `protocol` label (middlewares/metrics getRequestProtocol): websocket, sse or http. */
export function requestProtocol(headers: IncomingHttpHeaders): string {
  const upgrade = headers.upgrade;
  if (typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket' && /\bupgrade\b/i.test(String(headers.connection ?? ''))) return 'websocket';
  if (String(headers.accept ?? '').includes('text/event-stream')) return 'sse';
  return 'http';
}

export class TraefikSeries {
  private readonly entryPoints = new Map<string, Series>();
  private readonly routers = new Map<string, Series>();
  private readonly services = new Map<string, Series>();

  constructor(readonly options: TraefikMetricsOptions) {}

  /** Count one answered request (router and service undefined when no router matched). */
  record(entryPoint: string, router: string | undefined, service: string | undefined, method: string, headers: IncomingHttpHeaders, code: number, seconds: number): void {
    const protocol = requestProtocol(headers);
    const c = String(code);
    const o = this.options;
    if (o.entryPoints) this.add(this.entryPoints, { code: c, method, protocol, entrypoint: entryPoint }, seconds);
    if (router !== undefined && o.routers) this.add(this.routers, { code: c, method, protocol, router, service: service ?? '' }, seconds);
    if (service !== undefined && o.services) this.add(this.services, { code: c, method, protocol, service }, seconds);
  }

  private add(into: Map<string, Series>, labels: Record<string, string>, seconds: number): void {
    const key = Object.values(labels).join('\0');
    let s = into.get(key);
    if (!s) into.set(key, (s = { labels, requests: 0, duration: new Histogram(this.options.buckets) }));
    s.requests++;
    s.duration.observe(seconds);
  }

  /** The families to expose, with Traefik's names and help texts. */
  families(): TraefikFamily[] {
    const out: TraefikFamily[] = [];
    const pair = (prefix: string, what: string, m: Map<string, Series>) => {
      out.push({ name: `traefik_${prefix}_requests_total`, help: `How many HTTP requests processed on ${what}, partitioned by status code, protocol, and method.`, type: 'counter', series: () => m.values() });
      out.push({ name: `traefik_${prefix}_request_duration_seconds`, help: `How long it took to process the request on ${what}, partitioned by status code, protocol, and method.`, type: 'histogram', series: () => m.values() });
    };
    if (this.options.entryPoints) pair('entrypoint', 'an entrypoint', this.entryPoints);
    if (this.options.routers) pair('router', 'a router', this.routers);
    if (this.options.services) pair('service', 'a service', this.services);
    return out;
  }
}
