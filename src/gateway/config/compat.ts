/**
 * The compatibility table with Traefik v3's configuration reference (static and dynamic keys),
 * as data: each key is `supported`, `difference` (accepted, and what differs), `refused` (with the
 * error code the gateway answers) or `tls` (the TLS and ACME keys, another table's rows until they
 * land). `sample` is a fragment of a configuration that uses the key: test/compat-table.test.ts
 * loads every row's sample and checks the gateway accepts or refuses it as the row says, and that
 * docs/compatibility.md is `renderCompatTable()`'s output, so neither can drift.
 *
 * Regenerate the block of docs/compatibility.md (between `<!-- compat-table:start -->` and
 * `<!-- compat-table:end -->`) after editing rows: `npm run build`, then
 *   node -e "import('./dist/gateway/config/compat.js').then(m => m.writeCompatTable('docs/compatibility.md'))"
 */

export type CompatStatus = 'supported' | 'difference' | 'refused' | 'tls';

export interface CompatRow {
  /** The key as Traefik's reference writes it; `<name>` stands for a user's name. */
  key: string;
  status: CompatStatus;
  /** What differs (difference), why it is refused, or nothing. */
  note?: string;
  /** For refused rows: the error code (ERR_CONFIG unless said). */
  code?: 'ERR_CONFIG' | 'ERR_PROVIDER_UNSUPPORTED';
  /** A configuration fragment using the key, merged over a minimal gateway file (entry point `web`, router `r`, service `s`). */
  sample?: Record<string, unknown>;
}

const ep = (o: Record<string, unknown>) => ({ entryPoints: { web: { address: '127.0.0.1:0', ...o } } });
const epHttp = (o: Record<string, unknown>) => ep({ http: o });
const epTransport = (o: Record<string, unknown>) => ep({ transport: o });
const mw = (o: Record<string, unknown>) => ({ http: { middlewares: { m: o } } });
const lb = (o: Record<string, unknown>) => ({ http: { services: { s: { echo: false, loadBalancer: { servers: [{ url: 'http://127.0.0.1:1' }], ...o } } } } });
const router = (o: Record<string, unknown>) => ({ http: { routers: { r: o } } });
const st = (o: Record<string, unknown>) => ({ http: { serversTransports: { t: o } } });
const internalEp = { traefik: { address: '127.0.0.1:0' } };
const withTraefikEp = (o: Record<string, unknown>) => ({ entryPoints: { web: { address: '127.0.0.1:0' }, ...internalEp }, ...o });
const provider = (name: string): CompatRow => ({ key: `providers.${name}`, status: 'refused', code: 'ERR_PROVIDER_UNSUPPORTED', note: 'only file and redis are providers here', sample: { providers: { [name]: {} } } });
const refused = (key: string, sample: Record<string, unknown>, note?: string): CompatRow => ({ key, status: 'refused', code: 'ERR_CONFIG', sample, ...(note ? { note } : {}) });
const tls = (key: string, note = 'see the TLS table (router tls, tls options, ACME)'): CompatRow => ({ key, status: 'tls', note });

/** Every row, static keys first, in the reference's order. */
export const COMPAT_ROWS: readonly CompatRow[] = [
  // ---- static: global, serversTransport
  { key: 'global.checkNewVersion', status: 'difference', note: 'accepted; Terrarium never checks for a version (no network)', sample: { global: { checkNewVersion: true } } },
  { key: 'global.sendAnonymousUsage', status: 'difference', note: 'accepted; nothing is ever sent', sample: { global: { sendAnonymousUsage: true } } },
  { key: 'serversTransport.insecureSkipVerify', status: 'supported', note: 'the default of every load balancer naming no serversTransport', sample: { serversTransport: { insecureSkipVerify: true } } },
  { key: 'serversTransport.rootCAs', status: 'supported', sample: { serversTransport: { rootCAs: ['-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n'] } } },
  { key: 'serversTransport.forwardingTimeouts.dialTimeout', status: 'supported', sample: { serversTransport: { forwardingTimeouts: { dialTimeout: '2s' } } } },
  { key: 'serversTransport.forwardingTimeouts.responseHeaderTimeout', status: 'supported', sample: { serversTransport: { forwardingTimeouts: { responseHeaderTimeout: '10s' } } } },
  { key: 'serversTransport.forwardingTimeouts.idleConnTimeout', status: 'supported', sample: { serversTransport: { forwardingTimeouts: { idleConnTimeout: '3s' } } } },
  refused('serversTransport.maxIdleConnsPerHost', { serversTransport: { maxIdleConnsPerHost: 42 } }),
  refused('serversTransport.spiffe', { serversTransport: { spiffe: {} } }),
  // ---- static: entry points
  { key: 'entryPoints.<name>.address', status: 'supported', note: 'TCP only (no /udp)', sample: ep({}) },
  { key: 'entryPoints.<name>.transport.respondingTimeouts.readTimeout', status: 'supported', sample: epTransport({ respondingTimeouts: { readTimeout: '60s' } }) },
  { key: 'entryPoints.<name>.transport.respondingTimeouts.writeTimeout', status: 'supported', sample: epTransport({ respondingTimeouts: { writeTimeout: '30s' } }) },
  { key: 'entryPoints.<name>.transport.respondingTimeouts.idleTimeout', status: 'supported', sample: epTransport({ respondingTimeouts: { idleTimeout: '180s' } }) },
  { key: 'entryPoints.<name>.transport.lifeCycle.requestAcceptGraceTimeout', status: 'difference', note: 'on SIGTERM new requests are still accepted and served this long (/ping answers its terminating status), then the listeners close; the longest value of any entry point applies to the whole gateway', sample: epTransport({ lifeCycle: { requestAcceptGraceTimeout: '5s' } }) },
  { key: 'entryPoints.<name>.transport.lifeCycle.graceTimeOut', status: 'difference', note: 'requests in flight may finish this long (default 10s), then their connections are closed; the longest value of any entry point applies to the whole gateway, and createGateway shutdownTimeoutMs overrides it', sample: epTransport({ lifeCycle: { graceTimeOut: '10s' } }) },
  refused('entryPoints.<name>.transport.keepAliveMaxRequests', epTransport({ keepAliveMaxRequests: 10 })),
  refused('entryPoints.<name>.transport.keepAliveMaxTime', epTransport({ keepAliveMaxTime: '1m' })),
  { key: 'entryPoints.<name>.transport.maxConnections', status: 'difference', note: 'Terrarium only (Traefik has no such key)', sample: epTransport({ maxConnections: 100 }) },
  { key: 'entryPoints.<name>.proxyProtocol.trustedIPs', status: 'supported', note: 'PROXY v1 and v2, on plain and TLS entry points (the header before the handshake); from other sources the header is removed and its address ignored; a malformed header closes that connection', sample: ep({ proxyProtocol: { trustedIPs: ['127.0.0.1'] } }) },
  { key: 'entryPoints.<name>.proxyProtocol.insecure', status: 'supported', sample: ep({ proxyProtocol: { insecure: true } }) },
  { key: 'entryPoints.<name>.forwardedHeaders.trustedIPs', status: 'supported', sample: ep({ forwardedHeaders: { trustedIPs: ['10.0.0.0/8'] } }) },
  { key: 'entryPoints.<name>.forwardedHeaders.insecure', status: 'supported', sample: ep({ forwardedHeaders: { insecure: true } }) },
  refused('entryPoints.<name>.forwardedHeaders.connection', ep({ forwardedHeaders: { connection: ['foo'] } })),
  { key: 'entryPoints.<name>.http.redirections.entryPoint.to', status: 'difference', note: 'an entry point name takes its configured port (an entry point on port 0 redirects to port 0: give `:port`)', sample: epHttp({ redirections: { entryPoint: { to: ':443' } } }) },
  { key: 'entryPoints.<name>.http.redirections.entryPoint.scheme', status: 'supported', note: 'default https', sample: epHttp({ redirections: { entryPoint: { to: ':8080', scheme: 'http' } } }) },
  { key: 'entryPoints.<name>.http.redirections.entryPoint.permanent', status: 'supported', note: 'default true (301, 308 for non-GET)', sample: epHttp({ redirections: { entryPoint: { to: ':443', permanent: false } } }) },
  { key: 'entryPoints.<name>.http.redirections.entryPoint.priority', status: 'supported', note: 'default MaxInt32-1', sample: epHttp({ redirections: { entryPoint: { to: ':443', priority: 10 } } }) },
  { key: 'entryPoints.<name>.http.middlewares', status: 'supported', note: "before each router's own, on that entry point only", sample: { ...epHttp({ middlewares: ['m@file'] }), ...mw({ stripPrefix: { prefixes: ['/a'] } }) } },
  tls('entryPoints.<name>.http.tls'),
  tls('entryPoints.<name>.http.tls.options'),
  tls('entryPoints.<name>.http.tls.certResolver'),
  tls('entryPoints.<name>.http.tls.domains'),
  refused('entryPoints.<name>.http.encodeQuerySemicolons', epHttp({ encodeQuerySemicolons: true })),
  refused('entryPoints.<name>.http.sanitizePath', epHttp({ sanitizePath: false }), 'the path is always sanitized'),
  refused('entryPoints.<name>.http.maxHeaderBytes', epHttp({ maxHeaderBytes: 1024 })),
  tls('entryPoints.<name>.http2.maxConcurrentStreams', 'see the TLS table (HTTP/2)'),
  refused('entryPoints.<name>.http3', ep({ http3: {} })),
  refused('entryPoints.<name>.udp.timeout', ep({ udp: { timeout: '3s' } }), 'HTTP only'),
  refused('entryPoints.<name>.asDefault', ep({ asDefault: true })),
  refused('entryPoints.<name>.reusePort', ep({ reusePort: true })),
  refused('entryPoints.<name>.observability', ep({ observability: { accessLogs: false } })),
  tls('entryPoints.<name>.allowACMEByPass'),
  // ---- static: providers
  { key: 'providers.providersThrottleDuration', status: 'difference', note: 'accepted; reloads are debounced by the file watcher', sample: { providers: { providersThrottleDuration: '2s', file: { filename: '$DYNAMIC' } } } },
  { key: 'providers.file.filename', status: 'supported', sample: { providers: { file: { filename: '$DYNAMIC' } } } },
  { key: 'providers.file.directory', status: 'supported', sample: { providers: { file: { directory: '$DYNAMIC_DIR' } } } },
  { key: 'providers.file.watch', status: 'supported', sample: { providers: { file: { filename: '$DYNAMIC', watch: false } } } },
  refused('providers.file.debugLogGeneratedTemplate', { providers: { file: { filename: '$DYNAMIC', debugLogGeneratedTemplate: true } } }, 'no Go templates in dynamic files'),
  { key: 'providers.redis.rootKey', status: 'difference', note: 'Terrarium\'s redis provider takes `url` (redis://...) where Traefik takes `endpoints`', sample: { providers: { redis: { url: 'redis://127.0.0.1:1', rootKey: 'traefik' } } } },
  refused('providers.redis.endpoints', { providers: { redis: { endpoints: ['127.0.0.1:6379'] } } }, 'give url: redis://host:port'),
  ...['docker', 'swarm', 'kubernetesCRD', 'kubernetesIngress', 'kubernetesIngressNGINX', 'kubernetesGateway', 'knative', 'consulCatalog', 'nomad', 'ecs', 'consul', 'etcd', 'zooKeeper', 'http', 'rest', 'plugin'].map(provider),
  // ---- static: api, metrics, ping, log, accessLog
  { key: 'api.insecure', status: 'supported', note: '/api/* (the admin views; /api/http/routers, /middlewares, /services too) on the traefik entry point', sample: withTraefikEp({ api: { insecure: true } }) },
  { key: 'api.dashboard', status: 'difference', note: 'accepted; the dashboard is the admin server\'s /dashboard/', sample: { api: { dashboard: true } } },
  { key: 'api.debug', status: 'difference', note: 'accepted; no /debug endpoints', sample: { api: { debug: true } } },
  { key: 'api.basePath', status: 'difference', note: 'accepted; the API stays at /api', sample: { api: { basePath: '/x' } } },
  { key: 'api.disableDashboardAd', status: 'difference', note: 'accepted; there is no ad', sample: { api: { disableDashboardAd: true } } },
  { key: 'metrics.prometheus.entryPoint', status: 'supported', note: 'default traefik (:8080 when undeclared); with --workers N each scrape is answered by one worker with its own counts (the admin /metrics aggregates the terrarium_* series only)', sample: { metrics: { prometheus: { entryPoint: 'web' } } } },
  { key: 'metrics.prometheus.manualRouting', status: 'difference', note: 'not served at all: there is no prometheus@internal service to route to', sample: { metrics: { prometheus: { manualRouting: true } } } },
  { key: 'metrics.prometheus.addRoutersLabels', status: 'supported', note: 'default false; traefik_router_requests_total and _request_duration_seconds by code, method, protocol, router, service (router names without @file)', sample: { metrics: { prometheus: { entryPoint: 'web', addRoutersLabels: true } } } },
  { key: 'metrics.prometheus.addServicesLabels', status: 'supported', note: 'default true; traefik_service_requests_total and _request_duration_seconds by code, method, protocol, service (no _retries_total, _open_connections, bytes)', sample: { metrics: { prometheus: { entryPoint: 'web', addServicesLabels: true } } } },
  { key: 'metrics.prometheus.addEntryPointsLabels', status: 'supported', note: 'default true; traefik_entrypoint_requests_total and _request_duration_seconds by code, method, protocol, entrypoint (no _requests_tls_total, _open_connections, bytes)', sample: { metrics: { prometheus: { entryPoint: 'web', addEntryPointsLabels: true } } } },
  { key: 'metrics.prometheus.buckets', status: 'supported', note: 'default 0.1, 0.3, 1.2, 5; the traefik_* duration histograms (the terrarium_* ones keep their own)', sample: { metrics: { prometheus: { entryPoint: 'web', buckets: [0.1, 0.3, 1.2, 5] } } } },
  { key: 'metrics.prometheus.headerLabels', status: 'difference', note: 'accepted; no header labels', sample: { metrics: { prometheus: { entryPoint: 'web', headerLabels: { a: 'X-A' } } } } },
  { key: 'metrics.addInternals', status: 'difference', note: 'accepted; internal endpoints are not counted', sample: { metrics: { addInternals: true } } },
  refused('metrics.datadog', { metrics: { datadog: {} } }),
  refused('metrics.statsD', { metrics: { statsD: {} } }),
  refused('metrics.influxDB2', { metrics: { influxDB2: {} } }),
  refused('metrics.otlp', { metrics: { otlp: {} } }),
  { key: 'ping.entryPoint', status: 'supported', note: 'default traefik (:8080 when undeclared); /ping answers 200 OK', sample: { ping: { entryPoint: 'web' } } },
  { key: 'ping.manualRouting', status: 'difference', note: 'not served at all: there is no ping@internal service to route to', sample: { ping: { manualRouting: true } } },
  { key: 'ping.terminatingStatusCode', status: 'supported', note: 'while the gateway shuts down', sample: { ping: { entryPoint: 'web', terminatingStatusCode: 204 } } },
  { key: 'log.level', status: 'difference', note: 'accepted; the CLI logs with its own level', sample: { log: { level: 'DEBUG' } } },
  { key: 'log.format', status: 'difference', note: 'accepted; the CLI logs JSON lines', sample: { log: { format: 'json' } } },
  { key: 'log.filePath', status: 'difference', note: 'accepted; the CLI logs to stdout', sample: { log: { filePath: '/tmp/traefik.log' } } },
  { key: 'log.noColor', status: 'difference', note: 'accepted; no colors anyway', sample: { log: { noColor: true } } },
  { key: 'log.maxSize', status: 'difference', note: 'accepted; no rotation', sample: { log: { maxSize: 10 } } },
  { key: 'accessLog', status: 'supported', note: 'the section form writes Traefik\'s fields; Terrarium\'s `accessLog: true` (the default) its own line', sample: { accessLog: {} } },
  { key: 'accessLog.filePath', status: 'supported', note: 'appended; without it the lines go to the gateway logger', sample: { accessLog: { filePath: '/tmp/access.log' } } },
  { key: 'accessLog.format', status: 'supported', note: 'common (Traefik\'s CLF) or json with Traefik\'s field names; genericCLF is written as common', sample: { accessLog: { format: 'json' } } },
  { key: 'accessLog.bufferingSize', status: 'difference', note: 'accepted; lines are written through a stream, not counted', sample: { accessLog: { bufferingSize: 100 } } },
  { key: 'accessLog.filters.statusCodes', status: 'supported', sample: { accessLog: { filters: { statusCodes: ['500-599', '404'] } } } },
  { key: 'accessLog.filters.retryAttempts', status: 'difference', note: 'accepted; RetryAttempts is always 0, so it keeps nothing by itself', sample: { accessLog: { filters: { retryAttempts: true } } } },
  { key: 'accessLog.filters.minDuration', status: 'supported', sample: { accessLog: { filters: { minDuration: '10ms' } } } },
  { key: 'accessLog.fields.defaultMode', status: 'supported', sample: { accessLog: { fields: { defaultMode: 'keep' } } } },
  { key: 'accessLog.fields.names', status: 'supported', note: 'ClientUsername, OriginStatus, OriginDuration, Overhead, ServiceURL, TLS* are not produced', sample: { accessLog: { fields: { names: { ClientUsername: 'drop' } } } } },
  { key: 'accessLog.fields.headers.defaultMode', status: 'supported', note: 'request headers only (request_<Name>), default drop', sample: { accessLog: { fields: { headers: { defaultMode: 'drop' } } } } },
  { key: 'accessLog.fields.headers.names', status: 'supported', sample: { accessLog: { fields: { headers: { names: { 'User-Agent': 'keep' } } } } } },
  refused('tracing', { tracing: {} }),
  refused('hostResolver', { hostResolver: { cnameFlattening: true } }),
  refused('core.defaultRuleSyntax', { core: { defaultRuleSyntax: 'v2' } }),
  refused('spiffe', { spiffe: {} }),
  refused('ocsp', { ocsp: {} }),
  tls('certificatesResolvers.<name>.acme'),
  { key: 'experimental.plugins.<name>', status: 'difference', note: 'resolved by name against the plugin directory (a missing one is an error naming the file to drop there); nothing is downloaded', sample: { experimental: { plugins: { p: { moduleName: 'github.com/a/p', version: 'v1.0.0' } } } } },
  { key: 'experimental.localPlugins.<name>', status: 'difference', note: 'as experimental.plugins', sample: { experimental: { localPlugins: { p: { moduleName: 'github.com/a/p' } } } } },
  refused('experimental.abortOnPluginFailure', { experimental: { abortOnPluginFailure: true } }),
  refused('experimental.fastProxy', { experimental: { fastProxy: {} } }),
  refused('experimental.otlpLogs', { experimental: { otlpLogs: true } }),
  // ---- dynamic: routers
  { key: 'http.routers.<name>.rule', status: 'supported', sample: router({ rule: 'Host(`a.example`) && PathPrefix(`/api`)' }) },
  { key: 'http.routers.<name>.entryPoints', status: 'supported', sample: router({ entryPoints: ['web'] }) },
  { key: 'http.routers.<name>.middlewares', status: 'supported', sample: { ...router({ middlewares: ['m'] }), http: { ...router({ middlewares: ['m'] }).http, middlewares: { m: { stripPrefix: { prefixes: ['/a'] } } } } } },
  { key: 'http.routers.<name>.service', status: 'supported', sample: router({ service: 's' }) },
  { key: 'http.routers.<name>.priority', status: 'supported', sample: router({ priority: 10 }) },
  refused('http.routers.<name>.ruleSyntax', router({ ruleSyntax: 'v2' })),
  refused('http.routers.<name>.observability', router({ observability: { metrics: false } })),
  tls('http.routers.<name>.tls'),
  // ---- dynamic: services
  { key: 'http.services.<name>.loadBalancer.servers[].url', status: 'supported', note: 'http:// and https://', sample: lb({}) },
  { key: 'http.services.<name>.loadBalancer.servers[].weight', status: 'supported', sample: lb({ servers: [{ url: 'http://127.0.0.1:1', weight: 2 }] }) },
  refused('http.services.<name>.loadBalancer.servers[].preservePath', lb({ servers: [{ url: 'http://127.0.0.1:1', preservePath: true }] })),
  { key: 'http.services.<name>.loadBalancer.passHostHeader', status: 'supported', sample: lb({ passHostHeader: false }) },
  { key: 'http.services.<name>.loadBalancer.serversTransport', status: 'supported', sample: { ...lb({ serversTransport: 't' }), ...{ http: { ...lb({ serversTransport: 't' }).http, serversTransports: { t: {} } } } } },
  { key: 'http.services.<name>.loadBalancer.healthCheck', status: 'supported', note: 'HTTP mode only (no gRPC)', sample: lb({ healthCheck: { path: '/health', interval: '10s' } }) },
  { key: 'http.services.<name>.loadBalancer.sticky.cookie', status: 'supported', sample: lb({ sticky: { cookie: { name: 'lb' } } }) },
  { key: 'http.services.<name>.loadBalancer.strategy', status: 'supported', sample: lb({ strategy: 'p2c' }) },
  { key: 'http.services.<name>.loadBalancer.responseForwarding.flushInterval', status: 'supported', sample: lb({ responseForwarding: { flushInterval: '100ms' } }) },
  { key: 'http.services.<name>.weighted', status: 'supported', sample: { http: { services: { s: { echo: false, weighted: { services: [{ name: 'e', weight: 1 }] } }, e: { loadBalancer: { servers: [{ url: 'http://127.0.0.1:1' }] } } } } } },
  { key: 'http.services.<name>.mirroring', status: 'supported', sample: { http: { services: { s: { echo: false, mirroring: { service: 'e', mirrors: [{ name: 'e', percent: 10 }] } }, e: { loadBalancer: { servers: [{ url: 'http://127.0.0.1:1' }] } } } } } },
  { key: 'http.services.<name>.failover', status: 'supported', sample: { http: { services: { s: { echo: false, failover: { service: 'e', fallback: 'f' } }, e: { loadBalancer: { servers: [{ url: 'http://127.0.0.1:1' }] } }, f: { loadBalancer: { servers: [{ url: 'http://127.0.0.1:2' }] } } } } } },
  // ---- dynamic: middlewares (one row per type; their options are in docs/gateway.md)
  ...(
    [
      ['addPrefix', { prefix: '/a' }],
      ['basicAuth', { users: ['u:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/'] }],
      ['buffering', { maxRequestBodyBytes: 1000 }],
      ['chain', { middlewares: [] }],
      ['circuitBreaker', { expression: 'NetworkErrorRatio() > 0.5' }],
      ['compress', {}],
      ['contentType', {}],
      ['forwardAuth', { address: 'http://127.0.0.1:1/auth' }],
      ['headers', { customResponseHeaders: { 'X-A': 'b' } }],
      ['inFlightReq', { amount: 10 }],
      ['ipAllowList', { sourceRange: ['127.0.0.1/32'] }],
      ['rateLimit', { average: 100, burst: 200 }],
      ['redirectRegex', { regex: '^http://(.*)', replacement: 'https://$1' }],
      ['redirectScheme', { scheme: 'https' }],
      ['replacePath', { path: '/x' }],
      ['replacePathRegex', { regex: '^/a/(.*)', replacement: '/$1' }],
      ['retry', { attempts: 3 }],
      ['stripPrefix', { prefixes: ['/a'] }],
      ['stripPrefixRegex', { regex: ['^/[a-z]+'] }],
    ] as const
  ).map(([type, config]): CompatRow => ({ key: `http.middlewares.<name>.${type}`, status: 'supported', sample: mw({ [type]: config }) })),
  { key: 'http.middlewares.<name>.plugin', status: 'difference', note: 'a script plugin of the plugin directory (JS, TS, Lua), not a Go/Yaegi one', sample: mw({ plugin: { p: {} } }) },
  refused('http.middlewares.<name>.digestAuth', mw({ digestAuth: { users: ['u:r:h'] } }), 'use basicAuth or forwardAuth'),
  refused('http.middlewares.<name>.errors', mw({ errors: { status: ['500'], service: 's', query: '/' } }), 'write a plugin that replaces the body in onResponse'),
  refused('http.middlewares.<name>.grpcWeb', mw({ grpcWeb: {} })),
  refused('http.middlewares.<name>.passTLSClientCert', mw({ passTLSClientCert: { pem: true } })),
  refused('http.middlewares.<name>.ipWhiteList', mw({ ipWhiteList: { sourceRange: ['127.0.0.1/32'] } }), 'renamed ipAllowList in v3'),
  refused('http.middlewares.<name>.encodedCharacters', mw({ encodedCharacters: {} })),
  // ---- dynamic: servers transports, tcp, udp, tls
  { key: 'http.serversTransports.<name>.serverName', status: 'supported', sample: st({ serverName: 'a.example' }) },
  { key: 'http.serversTransports.<name>.insecureSkipVerify', status: 'supported', sample: st({ insecureSkipVerify: true }) },
  { key: 'http.serversTransports.<name>.rootCAs', status: 'supported', sample: st({ rootCAs: ['-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n'] }) },
  { key: 'http.serversTransports.<name>.forwardingTimeouts', status: 'supported', sample: st({ forwardingTimeouts: { dialTimeout: '1s', responseHeaderTimeout: '5s', idleConnTimeout: '3s' } }) },
  refused('http.serversTransports.<name>.certificates', st({ certificates: [{ certFile: 'a', keyFile: 'b' }] })),
  refused('http.serversTransports.<name>.maxIdleConnsPerHost', st({ maxIdleConnsPerHost: 2 })),
  refused('http.serversTransports.<name>.disableHTTP2', st({ disableHTTP2: true })),
  refused('http.serversTransports.<name>.peerCertURI', st({ peerCertURI: 'spiffe://a' })),
  refused('http.serversTransports.<name>.spiffe', st({ spiffe: {} })),
  refused('tcp', { tcp: { routers: {} } }, 'HTTP only'),
  refused('udp', { udp: { routers: {} } }, 'HTTP only'),
  tls('tls.certificates'),
  tls('tls.options'),
  tls('tls.stores'),
];

const STATUS_TEXT: Record<CompatStatus, string> = { supported: 'supported', difference: 'supported, with a difference', refused: 'refused', tls: 'see the TLS rows' };

/** The block of docs/compatibility.md between its compat-table markers: the rows as a Markdown table. */
export function renderCompatTable(rows: readonly CompatRow[] = COMPAT_ROWS): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [
    '| key | status | notes |',
    '|---|---|---|',
    ...rows.map((r) => `| \`${esc(r.key)}\` | ${STATUS_TEXT[r.status]}${r.status === 'refused' ? ` (\`${r.code ?? 'ERR_CONFIG'}\`)` : ''} | ${esc(r.note ?? '')} |`),
  ];
  return lines.join('\n');
}

/** Replace the generated block of a page (between the compat-table markers) with the table. */
export async function writeCompatTable(file: string): Promise<void> {
  const { readFile, writeFile } = await import('node:fs/promises');
  const page = await readFile(file, 'utf8');
  await writeFile(file, replaceCompatBlock(page));
}

/** The page with its generated block replaced. */
export function replaceCompatBlock(page: string): string {
  const start = '<!-- compat-table:start -->';
  const end = '<!-- compat-table:end -->';
  const a = page.indexOf(start);
  const b = page.indexOf(end);
  if (a < 0 || b < a) throw new Error(`the page has no ${start} ... ${end} block`);
  return `${page.slice(0, a + start.length)}\n${renderCompatTable()}\n${page.slice(b)}`;
}
