/**
 * `entryPoints.<name>` beyond the address, in the shape of Traefik's static configuration:
 * `forwardedHeaders` (trustedIPs, insecure), `transport.respondingTimeouts` (readTimeout 60s,
 * writeTimeout 0 = none, idleTimeout 180s, Traefik's defaults), `transport.maxConnections` (ours;
 * 0 = no limit, as Traefik has none), `transport.lifeCycle` (shutdown: accept grace, then grace for
 * requests in flight), `proxyProtocol` (serve/proxy-protocol.ts) and `http.tls` (terminate TLS; its certResolver/options/domains are the defaults of the entry point's routers).
 */
import { BlockList } from 'node:net';
import type { ForwardedPolicy } from '../routing/forwarded.js';
import { addToBlockList } from '../routing/ipnet.js';
import type { EntryPointConfig, EntryPointOptions } from './model.js';
import { ROUTER_TLS_SCHEMA } from './tls.js';
/** Declared in the config model (model.ts), re-exported for the modules that use them with this one. */
export type { EntryPointConfig, EntryPointOptions };

/** A duration: milliseconds as a number, or a string such as `500ms`, `30s`, `2m`, `1h`. */
type Duration = number | string;

const durationSchema = {
  type: ['number', 'string'],
  minimum: 0,
  pattern: '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$',
  description: 'a duration: milliseconds as a number, or a string like 500ms, 30s, 2m',
};

/** The JSON schema of the options of an entry point object (besides `address`). */
export const ENTRY_POINT_PROPERTIES = {
  forwardedHeaders: {
    type: 'object',
    additionalProperties: false,
    properties: {
      trustedIPs: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'IP addresses or CIDR ranges' },
      insecure: { type: 'boolean' },
    },
  },
  transport: {
    type: 'object',
    additionalProperties: false,
    properties: {
      respondingTimeouts: {
        type: 'object',
        additionalProperties: false,
        properties: { readTimeout: durationSchema, writeTimeout: durationSchema, idleTimeout: durationSchema },
      },
      maxConnections: { type: 'integer', minimum: 0 },
      lifeCycle: {
        type: 'object',
        additionalProperties: false,
        properties: { requestAcceptGraceTimeout: durationSchema, graceTimeOut: durationSchema },
      },
    },
  },
  proxyProtocol: {
    type: 'object',
    additionalProperties: false,
    properties: {
      trustedIPs: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'IP addresses or CIDR ranges whose PROXY header is used' },
      insecure: { type: 'boolean' },
    },
  },
  http: {
    type: 'object',
    additionalProperties: false,
    properties: {
      tls: { ...ROUTER_TLS_SCHEMA, type: ['object', 'boolean'], description: 'tls: {} or { certResolver, options, domains }: the defaults of the routers of this entry point' },
      // Traefik's entry-point redirection and middlewares (config/entrypoint-http.ts).
      redirections: {
        type: 'object',
        additionalProperties: false,
        properties: {
          entryPoint: {
            type: 'object',
            additionalProperties: false,
            required: ['to'],
            properties: { to: { type: 'string', minLength: 1 }, scheme: { type: 'string', minLength: 1 }, permanent: { type: 'boolean' }, priority: { type: 'integer' } },
          },
        },
      },
      middlewares: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'middleware names applied to every router of the entry point, before its own' },
    },
  },
} as const;

/** Resolve the options of one entry point; problems go to `issue` with their path under `base`. */
export function resolveEntryPointOptions(
  ep: EntryPointConfig | string,
  base: (string | number)[],
  parseDuration: (d: Duration) => number,
  issue: (segs: (string | number)[], message: string) => void,
): EntryPointOptions {
  const o = typeof ep === 'string' ? ({ address: ep } as EntryPointConfig) : ep;
  // forwardedHeaders and proxyProtocol name the sources they trust the same way.
  const trustedList = (section: 'forwardedHeaders' | 'proxyProtocol', ips: readonly string[] | undefined): BlockList | undefined => {
    let list: BlockList | undefined;
    (ips ?? []).forEach((ip, i) => {
      list ??= new BlockList();
      const problem = addToBlockList(list, ip);
      if (problem) issue([...base, section, 'trustedIPs', i], `${problem} (got "${ip}")`);
    });
    return list;
  };
  const trusted = trustedList('forwardedHeaders', o.forwardedHeaders?.trustedIPs);
  const proxyTrusted = trustedList('proxyProtocol', o.proxyProtocol?.trustedIPs);
  const tls = o.http?.tls !== undefined && o.http.tls !== false;
  const durIn = (section: 'respondingTimeouts' | 'lifeCycle', v: Duration | undefined, key: string, dflt: number): number => {
    if (v === undefined) return dflt;
    const n = parseDuration(v);
    if (!Number.isFinite(n) || n < 0) {
      issue([...base, 'transport', section, key], 'must be a duration, e.g. 500ms or 60s (0 = none)');
      return dflt;
    }
    return n;
  };
  const t = o.transport?.respondingTimeouts ?? {};
  const dur = (key: 'readTimeout' | 'writeTimeout' | 'idleTimeout', dflt: number): number => durIn('respondingTimeouts', t[key], key, dflt);
  const lc = o.transport?.lifeCycle ?? {};
  const opts = {
    forwarded: { insecure: o.forwardedHeaders?.insecure ?? false, trusted },
    readTimeoutMs: dur('readTimeout', 60_000),
    writeTimeoutMs: dur('writeTimeout', 0),
    idleTimeoutMs: dur('idleTimeout', 180_000),
    maxConnections: o.transport?.maxConnections ?? 0,
    ...(o.proxyProtocol ? { proxyProtocol: { insecure: o.proxyProtocol.insecure ?? false, trusted: proxyTrusted } } : {}),
    // Traefik's defaults: no accept grace, 10s for the requests in flight.
    lifeCycle: { acceptGraceMs: durIn('lifeCycle', lc.requestAcceptGraceTimeout, 'requestAcceptGraceTimeout', 0), graceMs: durIn('lifeCycle', lc.graceTimeOut, 'graceTimeOut', 10_000) },
    tls,
    ...(o.http?.tls && typeof o.http.tls === 'object' ? { tlsDefaults: o.http.tls } : {}),
  };
  return { ...opts, signature: JSON.stringify([o.forwardedHeaders ?? null, o.transport ?? null, o.http?.tls ?? null, o.proxyProtocol ?? null]) };
}
