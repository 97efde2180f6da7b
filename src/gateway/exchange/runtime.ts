/**
 * The routing table: one immutable object built whole from a checked configuration (middlewares
 * bound to their plugins, services built, routers ordered and grouped by entry point), then
 * swapped in at once, so a request in flight finishes with the table it started with.
 */
import { dirname } from 'node:path';
import { ConfigError } from '../../errors.js';
import type { Logger } from '../../types.js';
import type { Issue, ResolvedConfig, ResolvedRouter } from '../config/model.js';
import { sortIssues } from '../config/issues.js';
import { ActiveMiddleware, type PluginCatalog } from '../middleware/plugin.js';
import type { GatewayStats, RouterStats, ServiceStats } from '../stats/stats.js';
import type { AgentPool } from '../services/proxy.js';
import { disposeRuntime } from './runtime-dispose.js';
import { forwarderFactory, UnbuildableService, type Forwarder } from '../services/index.js';

export interface EchoService {
  name: string;
  kind: 'echo';
  stats: ServiceStats;
}
export interface ProxyService {
  name: string;
  kind: 'loadBalancer';
  /** A loadBalancer, weighted, mirroring or failover service (services/). */
  lb: Forwarder;
  stats: ServiceStats;
}
export type Service = EchoService | ProxyService;

export interface Router {
  name: string;
  spec: ResolvedRouter;
  match: ResolvedRouter['match'];
  chain: ActiveMiddleware[];
  service: Service;
  stats: RouterStats;
  /** Some middleware of the chain has an onResponse phase or is broken (the response phase must run). */
  responsePhase: boolean;
  /** The smallest request body limit among the middlewares with onRequest that asked to see it (0: none). */
  requestBodyMax: number;
  /** The largest response body a middleware with onResponse asked to see (0: none). */
  responseBodyMax: number;
}

/** One routing table: built whole, checked, then swapped in at once. */
export interface Runtime {
  config: ResolvedConfig;
  byEntryPoint: Map<string, Router[]>;
  routers: Router[];
  middlewares: Map<string, ActiveMiddleware>;
  services: Map<string, Service>;
}

/** What building a table needs from the running gateway. */
export interface BuildContext {
  catalog: PluginCatalog;
  stats: GatewayStats;
  agents: AgentPool;
  logger: Logger;
  /** The entry points listening (on reload, routers may only use those: they change on restart only). */
  running: ReadonlySet<string> | undefined;
}

/**
 * Build a routing table and bind its middlewares to the plugins. Throws ConfigError listing every
 * problem, `earlier` ones (from checkConfig) included.
 */
export function buildRuntime(config: ResolvedConfig, earlier: Issue[], cx: BuildContext): Runtime {
  const issues: Issue[] = [...earlier];
  const middlewares = new Map<string, ActiveMiddleware>();
  for (const spec of config.middlewares.values()) {
    const mw = new ActiveMiddleware(spec, cx.stats);
    issues.push(...mw.bind(cx.catalog, config.where, config.file ? dirname(config.file) : process.cwd()));
    middlewares.set(spec.name, mw);
  }
  const services = new Map<string, Service>();
  const forwarder = forwarderFactory(config.services, cx.agents, cx.logger);
  for (const s of config.services.values()) {
    const stats = cx.stats.service(s.name);
    if (s.kind === 'echo') services.set(s.name, { name: s.name, kind: 'echo', stats });
    else {
      try {
        services.set(s.name, { name: s.name, kind: 'loadBalancer', lb: forwarder(s.name), stats });
      } catch (e) {
        if (!(e instanceof UnbuildableService)) throw e; // reported by checkConfig
      }
    }
  }
  const running = cx.running;
  const routers: Router[] = [];
  const byEntryPoint = new Map<string, Router[]>();
  for (const spec of config.routers) {
    spec.entryPoints.forEach((ep, i) => {
      if (running && !running.has(ep) && config.entryPoints.has(ep)) {
        const segs = ['http', 'routers', spec.name, 'entryPoints', i];
        issues.push({ ...config.where(segs), path: `http.routers.${spec.name}.entryPoints[${i}]`, message: `entry point "${ep}" is not running`, hint: 'entry points change only on restart' });
      }
    });
    const service = services.get(spec.service);
    if (!service) continue; // already reported by checkConfig
    const router: Router = {
      name: spec.name,
      spec,
      match: spec.match,
      chain: spec.middlewares.map((m) => middlewares.get(m)).filter((m): m is ActiveMiddleware => m !== undefined),
      service,
      stats: cx.stats.router(spec.name),
      responsePhase: false,
      requestBodyMax: 0,
      responseBodyMax: 0,
    };
    refreshRouter(router);
    routers.push(router);
    for (const ep of spec.entryPoints) {
      let list = byEntryPoint.get(ep);
      if (!list) byEntryPoint.set(ep, (list = []));
      list.push(router);
    }
  }
  if (issues.length > 0) {
    disposeRuntime({ middlewares, services });
    throw new ConfigError(config.file, sortIssues(issues));
  }
  return { config, byEntryPoint, routers, middlewares, services };
}

/**
 * What a router's requests need to know of its chain, computed when the chain's bindings change
 * (build, plugin reload) instead of on every request.
 */
export function refreshRouter(r: Router): void {
  let responsePhase = false;
  let requestBodyMax = 0;
  let responseBodyMax = 0;
  for (const mw of r.chain) {
    if (mw.onResponse || mw.broken) responsePhase = true;
    if (mw.onResponse && mw.responseBodyMax > responseBodyMax) responseBodyMax = mw.responseBodyMax;
    const max = mw.requestBodyMax;
    if (max > 0 && mw.onRequest && (requestBodyMax === 0 || max < requestBodyMax)) requestBodyMax = max;
  }
  r.responsePhase = responsePhase;
  r.requestBodyMax = requestBodyMax;
  r.responseBodyMax = responseBodyMax;
}

/**
 * After a plugin is loaded, reloaded or unloaded: re-check the middlewares that use it (the catalog
 * already refreshed) and log what changed.
 */
export function rebindPlugin(rt: Runtime, catalog: PluginCatalog, plugin: string, event: string, logger: Logger): void {
  for (const mw of rt.middlewares.values()) {
    if (mw.plugin !== plugin || mw.spec.builtin) continue;
    const wasBroken = mw.broken;
    const issues = mw.bind(catalog, rt.config.where);
    if (issues.length > 0) {
      logger.error(
        { middleware: mw.name, plugin, event, issues },
        `middleware "${mw.name}" cannot run after plugin "${plugin}" was ${event} (${mw.failOpen ? 'skipped, failOpen' : 'answering 502'}): ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      );
    } else if (wasBroken) {
      logger.info({ middleware: mw.name, plugin, event }, `middleware "${mw.name}" runs again: plugin "${plugin}" was ${event}`);
    }
  }
  for (const r of rt.routers) refreshRouter(r);
}

/** The exports a new version of `plugin` must keep: the phases its bound middlewares call (host reload.requiredExports). */
export function requiredExports(rt: Runtime | undefined, plugin: string): string[] {
  const out = new Set<string>();
  for (const mw of rt?.middlewares.values() ?? []) {
    if (mw.plugin !== plugin || mw.broken || mw.spec.builtin) continue;
    if (mw.onRequest) out.add('onRequest');
    if (mw.onResponse) out.add('onResponse');
  }
  return [...out];
}

/** What differs in the parts of the config that only apply at start. */
export function staticChanges(running: ResolvedConfig, next: ResolvedConfig): string[] {
  const out: string[] = [];
  const eps = (c: ResolvedConfig) => JSON.stringify([...c.entryPoints].map(([n, a]) => [n, a.text, a.signature]));
  if (eps(running) !== eps(next)) out.push('entryPoints');
  if (running.admin?.text !== next.admin?.text) out.push('admin');
  if (JSON.stringify(running.certificates) !== JSON.stringify(next.certificates)) out.push('tls.certificates');
  if (JSON.stringify(running.plugins) !== JSON.stringify(next.plugins)) out.push('plugins');
  if (JSON.stringify(running.watchPaths ?? []) !== JSON.stringify(next.watchPaths ?? [])) out.push('providers.file (what is watched)');
  if (JSON.stringify(running.redisProvider) !== JSON.stringify(next.redisProvider)) out.push('providers.redis');
  return out;
}
