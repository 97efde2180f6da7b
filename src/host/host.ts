/**
 * createHost: discover plugin files, load each into its engine, hand out typed proxies, and keep
 * following the directory (hot reload with checks and rollback, health, quarantine). The parts:
 * options.ts (options, their check and defaults), files.ts (which files are plugins),
 * builder.ts (a version and its checks), registry.ts (plugins by name and file), reconcile.ts
 * (first load and file changes), plugin.ts (one plugin's lifecycle), guard.ts (every call).
 */
import path from 'node:path';
import { EngineSet } from './engine-set.js';
import { builtinEngines } from '../engines/index.js';
import { flattenCapabilities } from '../capabilities/index.js';
import { NoPluginError, OptionsError } from '../errors.js';
import type { LogLevel, Logger } from '../types.js';
import { resolveLimits } from './limits.js';
import type { PluginContext, PluginInfo } from './plugin.js';
import { makePin, type PluginPin } from './pin.js';
import { makeProxy, type PluginProxy } from '../binding/proxy.js';
import { HOST_EVENTS, HostEvents, type HostEventName, type HostListener } from './events.js';
import { makeTrustStore } from './trust.js';
import { LogLimiter } from '../shared/log-limit.js';
import type { PluginWatcher } from '../shared/watch.js';
import { type HostOptions, checkOptions, settingsFrom } from './options.js';
import { discover, isPluginFile, listPluginFiles, shownPathIn } from './files.js';
import { Builder, checkTraits } from './builder.js';
import { PluginRegistry } from './registry.js';
import { Reconciler } from './reconcile.js';

export type { HostOptions } from './options.js';
export { builtinExtensions, isPluginFile } from './files.js';

/** A running set of plugins. Close it (or `await using`) to dispose every VM. */
export interface Host extends AsyncDisposable {
  /** A fresh snapshot of every plugin: name, file, engine, status, version, meta, exports, errors, counters. */
  readonly plugins: PluginInfo[];
  /**
   * A typed proxy over a plugin's exports: `proxy.fn(...args)` copies args in and the result out.
   * Proxies follow hot reloads and restarts. Throws ERR_NO_PLUGIN for an unknown name.
   */
  get<T extends object = Record<string, (...args: unknown[]) => unknown>>(name: string): PluginProxy<T>;
  /** Proxies of every serving plugin that exports all of the named functions (hook-style dispatch); quarantined, failed and restarting plugins are skipped. */
  implementing<T extends object = Record<string, (...args: unknown[]) => unknown>>(...exportNames: string[]): PluginProxy<T>[];
  /**
   * Listen to lifecycle events: loaded, reloaded, failed, unloaded, quarantined, recovered.
   * Returns a function that removes the listener.
   * @example host.on('failed', (e) => console.error(e.plugin, e.reason, e.error?.message))
   */
  on(event: HostEventName, listener: HostListener): () => void;
  /**
   * Look at the plugin files again now (what `watch` does on a change, through the same checks:
   * an empty file or one changing while read is not a version, a version that drops exports is
   * rejected); resolves when the changes are applied.
   */
  reload(): Promise<void>;
  /**
   * Pin the version of a plugin serving now, for one unit of work (a gateway request): calls
   * through the pin run on that version even if a reload swaps in another, until `release()`
   * (at the latest `reload.pinMs` after that version was retired). Throws ERR_NO_PLUGIN.
   * @example const p = host.pin('auth'); try { p.call('onRequest', [req]); p.call('onResponse', [res]) } finally { p.release() }
   */
  pin(name: string): PluginPin;
  /**
   * Re-probe a quarantined plugin now rather than at its next re-probe time (a fresh instance,
   * then health()); true when a probe started, false when it is not quarantined. Throws ERR_NO_PLUGIN.
   */
  reprobe(name: string): boolean;
  /** Resolves when no plugin is loading, restarting or being reloaded. */
  ready(): Promise<void>;
  /** Stop watching and dispose every VM, last loaded first. Calls afterwards fail with ERR_PLUGIN_UNAVAILABLE. */
  close(): Promise<void>;
}


const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Load every plugin and return the host. Plugins that fail to load are listed with status
 * `failed` and their error; the others load regardless. If creating the host fails half way
 * (e.g. the watcher cannot start), everything built so far is disposed before the error is thrown.
 * @example
 * await using host = await createHost({ dir: './plugins', watch: true, capabilities: { kv: { get: (k: string) => store.get(k) } } })
 * host.on('failed', (e) => log.error(e.reason))
 * host.get<{ revert(s: string): string }>('revert').revert('Live on time, emit no evil')
 */
export async function createHost(options: HostOptions): Promise<Host> {
  checkOptions(options);
  const settings = settingsFrom(options);
  const baseLimits = resolveLimits(options.limits);
  const perPlugin = options.pluginLimits ?? {};
  for (const [name, l] of Object.entries(perPlugin)) resolveLimits(l, baseLimits, `pluginLimits.${name}`);
  const logger = options.logger ?? silentLogger;
  const engines = new EngineSet(options.engines ?? builtinEngines);
  const { dir, files } = await discover(options, engines);
  for (const file of files) checkTraits(engines.descriptorFor(path.extname(file))!, perPlugin[path.basename(file, path.extname(file))] ?? {}, baseLimits, file);
  const events = new HostEvents(logger);
  const shownPath = shownPathIn(dir);
  const proxies = new Map<string, PluginProxy<object>>();
  const limiters = new Map<string, LogLimiter>();
  let closed = false;

  const registry: PluginRegistry = new PluginRegistry((paths) => void reconciler.enqueue(paths));

  /** Plugin output, attributed and rate-limited per plugin name. */
  const pluginLog = (name: string, fields: Record<string, unknown>, level: LogLevel, message: string) => {
    let limiter = limiters.get(name);
    if (!limiter) {
      limiter = new LogLimiter(settings.logRate, (dropped) => {
        const owner = registry.byName.get(name);
        if (owner) owner.counters.logDropped += dropped;
        logger.warn({ plugin: name, event: 'log-dropped', dropped }, `dropped ${dropped} log lines of plugin ${name} (over ${settings.logRate.lines} per ${settings.logRate.intervalMs} ms)`);
      });
      limiters.set(name, limiter);
    }
    if (limiter.allow()) logger[level]({ ...fields, event: 'plugin-log' }, message);
  };

  const builder = new Builder({
    engines,
    baseLimits,
    pluginLimits: perPlugin,
    capabilities: flattenCapabilities(options.capabilities),
    config: options.config ?? {},
    trust: makeTrustStore(options.trust),
    apiVersions: options.apiVersions,
    selftest: options.selftest ?? true,
    allowRemovedExports: settings.allowRemovedExports,
    requiredExports: options.reload?.requiredExports,
    shownPath,
    pluginLog,
    grants: options.grants ?? {},
  });
  const context: PluginContext = { logger, policy: settings.policy, emit: (e) => events.emit(e), build: builder.build, buildSync: builder.buildSync };
  const reconciler: Reconciler = new Reconciler({ engines, registry, builder, context, logger, shownPath, closed: () => closed });

  let watcher: PluginWatcher | undefined;
  let healthTimer: NodeJS.Timeout | undefined;
  /** Stop everything and dispose every VM, last loaded first (close, or a failed start). */
  const shutdown = async () => {
    closed = true;
    clearInterval(healthTimer);
    await watcher?.close();
    await reconciler.idle();
    await Promise.all(registry.plugins.map((p) => p.settled()));
    for (const l of limiters.values()) l.close();
    for (const p of [...registry.plugins].reverse()) p.close();
  };

  try {
    await reconciler.loadInitial(files);
    if (settings.debounceMs !== undefined) {
      // chokidar is loaded only by hosts that watch.
      const { watchPlugins } = await import('../shared/watch.js');
      watcher = await watchPlugins({
        dir: options.dir === undefined ? undefined : dir,
        files: (options.files ?? []).map((f) => path.resolve(f)),
        debounceMs: settings.debounceMs,
        isPlugin: (f: string) => isPluginFile(f, engines),
        onChange: (changed) => void reconciler.enqueue(changed, settings.debounceMs),
        onError: (e) => logger.error({ event: 'watch-error', err: e }, `watching plugin files failed: ${e.message}`),
      });
    }
  } catch (e) {
    await shutdown().catch(() => {});
    throw e;
  }

  healthTimer = setInterval(() => {
    for (const p of registry.plugins) void p.checkHealth();
  }, settings.healthIntervalMs);
  healthTimer.unref();

  const rescan = async () => {
    const onDisk = options.dir === undefined ? [] : await listPluginFiles(dir, engines).catch(() => []);
    const extra = (options.files ?? []).map((f) => path.resolve(f));
    await reconciler.enqueue(new Set([...onDisk, ...extra, ...registry.byFile.keys()]));
  };

  const host: Host = {
    get plugins() {
      return registry.plugins.map((p) => p.info());
    },
    get<T extends object>(name: string): PluginProxy<T> {
      const p = registry.byName.get(name);
      if (!p) throw new NoPluginError(name, registry.names());
      let proxy = proxies.get(name);
      if (!proxy) {
        // The proxy follows the name: after an unload it keeps answering ERR_PLUGIN_UNAVAILABLE
        // from the last plugin it saw, and serves again once a file declares the name again.
        let last = p;
        proxy = makeProxy(() => (last = registry.byName.get(name) ?? last));
        proxies.set(name, proxy);
      }
      return proxy as PluginProxy<T>;
    },
    implementing<T extends object>(...exportNames: string[]): PluginProxy<T>[] {
      return [...registry.byName.values()]
        .filter((p) => p.status === 'ready' && exportNames.every((n) => p.hasExport(n)))
        .map((p) => host.get<T>(p.name));
    },
    on(event, listener) {
      if (!HOST_EVENTS.includes(event)) throw new OptionsError(`unknown host event "${String(event)}"`, `Events: ${HOST_EVENTS.join(', ')}`);
      if (typeof listener !== 'function') throw new OptionsError('host.on() needs a listener function', 'Pass (event) => { ... }');
      return events.on(event, listener);
    },
    reload: rescan,
    pin(name: string): PluginPin {
      const p = registry.byName.get(name);
      if (!p) throw new NoPluginError(name, registry.names());
      return makePin(p);
    },
    reprobe(name: string): boolean {
      const p = registry.byName.get(name);
      if (!p) throw new NoPluginError(name, registry.names());
      return p.reprobe();
    },
    async ready() {
      await reconciler.idle();
      await Promise.all(registry.plugins.map((p) => p.settled()));
    },
    async close() {
      if (closed) return;
      await shutdown();
    },
    [Symbol.asyncDispose]() {
      return host.close();
    },
  };
  return host;
}
