/**
 * The gateway configuration's types: as written in the file (Traefik's shape: `GatewayConfig`,
 * `RouterConfig`...), and as checked and resolved (`ResolvedConfig`), with the `Issue` every check
 * reports. Types only: loading and checking are in config.ts, config-check.ts, config-schema.ts.
 */
import type { RuleMatcher } from './rules.js';
import type { EntryPointConfig, EntryPointOptions } from './entrypoint.js';
import type { ResolvedTransport, ServersTransportConfig } from './transport.js';
import type { CertFiles, TlsConfig } from './tls.js';
import type { CompositeService, LoadBalancerExtras } from './services/config.js';
import type { KvConfig, ProvidersConfig, ResolvedKv, ResolvedRedisProvider } from './redis-config.js';

/** `http.routers.<name>`: which requests go where, through which middlewares. */
export interface RouterConfig {
  /** A Traefik rule, e.g. ``Host(`a.example`) && PathPrefix(`/api`)``. */
  rule: string;
  /** Entry points this router listens on (default: all). */
  entryPoints?: string[];
  /** Middleware names, applied in this order on the request and in reverse on the response. */
  middlewares?: string[];
  /** The service name requests are forwarded to. */
  service: string;
  /** Higher wins; default: the length of the rule (the longest rule wins). */
  priority?: number;
}

/** `http.middlewares.<name>`: one plugin with its config, or one built-in (`stripPrefix: {...}`, see middlewares/). */
export interface MiddlewareConfig {
  /** Exactly one entry: `{ <pluginName>: <config> }` (the config is `ctx.config` in the plugin). */
  plugin?: Record<string, unknown>;
  /** A built-in middleware by its Traefik key, e.g. `stripPrefix: { prefixes: ['/api'] }`. */
  [builtin: string]: unknown;
  /** Skip this middleware when its plugin fails (default false: answer 502). */
  failOpen?: boolean;
}

/** A duration: milliseconds as a number, or a string such as `500ms`, `30s`, `2m`, `1h`. */
export type Duration = number | string;

/** `http.services.<name>`: the built-in echo upstream or a round-robin load balancer. */
export interface ServiceConfig {
  /** The in-process echo upstream: answers with the request it received, as JSON. */
  echo?: Record<string, never> | boolean;
  /** weighted, mirroring, failover: see services/config.ts. */
  weighted?: unknown;
  mirroring?: unknown;
  failover?: unknown;
  loadBalancer?: {
    /** `http://` or `https://` server URLs. */
    servers: { url: string }[];
    /** The name of an `http.serversTransports` entry (TLS to the servers, timeouts). */
    serversTransport?: string;
    /** Send the client's Host header upstream (default true, as in Traefik). */
    passHostHeader?: boolean;
    forwardingTimeouts?: {
      /** Connecting to a server (default 5s): past it, 504. */
      dialTimeout?: Duration;
      /** From sending the request (connecting included) to the response headers (default 30s): past it, 504. */
      responseHeaderTimeout?: Duration;
      /** How long an idle keep-alive connection to a server is kept (default 4s, below Node's 5s server default). */
      idleConnTimeout?: Duration;
    };
  };
}

/** `plugins`: where the middleware plugins come from and what they may do. */
export interface PluginsConfig {
  /** The plugin directory, relative to the config file (default: the config file's directory). */
  dir?: string;
  /** Limits for every plugin (createHost `limits`). */
  limits?: { memoryBytes?: number; callTimeoutMs?: number; loadTimeoutMs?: number; stackBytes?: number };
  /** Per-plugin limits, keyed by file name without extension. */
  pluginLimits?: Record<string, { memoryBytes?: number; callTimeoutMs?: number; loadTimeoutMs?: number; stackBytes?: number }>;
  /** Per-plugin grants: `{ counter: { kv: { shared: ['counters'] } } }` (host.kv keys "@counters/..."). */
  grants?: Record<string, { kv?: { shared?: string[] } }>;
  /** Host functions granted to plugins besides `host.log`: `kv` is the gateway's in-memory store. */
  capabilities?: { kv?: boolean | KvConfig };
  /** Ed25519 signatures (createHost `trust`): PEM text or paths of PEM files, relative to the config file. */
  trust?: { publicKeys: string[]; requireSignature?: boolean };
  /** Hot reload of the plugin directory (createHost `watch`). */
  watch?: boolean | { debounceMs?: number };
}

/**
 * The gateway configuration, as written in YAML (Traefik's shape).
 * @example
 * const config: GatewayConfig = {
 *   entryPoints: { web: { address: '127.0.0.1:8080' } },
 *   http: {
 *     routers: { api: { rule: 'PathPrefix(`/api`)', middlewares: ['deny'], service: 'echo' } },
 *     middlewares: { deny: { plugin: { 'header-deny': { header: 'x-block' } } } },
 *     services: { echo: { echo: {} } },
 *   },
 *   plugins: { dir: './plugins', capabilities: { kv: true } },
 * }
 */
export interface GatewayConfig {
  /** Listening addresses by name: `{ web: { address: '127.0.0.1:8080' } }` or `{ web: ':8080' }`. */
  entryPoints: Record<string, string | EntryPointConfig>;
  http?: {
    routers?: Record<string, RouterConfig>;
    middlewares?: Record<string, MiddlewareConfig>;
    services?: Record<string, ServiceConfig>;
    serversTransports?: Record<string, ServersTransportConfig>;
  };
  /** Certificates of the entry points with `http.tls`. */
  tls?: TlsConfig;
  plugins?: PluginsConfig;
  /** The admin server (`/api/plugins`, `/api/routers`, `/metrics`): `{ address }` or an address. */
  admin?: string | { address: string };
  /** Log one line per request (default true). */
  accessLog?: boolean;
  /** Dynamic configuration besides this file: `{ redis: { url, rootKey } }` (Traefik's KV layout). */
  providers?: ProvidersConfig;
}

/** A host and port to listen on. */
export interface ListenAddress {
  host: string | undefined;
  port: number;
  /** As written in the config. */
  text: string;
}

export interface ResolvedRouter {
  name: string;
  rule: string;
  match: RuleMatcher;
  entryPoints: string[];
  middlewares: string[];
  service: string;
  priority: number;
}

export interface ResolvedMiddleware {
  name: string;
  /** The plugin's name, or the built-in's type (e.g. `stripPrefix`). */
  plugin: string;
  /** Set for a built-in middleware: its Traefik key. */
  builtin?: string;
  /** The config as written (before the plugin's schema fills defaults). */
  config: unknown;
  failOpen: boolean;
}

export type ResolvedService =
  | { name: string; kind: 'echo' }
  | ({
      name: string;
      kind: 'loadBalancer';
      servers: URL[];
      passHostHeader: boolean;
      dialTimeoutMs: number;
      responseHeaderTimeoutMs: number;
      idleConnTimeoutMs: number;
      /** TLS settings for https:// servers (from its serversTransport). */
      tls: ResolvedTransport['tls'] | undefined;
    } & Partial<LoadBalancerExtras>)
  | CompositeService;

/** A checked configuration with defaults filled and paths resolved. */
export interface ResolvedConfig {
  /** The config file (absolute), when it came from one. */
  file: string | undefined;
  entryPoints: Map<string, ListenAddress & EntryPointOptions>;
  /** Certificate files of the TLS entry points. */
  certificates: CertFiles[];
  admin: ListenAddress | undefined;
  accessLog: boolean;
  routers: ResolvedRouter[];
  middlewares: Map<string, ResolvedMiddleware>;
  services: Map<string, ResolvedService>;
  plugins: {
    dir: string;
    limits: Record<string, number> | undefined;
    pluginLimits: Record<string, Record<string, number>> | undefined;
    grants: Record<string, { kv?: { shared?: string[] } }> | undefined;
    kv: ResolvedKv | undefined;
    trust: { publicKeys: string[]; requireSignature?: boolean } | undefined;
    watch: boolean | { debounceMs?: number } | undefined;
  };
  /** `providers.redis`, when the routers/middlewares/services also come from Redis. */
  redisProvider: ResolvedRedisProvider | undefined;
  /** Where a path of the file is: ' (line N)' or ''. */
  at(path: readonly (string | number)[]): string;
  /** Dynamic files or directories (providers.file) to watch for reloads. */
  watchPaths?: string[];
}

export interface Issue {
  path: string;
  message: string;
}
