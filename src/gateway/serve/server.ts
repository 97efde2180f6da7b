/**
 * `createGateway`: the reverse proxy's lifecycle. It starts the plugin host, builds the first
 * routing table (runtime.ts), listens on every entry point (listeners.ts) and the admin address
 * (admin.ts), follows plugin reloads and config changes (config-watch.ts), swaps the routing table
 * atomically on reload, and closes in order. Requests are routed by dispatch.ts and run by
 * exchange.ts; plugin hot reload comes from the host's `watch`.
 *
 * The request path is written for the common case: sync plugin calls stay sync (no await, no
 * promise), bodies are read only when a plugin asked for them or the echo service needs them, and
 * responses nobody inspects are piped straight through.
 */
import type http from 'node:http';
import { ReplayRecorder } from '../stats/recorder.js';
import { createHost, type Host, type HostOptions } from '../../host/host.js';
import { envoyCapability } from '../middleware/envoy/index.js';
import { ConfigError, TerrariumError } from '../../errors.js';
import type { PluginWatcher } from '../../shared/watch.js';
import type { Logger } from '../../types.js';
import { readConfig, sortIssues } from '../config/load.js';
import { experimentalPluginIssues, pluginLimitIssues } from '../config/check.js';
import type { GatewayConfig, Issue, ResolvedConfig, ResolvedTlsOptions } from '../config/model.js';
import { defaultTlsOptions } from '../config/tls.js';
import { watchConfigFiles } from '../config/watch.js';
import { PluginCatalog } from '../middleware/plugin.js';
import { AgentPool } from '../services/proxy.js';
import { openKv, type KvStore } from '../kv/open.js';
import { GatewayStats } from '../stats/stats.js';
import { internalHandler, type AdminSource } from '../admin/api.js';
import { PluginLogs } from '../admin/logs.js';
import { createEntryPointServer, h2Sides, listenOn, startAdmin, type AdminServer, type BoundAddress } from './listeners.js';
import { CertStore } from './certs.js';
import type { AcmeResolver, AcmeTiming } from '../acme/resolver.js';
import { TraefikSeries } from '../stats/traefik.js';
import { disposeRuntime } from '../exchange/runtime-dispose.js';
import { buildRuntime, rebindPlugin, requiredExports, staticChanges, type Runtime } from '../exchange/runtime.js';
import { Dispatcher } from '../exchange/dispatch.js';
import type { Gateway, GatewayOptions, ReloadEvent } from './types.js';
import type { RedisProvider } from '../config/providers/redis.js';

export type { Gateway, GatewayOptions, ReloadEvent, BoundAddress };

const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

class GatewayImpl implements Gateway {
  readonly stats = new GatewayStats();
  private readonly agents = new AgentPool();
  private readonly servers = new Map<string, http.Server>();
  private readonly bound: Record<string, BoundAddress> = {};
  private readonly dispatch: Dispatcher;
  private adminServer: AdminServer | undefined;
  private certs: CertStore | undefined;
  private resolvers: AcmeResolver[] = [];
  /** Every entry point listens (until then, a failure is a failed start, not a stop). */
  private started = false;
  private catalog!: PluginCatalog;
  private readonly listeners = new Set<(e: ReloadEvent) => void>();
  private reloading: Promise<void> = Promise.resolve();
  private watcher: PluginWatcher | undefined;
  private unsubscribe: (() => void)[] = [];
  private closed: Promise<void> | undefined;
  /** close() was called: /ping answers its terminating status, even while new requests are still accepted (lifeCycle). */
  private terminating = false;
  /** The Redis provider, when `providers.redis` is configured (its routers/middlewares/services are laid over the file's). */
  private provider: RedisProvider | undefined;
  /** What the admin API and cluster workers read: the host, the counters, the routing table in force. */
  readonly view: AdminSource;

  constructor(
    private readonly source: string | GatewayConfig,
    private readonly startConfig: ResolvedConfig,
    readonly host: Host,
    private readonly kv: KvStore | undefined,
    private readonly logger: Logger,
    private readonly options: GatewayOptions,
    logs?: PluginLogs,
  ) {
    this.dispatch = new Dispatcher(host, logger, this.stats, startConfig.entryPoints);
    if (startConfig.replay) this.dispatch.recorder = new ReplayRecorder(startConfig.replay);
    const dispatch = this.dispatch;
    this.view = { host, stats: this.stats, runtime: () => dispatch.runtime, ...(logs ? { logs } : {}) };
  }

  get entryPoints(): Readonly<Record<string, BoundAddress>> {
    return this.bound;
  }

  get admin(): BoundAddress | undefined {
    return this.adminServer?.address;
  }

  get config(): ResolvedConfig {
    return this.dispatch.runtime.config;
  }

  /** The services of the configuration now serving (an Envoy filter's httpCall clusters). */
  services(): Runtime['services'] | undefined {
    return this.runtime?.services;
  }

  private get runtime(): Runtime | undefined {
    return this.dispatch.runtime as Runtime | undefined;
  }

  /** Build a routing table (ConfigError listing every problem, `earlier` ones included). */
  build(config: ResolvedConfig, earlier: Issue[] = []): Runtime {
    const running = this.servers.size > 0 ? new Set(this.servers.keys()) : undefined;
    return buildRuntime(config, earlier, { catalog: this.catalog, stats: this.stats, agents: this.agents, logger: this.logger, running });
  }

  /** Start: the plugin catalog and the first routing table, then plugin events, standbys, listeners. */
  async start(first: () => Promise<Runtime>): Promise<void> {
    this.catalog = new PluginCatalog(this.host);
    this.dispatch.runtime = await first();
    for (const event of ['loaded', 'reloaded', 'unloaded'] as const) {
      this.unsubscribe.push(
        this.host.on(event, (e) => {
          this.catalog.refresh();
          rebindPlugin(this.dispatch.runtime, this.catalog, e.plugin, event, this.logger);
        }),
      );
    }
    // Standbys built before the first request: the request after a limit violation is served.
    await this.host.ready();
    await this.listen();
  }

  private async listen(): Promise<void> {
    const config = this.startConfig;
    if (config.traefik.metrics) this.stats.traefik = new TraefikSeries(config.traefik.metrics);
    const anyTls = [...config.entryPoints.values()].some((ep) => ep.tls);
    const certs = anyTls || config.certificates.length > 0 ? (this.certs = new CertStore(config.certificates, this.logger, config.defaultCertificate)) : undefined;
    const alpnChallenge = [...(config.resolvers?.values() ?? [])].some((r) => r.challenge.kind === 'tls-alpn-01');
    this.resolvers = certs ? await startResolvers(config, certs, this.logger, this.options.acme) : [];
    for (const [name, ep] of config.entryPoints) {
      const on = config.traefik.internal.get(name);
      const t = config.traefik;
      // Traefik's ping, metrics and insecure API are answered on their entry point before routing.
      const internal = on
        ? internalHandler(this.view, {
            ...(on.ping && t.ping ? { ping: { terminating: () => this.terminating, terminatingStatusCode: t.ping.terminatingStatusCode } } : {}),
            ...(on.metrics && t.metrics ? { metrics: { routers: t.metrics.routers, services: t.metrics.services } } : {}),
            ...(on.api ? { api: true } : {}),
          })
        : undefined;
      const route = internal ? (req: http.IncomingMessage, res: http.ServerResponse) => internal(req, res) || this.dispatch.handle(name, req, res) : (req: http.IncomingMessage, res: http.ServerResponse) => this.dispatch.handle(name, req, res);
      const secure = certs && ep.tls ? { certs, options: entryPointTlsOptions(config, name), alpnChallenge } : undefined;
      // Traefik's ACME router comes first on the httpChallenge entry point.
      const challengers = this.resolvers.filter((r) => r.config.challenge.kind === 'http-01' && r.config.challenge.entryPoint === name);
      const server = createEntryPointServer(ep, secure, {
        request: challengers.length
          ? (req, res) => {
              if (!challengers.some((r) => r.answerHttp(req, res))) route(req, res);
            }
          : route,
        upgrade: (req, socket, head) => this.dispatch.handleUpgrade(name, req, socket, head),
      }, this.logger);
      this.servers.set(name, server);
      this.bound[name] = await listenOn(server, ep, `entryPoints.${name}`, config.file, ep.tls);
    }
    if (config.admin && this.options.admin !== false) this.adminServer = await startAdmin({ ...this.view, gateway: { reload: () => this.reload(), on: (e, l) => this.on(e, l) } }, config.admin, config.file, this.logger);
    this.started = true;
    await certs?.watch();
  }

  /** Watch the config files; resolves once the watcher is ready, so a change made after createGateway is seen. */
  async watchConfig(file: string): Promise<void> {
    this.watcher = await watchConfigFiles(
      file,
      this.startConfig.watchPaths ?? [],
      () => void this.reloadFrom('file', file).catch(() => undefined),
      (err) => this.logger.warn({ file, err: err.message }, `watching the config file failed: ${err.message}`),
    );
  }

  on(event: 'reload', listener: (e: ReloadEvent) => void): () => void {
    if (event !== 'reload') throw new TypeError(`unknown gateway event "${String(event)}"; expected "reload"`);
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  private emit(e: ReloadEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.logger.error({ err: (err as Error)?.message }, 'a reload listener threw');
      }
    }
  }

  reload(config?: string | GatewayConfig): Promise<void> {
    return this.reloadFrom('api', config ?? this.source);
  }

  /** The plugins middlewares can use (loaded, not failed). */
  loadedPlugins(): string[] {
    return this.catalog.names();
  }

  /** The exports a new version of `plugin` must keep (host reload.requiredExports). */
  requiredExports(plugin: string): string[] {
    return requiredExports(this.runtime, plugin);
  }

  /**
   * The routing table to start with. With a Redis provider, the file plus what Redis holds; if that
   * is invalid the file alone serves (the bad keys are logged), as a bad change would on reload.
   */
  async firstRuntime(config: string | GatewayConfig, resolved: ResolvedConfig, issues: Issue[]): Promise<Runtime> {
    if (!resolved.redisProvider) return this.build(resolved, issues);
    // Loaded only when configured: a gateway without Redis never loads ioredis.
    const { startRedisProvider } = await import('../config/providers/redis.js');
    const provider = await startRedisProvider(resolved.redisProvider, this.logger);
    this.provider = provider;
    // The Redis provider saw a change: reload (a rejected change is logged with its keys; the running config stays).
    provider.onChange(() => void this.reloadFrom('redis', this.source).catch(() => undefined));
    try {
      // The file may rely on what Redis defines (a service its routers use): check them together first.
      const checked = await readConfig(config, provider.overlay);
      return this.build(checked.config, checked.issues);
    } catch (e) {
      if (!(e instanceof ConfigError) || provider.keys === 0) throw e;
      this.logger.error({ provider: 'redis', issues: e.issues }, `provider redis: the configuration in Redis is rejected, trying the file's alone: ${e.message}`);
      return this.build(resolved, issues);
    }
  }

  private reloadFrom(source: 'file' | 'api' | 'redis', config: string | GatewayConfig): Promise<void> {
    const run = async () => {
      if (this.dispatch.closing) return;
      let next: ResolvedConfig;
      let runtime: Runtime;
      try {
        const checked = await readConfig(config, this.provider?.overlay);
        next = checked.config;
        runtime = this.build(next, checked.issues);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        this.stats.reloads.failure++;
        this.logger.error({ file: e.file, issues: e.issues }, `configuration rejected, the running one is kept: ${e.message}`);
        this.emit({ ok: false, source, error: e });
        throw e;
      }
      const ignored = staticChanges(this.startConfig, next);
      if (ignored.length > 0) this.logger.warn({ ignored }, `configuration changes that need a restart were not applied: ${ignored.join(', ')}`);
      const previous = this.runtime;
      this.dispatch.runtime = runtime;
      disposeRuntime(previous);
      this.stats.reloads.success++;
      this.logger.info({ routers: runtime.routers.length, middlewares: runtime.middlewares.size, services: runtime.services.size }, 'configuration reloaded');
      this.emit({ ok: true, source, ...(ignored.length ? { ignored } : {}) });
    };
    const p = this.reloading.then(run, run);
    this.reloading = p.catch(() => undefined);
    return p;
  }

  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async shutdown(): Promise<void> {
    this.terminating = true;
    for (const u of this.unsubscribe) u();
    await this.watcher?.close().catch(() => undefined);
    // Traefik's lifeCycle.requestAcceptGraceTimeout: requests are still accepted and served as
    // usual (a load balancer in front notices /ping's terminating status and stops sending).
    const eps = [...this.startConfig.entryPoints.values()];
    const acceptGrace = this.started ? Math.max(0, ...eps.map((ep) => ep.lifeCycle.acceptGraceMs)) : 0;
    if (acceptGrace > 0) {
      this.logger.info({ requestAcceptGraceTimeoutMs: acceptGrace }, 'shutting down: still accepting requests for the accept grace period');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, acceptGrace))), ...(this.options.acceptGraceEnd ? [this.options.acceptGraceEnd] : [])]);
      clearTimeout(timer);
    }
    this.dispatch.closing = true;
    const closedServers = [...this.servers.values()].map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    // Idle keep-alive connections are closed now; busy ones get `connection: close` on their response.
    for (const s of this.servers.values()) s.closeIdleConnections();
    for (const s of this.servers.values()) h2Sides.get(s)?.close();
    if (this.dispatch.pending > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.dispatch.drained(),
        new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            this.logger.warn({ inFlight: this.dispatch.pending }, 'shutdown timeout: closing connections with requests in flight');
            resolve();
          }, this.options.shutdownTimeoutMs ?? Math.max(0, ...eps.map((ep) => ep.lifeCycle.graceMs)));
        }),
      ]);
      clearTimeout(timer);
    }
    for (const s of this.servers.values()) s.closeAllConnections();
    for (const s of this.servers.values()) h2Sides.get(s)?.closeAll();
    for (const t of this.dispatch.tunnels) t.destroy();
    await Promise.all(closedServers);
    await this.adminServer?.close();
    await this.dispatch.closeAccessLog();
    await Promise.all(this.resolvers.map((r) => r.close()));
    await this.certs?.close();
    this.agents.destroy();
    // No runtime when the configuration was refused at start: the kv and the host are still closed.
    const rt = this.runtime;
    if (rt) {
      // Report failure lines still held back by the rate limit.
      for (const mw of rt.middlewares.values()) mw.failureLog?.close();
      disposeRuntime(rt);
    }
    await this.provider?.close();
    await this.dispatch.recorder?.flush();
    await this.host.close();
    this.kv?.dispose();
    if (this.started) this.logger.info({}, 'gateway stopped');
  }
}

/** The ACME resolvers routers use, started (stored certificates served, the rest obtained in the background). acme-client is loaded only then. */
async function startResolvers(config: ResolvedConfig, certs: CertStore, logger: Logger, timing: AcmeTiming | undefined): Promise<AcmeResolver[]> {
  const out: AcmeResolver[] = [];
  for (const r of config.resolvers?.values() ?? []) {
    const wanted = new Map<string, string[]>();
    for (const router of config.routers) {
      if (router.tls?.certResolver !== r.name) continue;
      for (const d of router.tls.domains) wanted.set(d.join(','), d);
    }
    if (wanted.size === 0) continue;
    const { AcmeResolver } = await import('../acme/resolver.js');
    const resolver = new AcmeResolver(r, [...wanted.values()], certs, logger, timing);
    resolver.start();
    out.push(resolver);
  }
  return out;
}

/** The TLS options of an entry point: the one its TLS routers name (check.ts refuses a mix), else `default`. */
function entryPointTlsOptions(config: ResolvedConfig, ep: string): ResolvedTlsOptions {
  const named = config.routers.find((r) => r.tls?.own && r.entryPoints.includes(ep))?.tls?.options ?? 'default';
  return config.tlsOptions?.get(named) ?? config.tlsOptions?.get('default') ?? defaultTlsOptions();
}

/**
 * The read-only view of a running gateway that its admin API shows (cluster workers answer the
 * primary's admin server with it).
 */
export function gatewayView(gw: Gateway): AdminSource {
  if (!(gw instanceof GatewayImpl)) throw new TypeError('gatewayView: not a gateway made by createGateway');
  return gw.view;
}

/**
 * Start a gateway from a YAML file path or a config object: load the plugins, check the whole
 * configuration (a ConfigError lists every problem, with its path and line), listen on every
 * entry point and the admin address.
 * @example
 * await using gw = await createGateway('scripts-examples/gateway.yaml', { logger: pino() })
 * console.log(gw.entryPoints.web.url) // http://127.0.0.1:8080
 */
export async function createGateway(config: string | GatewayConfig, options: GatewayOptions = {}): Promise<Gateway> {
  const logger = options.logger ?? silentLogger;
  // Problems past the schema are reported together with the middleware checks, which need the plugins.
  const { config: resolved, issues } = await readConfig(config);
  // Without a plugins folder the host would complain again about the same directory.
  if (issues.some((i) => i.path === 'plugins.dir')) throw new ConfigError(resolved.file, sortIssues(issues));
  const kv = resolved.plugins.kv ? await openKv(resolved.plugins.kv, logger) : undefined;
  // The plugins' own lines, kept for the dashboard's cards as they pass the host's logger.
  const logs = new PluginLogs();
  const hostOptions: HostOptions = {
    ...(resolved.plugins.dir !== undefined ? { dir: resolved.plugins.dir } : { files: [] }),
    logger: logs.tap(logger),
    // host.envoy (Envoy filters' httpCall and crypto): the services of the configuration now serving.
    capabilities: { ...(kv ? kv.capability : {}), envoy: envoyCapability(() => gwRef?.services()) },
    ...(resolved.plugins.limits ? { limits: resolved.plugins.limits } : {}),
    ...(resolved.plugins.pluginLimits ? { pluginLimits: resolved.plugins.pluginLimits } : {}),
    ...(resolved.plugins.grants ? { grants: resolved.plugins.grants } : {}),
    ...(resolved.plugins.watch !== undefined ? { watch: resolved.plugins.watch } : {}),
    ...(resolved.plugins.trust ? { trust: resolved.plugins.trust } : {}),
    // A new version must keep the phases the bound middlewares call (ERR_EXPORTS_REMOVED otherwise).
    reload: { requiredExports: (plugin) => gwRef?.requiredExports(plugin) ?? [] },
  };
  let gwRef: GatewayImpl | undefined;
  let host: Host;
  try {
    host = await createHost(hostOptions);
  } catch (e) {
    kv?.dispose();
    if (e instanceof TerrariumError && e.code === 'ERR_OPTIONS') {
      throw new ConfigError(resolved.file, sortIssues([...issues, { path: 'plugins', message: e.detail, ...(e.hint ? { hint: e.hint } : {}) }]));
    }
    throw e;
  }
  issues.push(...pluginLimitIssues(resolved, host.plugins.map((p) => p.name)), ...experimentalPluginIssues(resolved, host.plugins.map((p) => p.name)));
  const gw = new GatewayImpl(config, resolved, host, kv, logger, options, logs);
  gwRef = gw;
  try {
    await gw.start(() => gw.firstRuntime(config, resolved, issues));
  } catch (e) {
    await gw.close().catch(() => undefined);
    throw e;
  }
  if (typeof config === 'string' && options.watchConfig !== false) await gw.watchConfig(resolved.file!);
  logger.info(
    { entryPoints: gw.entryPoints, admin: gw.admin?.url, routers: gw.view.runtime().routers.map((r) => r.name), plugins: gw.loadedPlugins() },
    `gateway listening on ${Object.entries(gw.entryPoints).map(([n, a]) => `${n} ${a.url}`).join(', ')}${gw.admin ? `; admin ${gw.admin.url}` : ''}`,
  );
  return gw;
}
