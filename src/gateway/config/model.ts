/**
 * The gateway configuration's types: as written in the file (Traefik's shape: `GatewayConfig`,
 * `RouterConfig`...), and as checked and resolved (`ResolvedConfig`), with the `Issue` every check
 * reports, and the types of each section. The bottom of the gateway: it imports nothing of it.
 * Loading and checking are in load.ts, check.ts, schema.ts, files.ts.
 */
import type { BlockList } from 'node:net';

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
  /** Serve this router on TLS connections only (Traefik's router `tls`); see config/tls.ts. */
  tls?: RouterTlsConfig;
}

/** A router's `tls`: `{}` for the stored/default certificates, or a resolver, named options, domains. */
export interface RouterTlsConfig {
  /** A `certificatesResolvers` name: its certificates are obtained for this router's domains. */
  certResolver?: string;
  /** A `tls.options` name (default `default`). */
  options?: string;
  /** The domains to obtain certificates for (default: the router rule's Host names). */
  domains?: { main: string; sans?: string[] }[];
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
  grants?: Record<string, { kv?: { shared?: string[] }; bigint?: boolean; fetch?: string[] | { allow: string[]; timeoutMs?: number; maxResponseBytes?: number; maxInFlight?: number } }>;
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
  /** Certificates, stores and options of the TLS entry points and routers (Traefik's dynamic `tls`). */
  tls?: TlsConfig;
  /** ACME resolvers by name (Traefik's static `certificatesResolvers`). */
  certificatesResolvers?: Record<string, { acme: AcmeConfig }>;
  plugins?: PluginsConfig;
  /** The admin server (`/api/plugins`, `/api/routers`, `/metrics`, `/dashboard/`): `{ address, auth?, insecure? }` or an address. */
  admin?: string | { address: string; auth?: AdminAuthConfig; insecure?: boolean };
  /** Log one line per request (default true). */
  accessLog?: boolean | Record<string, unknown>;
  /** Record a sample of each router's requests for `terrarium replay` (opt-in). */
  replay?: { file: string; sampleRate?: number; maxBytes?: number; redactHeaders?: string[]; maxQueue?: number };
  /** Dynamic configuration besides this file: `{ redis: { url, rootKey } }` (Traefik's KV layout). */
  providers?: ProvidersConfig;
  /** The gateway's own error answers (404, 502, 504...): Traefik's text (default) or `json`. */
  errorFormat?: 'text' | 'json';
  /** Traefik's static keys (config/static.ts): `/ping` on an entry point. */
  ping?: boolean | { entryPoint?: string; manualRouting?: boolean; terminatingStatusCode?: number };
  /** `metrics.prometheus`: the gateway's Prometheus registry on an entry point. */
  metrics?: { prometheus?: { entryPoint?: string; buckets?: number[]; addEntryPointsLabels?: boolean; addRoutersLabels?: boolean; addServicesLabels?: boolean; manualRouting?: boolean } };
  /** `api.insecure: true` serves `/api/*` on the `traefik` entry point. */
  api?: boolean | { dashboard?: boolean; insecure?: boolean; debug?: boolean };
  log?: { level?: string; format?: 'common' | 'json'; filePath?: string; noColor?: boolean };
  global?: { checkNewVersion?: boolean; sendAnonymousUsage?: boolean };
  /** The default of every load balancer that names no `serversTransport`. */
  serversTransport?: ServersTransportConfig;
  /** Traefik plugins, each resolved by name against the plugin directory. */
  experimental?: { plugins?: Record<string, { moduleName: string; version?: string }>; localPlugins?: Record<string, { moduleName: string }> };
}

/** Traefik's `accessLog` section, resolved (config/access-log.ts). */
export interface ResolvedAccessLog {
  /** Absolute; undefined: the lines go to the gateway logger. */
  filePath: string | undefined;
  format: 'common' | 'json';
  /** Keep only these statuses (inclusive ranges); none: every status. */
  statusRanges: [number, number][];
  /** Keep requests that were retried (Traefik's retryAttempts filter). */
  retryAttempts: boolean;
  /** Keep requests that took at least this long (0: no such filter). */
  minDurationMs: number;
  fieldDefault: 'keep' | 'drop' | 'redact';
  fieldModes: Record<string, 'keep' | 'drop' | 'redact'>;
  headerDefault: 'keep' | 'drop' | 'redact';
  /** By lower-cased header name. */
  headerModes: Record<string, 'keep' | 'drop' | 'redact'>;
}

/** What Traefik's static keys resolve to (config/static.ts). */
export interface ResolvedStatic {
  /** The internal endpoints each entry point serves before routing. */
  internal: Map<string, { ping?: boolean; metrics?: boolean; api?: boolean }>;
  ping?: { terminatingStatusCode: number };
  metrics?: { routers: boolean; services: boolean; entryPoints: boolean; buckets: number[] };
  api?: { dashboard: boolean; insecure: boolean };
  /** `experimental.plugins` and `.localPlugins` names, each to be found in the plugin directory. */
  experimentalPlugins: { name: string; kind: 'plugins' | 'localPlugins' }[];
}

/** A host and port to listen on. */
/** `admin.auth`: a bearer token (from a file or an env variable) and/or basic auth users (htpasswd, as basicAuth reads). */
export interface AdminAuthConfig {
  tokenFile?: string;
  tokenEnv?: string;
  users?: string[];
  usersFile?: string;
}

/** The admin address with its auth (file paths resolved against the config file's folder). */
export interface AdminAddress extends ListenAddress {
  auth: AdminAuthConfig | undefined;
  /** Allow a non-loopback address without auth (logged as a warning). */
  insecure: boolean;
}

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
  /** Set for a TLS router (its own `tls`, or its TLS entry point's `http.tls` defaults). */
  tls?: ResolvedRouterTls;
}

/** A router's TLS, resolved: options name, resolver and the names it serves. */
export interface ResolvedRouterTls {
  options: string;
  certResolver: string | undefined;
  /** Names certificates are obtained for (tls.domains, or the rule's Host names); lower-cased. */
  domains: string[][];
  /** Written on the router itself (not inherited from its entry point's http.tls). */
  own?: boolean;
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
  /** `tls.stores.default.defaultCertificate`, when set. */
  defaultCertificate?: CertFiles;
  /** `tls.options` resolved, by name (`default` always present). */
  tlsOptions?: Map<string, ResolvedTlsOptions>;
  /** `certificatesResolvers`, resolved. */
  resolvers?: Map<string, ResolvedAcme>;
  admin: AdminAddress | undefined;
  accessLog: boolean;
  /** `replay` with defaults filled and `file` absolute (stats/recorder.ts); undefined: off. */
  replay?: { file: string; sampleRate: number; maxBytes: number; redactHeaders: string[]; maxQueue: number } | undefined;
  routers: ResolvedRouter[];
  middlewares: Map<string, ResolvedMiddleware>;
  services: Map<string, ResolvedService>;
  plugins: {
    /** Where the plugins are; undefined when the config names none and has no plugins/ folder. */
    dir: string | undefined;
    limits: Record<string, number> | undefined;
    pluginLimits: Record<string, Record<string, number>> | undefined;
    grants: Record<string, { kv?: { shared?: string[] }; bigint?: boolean; fetch?: string[] | { allow: string[]; timeoutMs?: number; maxResponseBytes?: number; maxInFlight?: number } }> | undefined;
    kv: ResolvedKv | undefined;
    trust: { publicKeys: string[]; requireSignature?: boolean } | undefined;
    watch: boolean | { debounceMs?: number } | undefined;
  };
  /** `providers.redis`, when the routers/middlewares/services also come from Redis. */
  redisProvider: ResolvedRedisProvider | undefined;
  /** Where a path of the config is written (file and line), for issues found after loading. */
  where: Where;
  /** Traefik's static keys: ping, metrics, api, experimental plugins. */
  traefik: ResolvedStatic;
  /** The gateway's own error answers: `text` as Traefik's, or `json`. */
  errorFormat: 'text' | 'json';
  /** Traefik's accessLog section (Traefik's fields and formats), when written as a section. */
  accessLogSpec: ResolvedAccessLog | undefined;
  /** Dynamic files or directories (providers.file) to watch for reloads. */
  watchPaths?: string[];
}

/**
 * Where a path of the configuration is written. `file` is set when it is not the config file the
 * error is about: a dynamic file of providers.file (absolute), or a Redis key of providers.redis.
 * `line` is 1-based, absent when the source keeps no positions (TOML, Redis).
 */
export interface Place {
  file?: string;
  line?: number;
  column?: number;
}

/** The place of a path (`['http', 'routers', 'api', 'rule']`) in the configuration. */
export type Where = (path: readonly (string | number)[]) => Place;

/**
 * One problem of a configuration, its parts as fields so no reader parses a message back:
 * `path` is dotted (`http.services.a.loadBalancer.servers[0].url`), `message` says what is wrong
 * in plain words, `hint` what would be accepted, and the place (file, line) where it is written.
 */
export interface Issue extends Place {
  path: string;
  message: string;
  hint?: string;
}

// The sections' own types: declared here so the model imports nothing of the gateway (the modules
// that check and resolve each section import them from here).

/** What a rule is matched against: one request, as the router sees it. */
export interface MatchInput {
  /** Lower-cased Host header without the port ('' when absent). */
  host: string;
  /** Path of the request (before any middleware rewrites it), without the query. */
  path: string;
  method: string;
  /** Node's request headers (lower-cased names). */
  headers: Record<string, string | string[] | undefined>;
  /** The parsed query string, computed on first use (only `Query(...)` needs it). */
  query(): Record<string, string | string[] | undefined>;
  /** The peer address of the connection (what `ClientIP` matches; never X-Forwarded-For). */
  clientIp: string;
}

export type RuleMatcher = (input: MatchInput) => boolean;

/** An entry point's forwardedHeaders policy, resolved. */
export interface ForwardedPolicy {
  /** Trust every peer (`insecure: true`). */
  insecure: boolean;
  /** Peers whose X-Forwarded-* are kept (`trustedIPs`), or undefined when none is. */
  trusted: BlockList | undefined;
}

/** `entryPoints.<name>` as an object. */
export interface EntryPointConfig {
  /** `127.0.0.1:8080`, `:8080`, `[::1]:8080`. */
  address: string;
  /** Whose X-Forwarded-* headers are kept (default: nobody's; they are replaced). */
  forwardedHeaders?: { trustedIPs?: string[]; insecure?: boolean };
  transport?: {
    respondingTimeouts?: {
      /** Whole request, headers and body, from the client (default 60s; past it 408 and the connection closes). 0 = none. */
      readTimeout?: Duration;
      /** Writing the response, from the end of the request headers (default 0 = none). */
      writeTimeout?: Duration;
      /** A keep-alive connection between requests (default 180s). */
      idleTimeout?: Duration;
    };
    /** Concurrent connections accepted; more are closed at once (default 0 = no limit). */
    maxConnections?: number;
    /** On shutdown: keep accepting for requestAcceptGraceTimeout (default 0), then let requests in flight finish for graceTimeOut (default 10s). */
    lifeCycle?: { requestAcceptGraceTimeout?: Duration; graceTimeOut?: Duration };
  };
  /** The PROXY protocol header (v1, v2) from `trustedIPs` (or anyone with `insecure`) sets the client address. */
  proxyProtocol?: { trustedIPs?: string[]; insecure?: boolean };
  /** `http.tls: {}` terminates TLS with the certificates of the top-level `tls.certificates`. */
  http?: {
    tls?: boolean | RouterTlsConfig;
    /** Every request of this entry point redirected to another (`to`: an entry point name or `:port`). */
    redirections?: { entryPoint?: { to: string; scheme?: string; permanent?: boolean; priority?: number } };
    /** Middlewares applied to every router of this entry point, before the router's own. */
    middlewares?: string[];
  };
}

/** The options of a resolved entry point besides its address. */
export interface EntryPointOptions {
  forwarded: ForwardedPolicy;
  readTimeoutMs: number;
  writeTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnections: number;
  /** `proxyProtocol`, when set: whose PROXY header sets the client address. */
  proxyProtocol?: ForwardedPolicy;
  /** `transport.lifeCycle`, in milliseconds. */
  lifeCycle: { acceptGraceMs: number; graceMs: number };
  tls: boolean;
  /** The entry point's `http.tls` defaults, for its routers without a `tls` of their own. */
  tlsDefaults?: RouterTlsConfig;
  /** What a restart would change, for reload reports. */
  signature: string;
}

/** `http.serversTransports.<name>`, as written. */
export interface ServersTransportConfig {
  /** SNI name and the name the server certificate is checked against (default: the server URL's host). */
  serverName?: string;
  /** Accept any server certificate (default false). For tests only: it defeats TLS. */
  insecureSkipVerify?: boolean;
  /** CA certificates to trust besides the system ones: PEM file paths (relative to the config file) or PEM text. */
  rootCAs?: string[];
  /** Timeouts of the services that use this transport (a service's own forwardingTimeouts win). */
  forwardingTimeouts?: { dialTimeout?: number | string; responseHeaderTimeout?: number | string; idleConnTimeout?: number | string };
}

/** A transport with its CA files read. */
export interface ResolvedTransport {
  name: string;
  tls: {
    /** Identifies the TLS settings in the agent pool key. */
    key: string;
    ca: string[] | undefined;
    insecureSkipVerify: boolean;
    serverName: string | undefined;
  };
  forwardingTimeouts: ServersTransportConfig['forwardingTimeouts'];
}

/** `tls` at the top of the file (Traefik's dynamic tls section). */
export interface TlsConfig {
  certificates?: { certFile: string; keyFile: string; stores?: string[] }[];
  stores?: Record<string, { defaultCertificate?: { certFile: string; keyFile: string } }>;
  options?: Record<string, TlsOptionsConfig>;
}

/** `tls.options.<name>`, as written. */
export interface TlsOptionsConfig {
  minVersion?: string;
  maxVersion?: string;
  cipherSuites?: string[];
  curvePreferences?: string[];
  sniStrict?: boolean;
  alpnProtocols?: string[];
  clientAuth?: { caFiles?: string[]; clientAuthType?: string };
}

/** `tls.options.<name>`, in node:tls terms. */
export interface ResolvedTlsOptions {
  name: string;
  minVersion: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  maxVersion: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list (TLS 1.2 and below), or undefined for node's default. */
  ciphers: string | undefined;
  /** OpenSSL curve list (`X25519:P-256`), or undefined for node's default. */
  ecdhCurve: string | undefined;
  sniStrict: boolean;
  alpnProtocols: string[];
  /** Client certificates: CA PEMs read, and whether one is required / verified. */
  clientAuth: { ca: string[]; request: boolean; require: boolean; verify: boolean } | undefined;
}

/** `certificatesResolvers.<name>.acme`, as written. */
export interface AcmeConfig {
  email?: string;
  /** The acme.json file (Traefik's format), relative to the config file. Default `acme.json`. */
  storage?: string;
  /** The ACME directory URL (default Let's Encrypt production). */
  caServer?: string;
  /** PEM CA files to trust for the ACME server's HTTPS (ours; Traefik uses the system pool or LEGO_CA_CERTIFICATES). */
  caCertificates?: string[];
  httpChallenge?: { entryPoint: string };
  tlsChallenge?: Record<string, never>;
  keyType?: string;
  certificatesDuration?: number;
}

/** An ACME resolver, resolved. */
export interface ResolvedAcme {
  name: string;
  email: string | undefined;
  storage: string;
  caServer: string;
  ca: string[] | undefined;
  challenge: { kind: 'http-01'; entryPoint: string } | { kind: 'tls-alpn-01' };
  keyType: 'EC256' | 'EC384' | 'RSA2048' | 'RSA4096';
  /** Hours a certificate is valid (Traefik's certificatesDuration, default 2160 = 90 days). */
  certificatesDurationHours: number;
}

/** A certificate pair, paths absolute. */
export interface CertFiles {
  certFile: string;
  keyFile: string;
}

export interface CookieSpec {
  name: string;
  secure: boolean;
  httpOnly: boolean;
  sameSite: string;
  maxAge: number;
  path: string;
  domain: string | undefined;
}

export interface HealthCheckSpec {
  path: string;
  method: string;
  status: number | undefined;
  port: number | undefined;
  hostname: string | undefined;
  intervalMs: number;
  unhealthyIntervalMs: number;
  timeoutMs: number;
  headers: Record<string, string>;
}

/** What the loadBalancer variant of ResolvedService gains. */
export interface LoadBalancerExtras {
  weights: number[];
  strategy: 'wrr' | 'p2c';
  healthCheck: HealthCheckSpec | undefined;
  sticky: CookieSpec | undefined;
}

export type CompositeService =
  | { name: string; kind: 'weighted'; services: { name: string; weight: number }[]; sticky: CookieSpec | undefined; healthCheck: boolean }
  | { name: string; kind: 'mirroring'; service: string; mirrors: { name: string; percent: number }[]; mirrorBody: boolean; maxBodySize: number; healthCheck: boolean }
  | { name: string; kind: 'failover'; service: string; fallback: string; healthCheck: boolean; errors: { ranges: [number, number][]; maxRequestBodyBytes: number } | undefined };

/** How to reach Redis (both the kv backend and the provider take it). */
export interface RedisConnectionConfig {
  /** `redis://[user:password@]host:port[/db]` or `rediss://...` for TLS. */
  url: string;
  username?: string;
  password?: string;
  db?: number;
  /** Connecting (default 2s). A duration: milliseconds or `500ms`, `2s`. */
  dialTimeout?: number | string;
  /** How long one command may take before it fails (default 100ms for kv, 1s for the provider). */
  timeout?: number | string;
  /** TLS (also implied by `rediss://`): PEM text or paths relative to the config file. */
  tls?: { ca?: string; cert?: string; key?: string; serverName?: string; insecureSkipVerify?: boolean };
}

/** `plugins.capabilities.kv` once checked. */
export interface ResolvedKv {
  maxKeys: number;
  backend: 'memory' | 'redis';
  redis?: ResolvedRedis & { keyPrefix: string };
}

/** `providers.redis` once checked. */
export interface ResolvedRedisProvider extends ResolvedRedis {
  rootKey: string;
  pollIntervalMs: number;
}

/** A connection block with durations in ms and TLS files read. */
export interface ResolvedRedis {
  url: string;
  username?: string;
  password?: string;
  db?: number;
  dialTimeoutMs: number;
  timeoutMs: number;
  tls?: { ca?: string; cert?: string; key?: string; servername?: string; rejectUnauthorized: boolean };
}

export interface KvConfig {
  maxKeys?: number;
  backend?: 'memory' | 'redis';
  redis?: RedisConnectionConfig & { keyPrefix?: string };
}

export interface ProvidersConfig {
  redis?: RedisConnectionConfig & { rootKey?: string; pollInterval?: number | string };
}
