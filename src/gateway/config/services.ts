/**
 * The service types besides `echo` and the plain `loadBalancer`: their JSON schema (Traefik's
 * names) and how they resolve. `weighted` (weights, nested services, sticky cookie), `mirroring`
 * (percent, mirrorBody, maxBodySize), `failover` (service, fallback, healthCheck, errors), and the
 * loadBalancer's `healthCheck`, `sticky.cookie`, `strategy` (wrr, p2c), server `weight` and
 * `responseForwarding`.
 */
import { createHash } from 'node:crypto';
import { traefikDuration, traefikDurationSchema } from './duration.js';
import type { CookieSpec, HealthCheckSpec, LoadBalancerExtras, CompositeService } from './model.js';
/** Declared in the config model (model.ts), re-exported for the modules that use them with this one. */
export type { CookieSpec, HealthCheckSpec, LoadBalancerExtras, CompositeService };

const bool = { type: 'boolean' };
const str = { type: 'string' };

const cookieSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { name: str, secure: bool, httpOnly: bool, sameSite: { enum: ['none', 'lax', 'strict', ''] }, maxAge: { type: 'integer' }, path: str, domain: str },
};
const stickySchema = { type: 'object', additionalProperties: false, properties: { cookie: cookieSchema } };

/** loadBalancer.healthCheck. */
const healthCheckSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    scheme: { enum: ['http'] },
    mode: { enum: ['http'] },
    path: str,
    method: str,
    status: { type: 'integer', minimum: 100, maximum: 599 },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    hostname: str,
    interval: traefikDurationSchema,
    unhealthyInterval: traefikDurationSchema,
    timeout: traefikDurationSchema,
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    followRedirects: bool,
  },
};

/** Extra properties of `loadBalancer` (merged into the gateway schema). */
export const LOAD_BALANCER_EXTRA = {
  healthCheck: healthCheckSchema,
  sticky: stickySchema,
  strategy: { enum: ['wrr', 'p2c'], description: 'wrr (weighted round robin, the default) or p2c (power of two choices)' },
  responseForwarding: { type: 'object', additionalProperties: false, properties: { flushInterval: traefikDurationSchema } },
} as const;

/** Extra properties of a `loadBalancer.servers[]` item. */
export const SERVER_EXTRA = { weight: { type: 'integer', minimum: 0 } } as const;

const nameRef = { type: 'string', minLength: 1 };

/** The composite service types (merged into the gateway schema's service properties). */
export const COMPOSITE_SCHEMAS = {
  weighted: {
    type: 'object',
    additionalProperties: false,
    required: ['services'],
    properties: {
      services: { type: 'array', minItems: 1, items: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: nameRef, weight: { type: 'integer', minimum: 0 } } } },
      sticky: stickySchema,
      healthCheck: { type: 'object', additionalProperties: false, properties: {} },
    },
  },
  mirroring: {
    type: 'object',
    additionalProperties: false,
    required: ['service'],
    properties: {
      service: nameRef,
      mirrors: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: nameRef, percent: { type: 'integer', minimum: 0, maximum: 100 } } } },
      mirrorBody: bool,
      maxBodySize: { type: 'integer', minimum: -1 },
      healthCheck: { type: 'object', additionalProperties: false, properties: {} },
    },
  },
  failover: {
    type: 'object',
    additionalProperties: false,
    required: ['service', 'fallback'],
    properties: {
      service: nameRef,
      fallback: nameRef,
      healthCheck: { type: 'object', additionalProperties: false, properties: {} },
      errors: {
        type: 'object',
        additionalProperties: false,
        properties: { status: { type: 'array', items: str }, maxRequestBodyBytes: { type: 'integer', minimum: -1 } },
      },
    },
  },
} as const;

type IssueFn = (segs: (string | number)[], message: string) => void;
type Raw = Record<string, unknown>;


function cookieOf(sticky: unknown, serviceName: string): CookieSpec | undefined {
  const c = (sticky as { cookie?: Raw } | undefined)?.cookie;
  if (!c) return undefined;
  return {
    name: (c.name as string | undefined) || `_${createHash('sha1').update(serviceName).digest('hex').slice(0, 5)}`,
    secure: c.secure === true,
    httpOnly: c.httpOnly === true,
    sameSite: (c.sameSite as string | undefined) ?? '',
    maxAge: (c.maxAge as number | undefined) ?? 0,
    path: (c.path as string | undefined) ?? '/',
    domain: c.domain as string | undefined,
  };
}

function duration(v: unknown, dflt: number, segs: (string | number)[], issue: IssueFn): number {
  if (v === undefined) return dflt;
  const n = traefikDuration(v);
  if (typeof n === 'string' || n <= 0) {
    issue(segs, typeof n === 'string' ? n : 'must be a positive duration');
    return dflt;
  }
  return n;
}

/** The loadBalancer extras, checked. */
export function resolveLoadBalancerExtras(lb: Raw, segs: (string | number)[], serviceName: string, issue: IssueFn): LoadBalancerExtras {
  const servers = (lb.servers as { weight?: number }[] | undefined) ?? [];
  const h = lb.healthCheck as Raw | undefined;
  let healthCheck: HealthCheckSpec | undefined;
  if (h) {
    const interval = duration(h.interval, 30_000, [...segs, 'healthCheck', 'interval'], issue);
    healthCheck = {
      path: (h.path as string | undefined) ?? '/',
      method: (h.method as string | undefined) ?? 'GET',
      status: h.status as number | undefined,
      port: h.port as number | undefined,
      hostname: h.hostname as string | undefined,
      intervalMs: interval,
      unhealthyIntervalMs: duration(h.unhealthyInterval, interval, [...segs, 'healthCheck', 'unhealthyInterval'], issue),
      timeoutMs: duration(h.timeout, 5000, [...segs, 'healthCheck', 'timeout'], issue),
      headers: (h.headers as Record<string, string> | undefined) ?? {},
    };
    if (!healthCheck.path.startsWith('/')) issue([...segs, 'healthCheck', 'path'], 'must start with "/"');
  }
  const rf = lb.responseForwarding as Raw | undefined;
  if (rf?.flushInterval !== undefined) duration(rf.flushInterval, 100, [...segs, 'responseForwarding', 'flushInterval'], issue);
  return {
    weights: servers.map((s) => s.weight ?? 1),
    strategy: (lb.strategy as 'wrr' | 'p2c' | undefined) ?? 'wrr',
    healthCheck,
    sticky: cookieOf(lb.sticky, serviceName),
  };
}

/** A `500-504` or `404` range, or undefined. */
function statusRange(s: string): [number, number] | undefined {
  const m = /^\s*([1-5][0-9]{2})\s*(?:-\s*([1-5][0-9]{2}))?\s*$/.exec(s);
  if (!m) return undefined;
  const a = Number(m[1]);
  const b = m[2] ? Number(m[2]) : a;
  return a <= b ? [a, b] : undefined;
}

/** A composite service, checked (references are checked by checkCompositeRefs once all names are known). */
export function resolveComposite(name: string, kind: 'weighted' | 'mirroring' | 'failover', raw: Raw, segs: (string | number)[], issue: IssueFn): CompositeService {
  const hc = raw.healthCheck !== undefined;
  if (kind === 'weighted') {
    const services = (raw.services as { name: string; weight?: number }[]).map((s) => ({ name: s.name, weight: s.weight ?? 1 }));
    return { name, kind, services, sticky: cookieOf(raw.sticky, name), healthCheck: hc };
  }
  if (kind === 'mirroring') {
    const mirrors = ((raw.mirrors as { name: string; percent?: number }[] | undefined) ?? []).map((m) => ({ name: m.name, percent: m.percent ?? 0 }));
    return { name, kind, service: raw.service as string, mirrors, mirrorBody: raw.mirrorBody !== false, maxBodySize: (raw.maxBodySize as number | undefined) ?? -1, healthCheck: hc };
  }
  const e = raw.errors as { status?: string[]; maxRequestBodyBytes?: number } | undefined;
  let errors: { ranges: [number, number][]; maxRequestBodyBytes: number } | undefined;
  if (e) {
    const ranges: [number, number][] = [];
    (e.status ?? []).forEach((s, i) => {
      const r = statusRange(s);
      if (r) ranges.push(r);
      else issue([...segs, 'failover', 'errors', 'status', i], `"${s}" is not a status or a range like 500-504`);
    });
    errors = { ranges, maxRequestBodyBytes: e.maxRequestBodyBytes ?? -1 };
  }
  return { name, kind, service: raw.service as string, fallback: raw.fallback as string, healthCheck: hc, errors };
}

/** The names a composite service refers to, with their paths. */
export function compositeRefs(s: CompositeService): { name: string; path: (string | number)[] }[] {
  const base = ['http', 'services', s.name, s.kind];
  if (s.kind === 'weighted') return s.services.map((c, i) => ({ name: c.name, path: [...base, 'services', i, 'name'] }));
  if (s.kind === 'mirroring') return [{ name: s.service, path: [...base, 'service'] }, ...s.mirrors.map((m, i) => ({ name: m.name, path: [...base, 'mirrors', i, 'name'] }))];
  return [
    { name: s.service, path: [...base, 'service'] },
    { name: s.fallback, path: [...base, 'fallback'] },
  ];
}
