/**
 * Traefik's static keys besides entryPoints and providers: `ping`, `metrics.prometheus`, `api`,
 * `log`, `accessLog`, `global`, the static `serversTransport` and `experimental.plugins` /
 * `localPlugins`. Their schema (part of the gateway schema, so the single-file form takes them
 * too) and their resolution: which internal endpoints each entry point serves, and Traefik's
 * `traefik` entry point on :8080 when one of them needs it and the file declares none.
 */
import type { EntryPointOptions, ListenAddress, ResolvedStatic } from './model.js';
import { SERVERS_TRANSPORTS_SCHEMA } from './transport.js';
import { TRAEFIK_BUCKETS } from '../stats/traefik.js';

const bool = { type: 'boolean' } as const;
const str = { type: 'string', minLength: 1 } as const;
const names = { type: 'array', items: { type: 'string', minLength: 1 } } as const;
const section = (properties: Record<string, unknown>) => ({ type: 'object', additionalProperties: false, properties }) as const;
/** A key Traefik has and Terrarium takes without acting on it (nothing to do, or nothing it could do). */
const accepted = (description: string) => ({ description });

/** The JSON schema of the static keys (merged into the gateway schema). */
export const STATIC_PROPERTIES = {
  ping: { type: ['object', 'boolean'], additionalProperties: false, properties: { entryPoint: str, manualRouting: bool, terminatingStatusCode: { type: 'integer', minimum: 100, maximum: 599 } } },
  metrics: section({
    prometheus: section({
      entryPoint: str,
      buckets: { type: 'array', items: { type: 'number', exclusiveMinimum: 0 } },
      addEntryPointsLabels: bool,
      addRoutersLabels: bool,
      addServicesLabels: bool,
      manualRouting: bool,
      headerLabels: { type: 'object', additionalProperties: { type: 'string' } },
    }),
    addInternals: bool,
  }),
  api: { type: ['object', 'boolean'], additionalProperties: false, properties: { dashboard: bool, insecure: bool, debug: bool, basePath: { type: 'string' }, disableDashboardAd: bool } },
  log: section({
    level: { enum: ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL', 'PANIC', 'trace', 'debug', 'info', 'warn', 'error', 'fatal', 'panic'] },
    format: { enum: ['common', 'json'] },
    noColor: bool,
    filePath: { type: 'string' },
    maxSize: { type: 'integer', minimum: 0 },
    maxAge: { type: 'integer', minimum: 0 },
    maxBackups: { type: 'integer', minimum: 0 },
    compress: bool,
  }),
  global: section({ checkNewVersion: accepted('accepted; Terrarium never checks for a new version'), sendAnonymousUsage: accepted('accepted; Terrarium sends nothing') }),
  serversTransport: SERVERS_TRANSPORTS_SCHEMA.additionalProperties,
  experimental: section({
    plugins: { type: 'object', additionalProperties: section({ moduleName: str, version: { type: 'string' }, settings: { type: 'object' } }) },
    localPlugins: { type: 'object', additionalProperties: section({ moduleName: str, settings: { type: 'object' } }) },
  }),
} as const;

/** The accessLog section, Traefik's form (a boolean is Terrarium's short form). */
export const ACCESS_LOG_SCHEMA = {
  type: ['boolean', 'object'],
  additionalProperties: false,
  properties: {
    filePath: { type: 'string' },
    format: { enum: ['common', 'json', 'genericCLF'] },
    bufferingSize: { type: 'integer', minimum: 0 },
    addInternals: bool,
    filters: section({ statusCodes: names, retryAttempts: bool, minDuration: { type: ['string', 'number'] } }),
    fields: section({
      defaultMode: { enum: ['keep', 'drop', 'redact'] },
      names: { type: 'object', additionalProperties: { enum: ['keep', 'drop', 'redact'] } },
      headers: section({ defaultMode: { enum: ['keep', 'drop', 'redact'] }, names: { type: 'object', additionalProperties: { enum: ['keep', 'drop', 'redact'] } } }),
    }),
  },
} as const;

/** What the static keys say, as written. */
export interface StaticKeys {
  ping?: boolean | { entryPoint?: string; manualRouting?: boolean; terminatingStatusCode?: number };
  metrics?: { prometheus?: { entryPoint?: string; buckets?: number[]; addEntryPointsLabels?: boolean; addRoutersLabels?: boolean; addServicesLabels?: boolean; manualRouting?: boolean } };
  api?: boolean | { dashboard?: boolean; insecure?: boolean; debug?: boolean };
  experimental?: { plugins?: Record<string, { moduleName: string }>; localPlugins?: Record<string, { moduleName: string }> };
}

/** Traefik's own entry point, for ping, metrics and the insecure API, when the file declares none. */
export const TRAEFIK_ENTRY_POINT = 'traefik';

/**
 * Resolve the static keys. Adds Traefik's `traefik` entry point (`:8080`) to `entryPoints` when
 * ping, metrics or the insecure API would be served on it and the file does not declare it.
 */
export function resolveStatic(
  cfg: StaticKeys,
  entryPoints: Map<string, ListenAddress & EntryPointOptions>,
  defaultOptions: () => EntryPointOptions,
  issue: (segs: (string | number)[], message: string) => void,
): ResolvedStatic {
  const out: ResolvedStatic = { internal: new Map(), experimentalPlugins: [] };
  const serve = (ep: string | undefined, segs: (string | number)[], what: 'ping' | 'metrics' | 'api') => {
    const name = ep ?? TRAEFIK_ENTRY_POINT;
    if (!entryPoints.has(name)) {
      if (ep !== undefined) {
        issue(segs, `unknown entry point "${ep}"; defined: ${[...entryPoints.keys()].join(', ')}`);
        return;
      }
      entryPoints.set(name, { host: undefined, port: 8080, text: ':8080', ...defaultOptions() });
    }
    const cur = out.internal.get(name) ?? {};
    out.internal.set(name, { ...cur, [what]: true });
  };
  const ping = cfg.ping === true ? {} : cfg.ping === false ? undefined : cfg.ping;
  if (ping) {
    out.ping = { terminatingStatusCode: ping.terminatingStatusCode ?? 503 };
    if (!ping.manualRouting) serve(ping.entryPoint, ['ping', 'entryPoint'], 'ping');
  }
  const prom = cfg.metrics?.prometheus;
  if (prom) {
    out.metrics = { routers: prom.addRoutersLabels ?? false, services: prom.addServicesLabels ?? true, entryPoints: prom.addEntryPointsLabels ?? true, buckets: prom.buckets?.length ? [...prom.buckets].sort((a, b) => a - b) : [...TRAEFIK_BUCKETS] };
    if (!prom.manualRouting) serve(prom.entryPoint, ['metrics', 'prometheus', 'entryPoint'], 'metrics');
  }
  const api = cfg.api === true ? {} : cfg.api === false ? undefined : cfg.api;
  if (api) {
    out.api = { dashboard: api.dashboard ?? true, insecure: api.insecure ?? false };
    if (api.insecure) serve(undefined, ['api', 'insecure'], 'api');
  }
  for (const kind of ['plugins', 'localPlugins'] as const) {
    for (const name of Object.keys(cfg.experimental?.[kind] ?? {})) out.experimentalPlugins.push({ name, kind });
  }
  return out;
}
