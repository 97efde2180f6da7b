/**
 * createHost: discover plugin files, load each into its engine, hand out typed proxies, and keep
 * following the directory (hot reload with checks and rollback, health, quarantine).
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { type Engine, type EngineDescriptor, EngineSet } from '../engine.js';
import { builtinEngines } from '../engines/index.js';
import { flattenCapabilities, withLogCapability, boundedLog } from '../capabilities/index.js';
import { ApiVersionError, ExportsRemovedError, NoPluginError, OptionsError, PluginLoadError, SelfTestError, TerrariumError, formatBytes } from '../errors.js';
import type { Capabilities, Limits, LogLevel, Logger } from '../types.js';
import { resolveLimits, resolveNumbers } from './limits.js';
import { MAX_DEPTH, encodeWire, isWireFailure } from '../binding/wire.js';
import { type Built, type LifecyclePolicy, ManagedPlugin, type PluginContext, type PluginInfo } from './plugin.js';
import { type FileRead, isQuiet, readSettled, readStable } from './read.js';
import { makePin, type PluginPin } from './pin.js';
import { makeProxy, type PluginProxy } from '../binding/proxy.js';
import { HOST_EVENTS, HostEvents, type HostEventName, type HostListener } from './events.js';
import { makeTrustStore, signaturePath, verifyPlugin, type TrustOptions } from './trust.js';
import { hasSelfTests, runSelfTests } from './selftest.js';
import { loadGuarded } from './guard.js';
import { LogLimiter, type LogRate } from './log-limit.js';
import type { PluginWatcher } from './watch.js';

export interface HostOptions {
  /** Directory of plugin files: every file with a registered extension (`.js`, `.mjs`, `.ts`, `.mts`, `.lua`) is a plugin. */
  dir?: string;
  /** Extra plugin files to load besides (or instead of) `dir`. */
  files?: string[];
  /**
   * The engines, by file extension (default: the built-ins, QuickJS for `.js`/`.mjs`/`.ts`/`.mts`
   * and fengari for `.lua`). Pass `[...builtinEngines, myEngine]` (from `terrarium/engine`) to add one.
   */
  engines?: readonly EngineDescriptor[];
  /** Limits for every plugin (defaults: DEFAULT_LIMITS). */
  limits?: Partial<Limits>;
  /** Per-plugin overrides, keyed by file name without extension. */
  pluginLimits?: Record<string, Partial<Limits>>;
  /** Host functions granted to plugins, bound as the frozen global `host` with the same nesting. */
  capabilities?: Capabilities;
  /** Per-plugin configuration, keyed by plugin name (file name without extension, or meta.name); `host.config` in the plugin. */
  config?: Record<string, unknown>;
  /** Where plugin output and lifecycle events go (pino-compatible). Default: discard. */
  logger?: Logger;
  /**
   * Follow the plugin files: a new file is loaded, a changed one is loaded as a new version and
   * checked before it replaces the old one (which keeps serving if the new one fails), a deleted
   * one is unloaded. Changes are batched until the files have been quiet for `debounceMs` (200).
   */
  watch?: boolean | { debounceMs?: number };
  /** Plugin API versions this host supports (handshake): a plugin whose `meta.apiVersion` is not listed is rejected with ERR_API_VERSION. Default: no check. */
  apiVersions?: (string | number)[];
  /** Ed25519 signatures, checked before any plugin code is interpreted. */
  trust?: TrustOptions;
  /** Run `meta.tests` and `selftest()` on every load and reload, blocking activation on failure (default true). */
  selftest?: boolean;
  /** Probe plugins that export `health()` every `intervalMs` (10000); an async probe fails after `timeoutMs` (1000). */
  health?: { intervalMs?: number; timeoutMs?: number };
  /** Quarantine after `maxViolations` (3) limit violations within `windowMs` (60000) or `healthFailures` (3) failed probes in a row; re-probe after `backoffMs` (1000), doubling up to `maxBackoffMs` (60000). */
  quarantine?: { maxViolations?: number; windowMs?: number; healthFailures?: number; backoffMs?: number; maxBackoffMs?: number };
  /** Per-plugin cap on console/print/host.log output: `lines` per `intervalMs` (100 per 1000); the rest is dropped and counted. */
  logRate?: { lines?: number; intervalMs?: number };
  /**
   * Keep a standby instance per plugin (default true): the serving source interpreted and checked
   * ahead of time, so that the call right after a limit violation is served at once (sync exports
   * too). Costs one more instance per plugin (see bench/RESULTS.md); with false, sync calls fail
   * with ERR_PLUGIN_UNAVAILABLE for the few milliseconds of a rebuild, async ones wait. A number
   * keeps that many (0 to 8): two cover two violations faster than a build, which with the default
   * quarantine.maxViolations (3) is every violation before quarantine.
   */
  standby?: boolean | number;
  /**
   * What a new version must keep to be activated (watch and host.reload()):
   * - `allowRemovedExports` (false): a version that drops exports of the serving one is rejected
   *   with ERR_EXPORTS_REMOVED; set true when callers are known to cope (e.g. during development).
   * - `requiredExports(plugin)`: exports that must exist whatever the option says (the gateway
   *   names the phase functions its middlewares use).
   * - `pinMs` (30000): a version retired by a reload stays alive for the requests pinned to it
   *   (`host.pin`) at most this long.
   */
  reload?: { allowRemovedExports?: boolean; requiredExports?: (plugin: string) => readonly string[]; pinMs?: number };
}

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
  /** Resolves when no plugin is loading, restarting or being reloaded. */
  ready(): Promise<void>;
  /** Stop watching and dispose every VM, last loaded first. Calls afterwards fail with ERR_PLUGIN_UNAVAILABLE. */
  close(): Promise<void>;
}

const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const ms = (n: number) => `${n} ms`;
const count = (n: number) => String(n);
const HOUR = 3_600_000;

const KNOWN_OPTIONS = ['dir', 'files', 'limits', 'pluginLimits', 'capabilities', 'config', 'logger', 'watch', 'apiVersions', 'trust', 'selftest', 'health', 'quarantine', 'logRate', 'standby', 'reload', 'engines'];

function checkOptions(options: HostOptions): void {
  if (options === null || typeof options !== 'object') throw new OptionsError('createHost options must be an object', 'Pass { dir: "./plugins" }');
  for (const k of Object.keys(options)) {
    if (!KNOWN_OPTIONS.includes(k)) throw new OptionsError(`unknown option "${k}"`, `Known options: ${KNOWN_OPTIONS.join(', ')}`);
  }
  if (options.dir === undefined && options.files === undefined) throw new OptionsError('no plugins to load', 'Pass options.dir (a directory) or options.files');
  if (options.dir !== undefined && typeof options.dir !== 'string') throw new OptionsError('options.dir must be a string path', 'Pass a directory path');
  if (options.files !== undefined && (!Array.isArray(options.files) || options.files.some((f) => typeof f !== 'string'))) {
    throw new OptionsError('options.files must be an array of paths', 'Pass e.g. ["./plugins/a.js"]');
  }
  if (options.engines !== undefined) {
    const ok = Array.isArray(options.engines) && options.engines.every((e) => e && typeof e.name === 'string' && Array.isArray(e.extensions) && typeof e.load === 'function');
    if (!ok) throw new OptionsError('options.engines must be an array of { name, extensions, load }', 'Pass e.g. [...builtinEngines, myEngine] (builtinEngines from terrarium/engine)');
  }
  for (const k of ['config', 'pluginLimits', 'capabilities'] as const) {
    const v = options[k];
    if (v !== undefined && (v === null || typeof v !== 'object' || Array.isArray(v))) throw new OptionsError(`options.${k} must be an object`, 'Pass an object keyed by name');
  }
  for (const [name, value] of Object.entries(options.config ?? {})) {
    try {
      encodeWire(value, MAX_DEPTH);
    } catch (e) {
      if (!isWireFailure(e)) throw e;
      throw new OptionsError(`options.config.${name}: cannot copy ${e.marshalReason} at ${e.marshalPath.replace(/^\$/, 'host.config')}`, 'Plugin config must be plain data');
    }
  }
  const logger = options.logger;
  if (logger !== undefined && ['debug', 'info', 'warn', 'error'].some((l) => typeof (logger as unknown as Record<string, unknown>)[l] !== 'function')) {
    throw new OptionsError('options.logger must have debug, info, warn and error methods', 'Pass a pino logger or a compatible object');
  }
  if (options.apiVersions !== undefined && (!Array.isArray(options.apiVersions) || options.apiVersions.length === 0 || options.apiVersions.some((v) => typeof v !== 'string' && typeof v !== 'number'))) {
    throw new OptionsError('options.apiVersions must be a non-empty array of versions', 'Pass e.g. [1, 2]');
  }
  if (options.selftest !== undefined && typeof options.selftest !== 'boolean') throw new OptionsError('options.selftest must be a boolean', 'Pass true or false');
  const sb = options.standby;
  if (sb !== undefined && typeof sb !== 'boolean' && !(typeof sb === 'number' && Number.isInteger(sb) && sb >= 0 && sb <= 8)) {
    throw new OptionsError(`options.standby must be a boolean or an integer from 0 to 8, got ${String(sb)}`, 'Pass true (one standby), false, or e.g. 2');
  }
  const r = options.reload;
  if (r !== undefined) {
    if (r === null || typeof r !== 'object') throw new OptionsError('options.reload must be an object', 'Pass { allowRemovedExports, requiredExports, pinMs }');
    for (const k of Object.keys(r)) if (!['allowRemovedExports', 'requiredExports', 'pinMs'].includes(k)) throw new OptionsError(`unknown option "reload.${k}"`, 'Known: allowRemovedExports, requiredExports, pinMs');
    if (r.allowRemovedExports !== undefined && typeof r.allowRemovedExports !== 'boolean') throw new OptionsError('options.reload.allowRemovedExports must be a boolean', 'Pass true or false');
    if (r.requiredExports !== undefined && typeof r.requiredExports !== 'function') throw new OptionsError('options.reload.requiredExports must be a function', 'Pass (plugin) => ["onRequest"]');
  }
  if (options.watch !== undefined && typeof options.watch !== 'boolean' && (options.watch === null || typeof options.watch !== 'object')) {
    throw new OptionsError('options.watch must be a boolean or { debounceMs }', 'Pass watch: true');
  }
}

interface Settings {
  policy: LifecyclePolicy;
  healthIntervalMs: number;
  debounceMs: number | undefined;
  logRate: LogRate;
  allowRemovedExports: boolean;
}

function settingsFrom(options: HostOptions): Settings {
  const q = resolveNumbers(
    options.quarantine,
    { maxViolations: 3, windowMs: 60_000, healthFailures: 3, backoffMs: 1000, maxBackoffMs: 60_000 },
    { maxViolations: [1, Infinity, count], windowMs: [1, HOUR, ms], healthFailures: [1, Infinity, count], backoffMs: [1, HOUR, ms], maxBackoffMs: [1, HOUR, ms] },
    'quarantine',
  );
  const h = resolveNumbers(options.health, { intervalMs: 10_000, timeoutMs: 1000 }, { intervalMs: [10, HOUR, ms], timeoutMs: [1, HOUR, ms] }, 'health');
  const w = options.watch === undefined || options.watch === false ? undefined : resolveNumbers(options.watch === true ? {} : options.watch, { debounceMs: 200 }, { debounceMs: [0, 60_000, ms] }, 'watch');
  const logRate = resolveNumbers(options.logRate, { lines: 100, intervalMs: 1000 }, { lines: [1, Infinity, count], intervalMs: [1, HOUR, ms] }, 'logRate');
  const { pinMs } = resolveNumbers(options.reload?.pinMs === undefined ? {} : { pinMs: options.reload.pinMs }, { pinMs: 30_000 }, { pinMs: [1, HOUR, ms] }, 'reload');
  return {
    policy: { ...q, maxBackoffMs: Math.max(q.maxBackoffMs, q.backoffMs), healthTimeoutMs: h.timeoutMs, standby: options.standby === undefined || options.standby === true ? 1 : options.standby === false ? 0 : options.standby, pinMs },
    healthIntervalMs: h.intervalMs,
    debounceMs: w?.debounceMs,
    logRate,
    allowRemovedExports: options.reload?.allowRemovedExports ?? false,
  };
}

/** Plugin files of the directory (sorted) plus options.files; the directory must exist. */
async function discover(options: HostOptions, engines: EngineSet): Promise<{ dir: string; files: string[] }> {
  const dir = path.resolve(options.dir ?? process.cwd());
  if (options.dir !== undefined) {
    let st;
    try {
      st = await stat(dir);
    } catch {
      throw new OptionsError(`plugin directory ${dir} does not exist`, 'Create it or fix options.dir');
    }
    if (!st.isDirectory()) throw new OptionsError(`${dir} is not a directory`, 'options.dir must be a directory of plugin files');
  }
  const files = options.dir === undefined ? [] : await listPluginFiles(dir, engines);
  for (const f of options.files ?? []) {
    const abs = path.resolve(f);
    if (!engines.descriptorFor(path.extname(abs))) {
      throw new OptionsError(`no engine for ${f}`, `Plugin files must end in one of: ${engines.extensions().join(', ')}`);
    }
    if (!files.includes(abs)) files.push(abs);
  }
  return { dir, files };
}

const builtinSet = new EngineSet(builtinEngines);

/** Whether a file name is a plugin (an extension the engines handle, not hidden). */
export function isPluginFile(file: string, engines: EngineSet = builtinSet): boolean {
  const base = path.basename(file);
  // Declaration files (.d.ts) describe plugins; they are not plugins.
  return !base.startsWith('.') && !/\.d\.m?ts$/.test(base) && engines.descriptorFor(path.extname(base)) !== undefined;
}

/** Extensions of the built-in engines (for the CLI's messages). */
export const builtinExtensions = (): string[] => builtinSet.extensions();

async function listPluginFiles(dir: string, engines: EngineSet): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && isPluginFile(e.name, engines))
    .map((e) => e.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((n) => path.join(dir, n));
}

/**
 * The engine for an extension. An engine that cannot start (its module fails to import) fails
 * only the plugins it would have run, each with ERR_PLUGIN_LOAD saying why.
 */
async function loadEngine(engines: EngineSet, ext: string): Promise<Engine> {
  try {
    return await engines.engineFor(ext)!;
  } catch (e) {
    const name = engines.descriptorFor(ext)?.name ?? ext;
    return {
      name,
      load: async (req) => {
        throw new PluginLoadError(`the ${name} engine could not start: ${(e as Error)?.message ?? String(e)}`, { plugin: req.defaultName, engine: name, file: req.file, cause: e }, 'Check the installation (npm ci)');
      },
    };
  }
}

/** A plugin's limits against what its engine declares it can honour (ERR_OPTIONS naming both). */
function checkTraits(engine: EngineDescriptor, own: Partial<Limits>, base: Limits, file: string): void {
  const limits = { ...base, ...own };
  const { minMemoryBytes, maxStackBytes } = engine.traits ?? {};
  if (minMemoryBytes !== undefined && limits.memoryBytes < minMemoryBytes) {
    throw new OptionsError(`limits.memoryBytes is ${formatBytes(limits.memoryBytes)} for ${path.basename(file)}, but the ${engine.name} engine needs at least ${formatBytes(minMemoryBytes)}`, 'Raise memoryBytes (limits or pluginLimits)');
  }
  if (maxStackBytes !== undefined && limits.stackBytes > maxStackBytes) {
    throw new OptionsError(`limits.stackBytes is ${formatBytes(limits.stackBytes)} for ${path.basename(file)}, but the ${engine.name} engine honours at most ${formatBytes(maxStackBytes)}`, 'Lower stackBytes (limits or pluginLimits)');
  }
}

const sameVersion = (a: string | number, b: string | number) => String(a) === String(b);

/**
 * Load every plugin and return the host. Plugins that fail to load are listed with status
 * `failed` and their error; the others load regardless.
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
  const flat = flattenCapabilities(options.capabilities);
  const config = options.config ?? {};
  const logger = options.logger ?? silentLogger;
  const trust = makeTrustStore(options.trust);
  const apiVersions = options.apiVersions;
  const runTests = options.selftest ?? true;
  const engines = new EngineSet(options.engines ?? builtinEngines);
  const { dir, files } = await discover(options, engines);
  for (const file of files) checkTraits(engines.descriptorFor(path.extname(file))!, perPlugin[path.basename(file, path.extname(file))] ?? {}, baseLimits, file);
  const events = new HostEvents(logger);

  /** Plugins in load order; `byFile` maps each file to the plugin its version came from. */
  const plugins: ManagedPlugin[] = [];
  const byName = new Map<string, ManagedPlugin>();
  const byFile = new Map<string, ManagedPlugin>();
  const proxies = new Map<string, PluginProxy<object>>();
  const limiters = new Map<string, LogLimiter>();
  let closed = false;

  const shownPath = (file: string) => {
    const rel = path.relative(dir, file);
    return rel.startsWith('..') ? file : rel;
  };

  /** Plugin output, attributed and rate-limited per plugin name. */
  const pluginLog = (name: string, fields: Record<string, unknown>, level: LogLevel, message: string) => {
    let limiter = limiters.get(name);
    if (!limiter) {
      limiter = new LogLimiter(settings.logRate, (dropped) => {
        const owner = byName.get(name);
        if (owner) owner.counters.logDropped += dropped;
        logger.warn({ plugin: name, event: 'log-dropped', dropped }, `dropped ${dropped} log lines of plugin ${name} (over ${settings.logRate.lines} per ${settings.logRate.intervalMs} ms)`);
      });
      limiters.set(name, limiter);
    }
    if (limiter.allow()) logger[level]({ ...fields, event: 'plugin-log' }, message);
  };

  const checkVersion = (b: Built) => {
    if (!apiVersions) return;
    const declared = b.instance.meta?.apiVersion;
    if (declared === undefined || !apiVersions.some((v) => sameVersion(v, declared))) {
      throw new ApiVersionError(declared === undefined ? undefined : String(declared), apiVersions.map(String), {
        plugin: b.instance.name,
        engine: b.engine.name,
        file: b.req.file,
      });
    }
  };

  const build: PluginContext['build'] = async (req, engine) => {
    const ctx = { plugin: req.defaultName, engine: engine.name, file: req.file };
    const read = buildSources.get(req);
    const signedBy = trust && read ? verifyPlugin(read.bytes, read.sig, trust, ctx) : undefined;
    const traits = engines.descriptorFor(path.extname(req.path))?.traits;
    const instance = await loadGuarded(engine, req, traits?.emptyTable);
    const b: Built = { instance, req, engine, hash: read?.hash ?? '', signedBy, selftests: [] };
    try {
      checkVersion(b);
      if (runTests && hasSelfTests(instance)) {
        b.selftests = await runSelfTests(instance);
        const failed = b.selftests.filter((r) => !r.ok);
        if (failed.length) throw new SelfTestError(failed.map((r) => `${r.name}: ${r.detail ?? 'failed'}`), { ...ctx, plugin: instance.name });
        if (instance.broken) throw new PluginLoadError('the instance broke during its self-tests', { ...ctx, plugin: instance.name });
      }
    } catch (e) {
      instance.dispose();
      throw e;
    }
    return b;
  };
  /** The bytes each request was made from (signature checks need bytes, engines need text). */
  const buildSources = new WeakMap<object, FileRead>();

  const context: PluginContext = { logger, policy: settings.policy, emit: (e) => events.emit(e), build };

  /** A load request for one file's content; `owner` names whoever serves it for logs and config. */
  const requestFor = (file: string, read: FileRead | undefined) => {
    const ext = path.extname(file);
    const defaultName = path.basename(file, ext);
    const shown = shownPath(file);
    let owner: ManagedPlugin | undefined;
    const req = {
      path: file,
      file: shown,
      defaultName,
      source: read ? read.bytes.toString('utf8') : '',
      limits: resolveLimits(perPlugin[defaultName], baseLimits, `pluginLimits.${defaultName}`),
      capabilities: withLogCapability(flat, (level, message) => req.log(level, message)),
      data: flat.data,
      config: () => config[defaultName] ?? (owner && owner.name !== defaultName ? config[owner.name] : undefined),
      // console / print output of every engine, bounded in bytes per line and per second like host.log.
      log: boundedLog((level: LogLevel, message: string) => {
        const name = owner?.name ?? defaultName;
        pluginLog(name, { plugin: name, version: owner?.version, engine: engines.descriptorFor(ext)?.name, file: shown, export: owner?.currentExport }, level, message);
      }),
      bind(p: ManagedPlugin) {
        owner = p;
      },
    };
    if (read) buildSources.set(req, read);
    return req;
  };

  const register = (p: ManagedPlugin) => {
    plugins.push(p);
    byFile.set(p.path, p);
    const holder = byName.get(p.name);
    if (!holder || holder.status === 'failed') byName.set(p.name, p);
  };

  const duplicateError = (name: string, file: string, engine: string, other: ManagedPlugin) =>
    new PluginLoadError(`duplicate plugin name "${name}" (also used by ${other.file})`, { plugin: name, engine, file }, 'Rename one of them (meta.name or the file name)');

  // First load: every file concurrently; names are claimed in file order.
  const initial = await Promise.all(
    files.map(async (file) => {
      let read: FileRead | undefined;
      let unreadable: PluginLoadError | undefined;
      try {
        const r = await readStable(file);
        if (!r) throw new Error('no such file');
        if (r === 'unsettled') throw new Error('the file kept changing while it was read');
        if (r === 'empty') {
          unreadable = new PluginLoadError('the file is empty, which is never a version (a save in progress?)', { plugin: path.basename(file, path.extname(file)), file: shownPath(file) }, 'Write the plugin; with watch: true it loads when the file is written');
        } else read = r;
      } catch (e) {
        unreadable = new PluginLoadError(`cannot read the plugin file: ${(e as Error).message}`, { plugin: path.basename(file, path.extname(file)), file: shownPath(file), cause: e }, 'Check the file and its permissions');
      }
      const engine = await loadEngine(engines, path.extname(file));
      const req = requestFor(file, read);
      const p = new ManagedPlugin(context, req, engine);
      req.bind(p);
      if (unreadable) return { p, outcome: unreadable as TerrariumError };
      try {
        return { p, outcome: await build(req, engine) };
      } catch (e) {
        return { p, outcome: e instanceof TerrariumError ? e : new PluginLoadError(String((e as Error)?.message ?? e), { plugin: req.defaultName, engine: engine.name, file: req.file, cause: e }) };
      }
    }),
  );
  for (const { p, outcome } of initial) {
    if (outcome instanceof TerrariumError) p.fail(outcome);
    else {
      const other = byName.get(outcome.instance.name);
      if (other && other.status !== 'failed') {
        outcome.instance.dispose();
        p.name = outcome.instance.name;
        p.fail(duplicateError(outcome.instance.name, p.file, p.engine.name, other));
        register(p);
      } else p.activate(outcome, 'loaded', () => register(p));
      continue;
    }
    register(p);
  }

  const remove = (p: ManagedPlugin) => {
    plugins.splice(plugins.indexOf(p), 1);
    if (byFile.get(p.path) === p) byFile.delete(p.path);
    if (byName.get(p.name) === p) {
      byName.delete(p.name);
      // A failed plugin of the same name (e.g. a duplicate) can now be reached by name again,
      // and a duplicate gets its chance to load.
      const next = plugins.find((q) => q.name === p.name);
      if (next) byName.set(p.name, next);
      const duplicates = plugins.filter((q) => q.name === p.name && q.status === 'failed' && q.error?.message.includes('duplicate plugin name'));
      if (duplicates.length > 0) void enqueue(duplicates.map((q) => q.path));
    }
  };

  /**
   * The contract gate: a new version must keep every export of the version it replaces (unless
   * reload.allowRemovedExports) and the exports the application requires (reload.requiredExports).
   */
  const contractError = (built: Built, replaced: ManagedPlugin | undefined): ExportsRemovedError | undefined => {
    const has = new Set(built.instance.exports.map((e) => e.name));
    const name = built.instance.name;
    const required = (options.reload?.requiredExports?.(name) ?? []).filter((e) => !has.has(e));
    const serving = replaced && replaced.serving ? replaced.exports.map((e) => e.name) : [];
    const dropped = settings.allowRemovedExports ? [] : serving.filter((e) => !has.has(e));
    const missing = [...new Set([...dropped, ...required])];
    if (missing.length === 0) return undefined;
    const v = built.instance.meta?.version;
    return new ExportsRemovedError(missing, { next: v === undefined ? undefined : String(v), serving: replaced?.serving ? replaced.version : undefined, required: required.length > 0 }, { plugin: name, engine: built.engine.name, file: built.req.file });
  };

  /**
   * Apply what changed on disk for these plugin files: load, reload (checked, atomic), or unload.
   * With `quietMs` (the watcher's batches), a file still being written is retried after quietMs;
   * without (host.reload()), it is read once it is unchanged across a read. An empty file is never
   * a version. Events are emitted once the host's maps show the change (callable now).
   */
  const apply = async (paths: Iterable<string>, quietMs?: number) => {
    // Files that exist first, deletions last: storage.lua of a storage.js -> storage.lua swap takes
    // the name over in place before storage.js is seen gone, whatever order the events came in.
    const unique = [...new Set(paths)];
    const present = await Promise.all(unique.map((f) => stat(f).then(() => true, () => false)));
    const batch = [...unique.filter((_, i) => present[i]), ...unique.filter((_, i) => !present[i])];
    if (quietMs !== undefined) {
      // A batch is applied whole: if one file is still being written, all of it waits, so that a
      // storage.js -> storage.lua swap never unloads the old file before the new one can load.
      const quiet = await Promise.all(batch.map((f) => isQuiet(f, quietMs)));
      if (quiet.includes(false)) {
        setTimeout(() => void enqueue(batch, quietMs), quietMs).unref();
        return;
      }
    }
    for (const file of batch) {
      if (closed) return;
      const current = byFile.get(file);
      let read: FileRead | undefined;
      try {
        const r = quietMs === undefined ? await readStable(file) : await readSettled(file, quietMs);
        if (r === 'unsettled' && quietMs !== undefined) {
          setTimeout(() => void enqueue([file], quietMs), quietMs).unref();
          continue;
        }
        if (r === 'empty') {
          // A truncate in progress: the write that follows brings its own change event.
          logger.debug({ event: 'empty-skipped', file: shownPath(file), plugin: current?.name }, 'plugin file is empty: not a version, skipped');
          continue;
        }
        if (r === 'unsettled') throw new Error('the file kept changing while it was read');
        read = r;
      } catch (e) {
        const err = new PluginLoadError(`cannot read the plugin file: ${(e as Error).message}`, { plugin: current?.name, file: shownPath(file), cause: e }, 'Check the file and its permissions');
        if (current) current.rejectReload(err);
        continue;
      }
      if (!read) {
        if (current) {
          remove(current);
          current.unload();
        }
        continue;
      }
      if (current && current.sourceHash === read.hash && current.status !== 'failed') continue;
      const engine = await loadEngine(engines, path.extname(file));
      const req = requestFor(file, read);
      const rejectNew = (err: TerrariumError, name?: string) => {
        if (current) current.rejectReload(err);
        else {
          const p = new ManagedPlugin(context, req, engine);
          req.bind(p);
          if (name !== undefined) p.name = name;
          p.fail(err);
          register(p);
        }
      };
      let built: Built;
      try {
        built = await build(req, engine);
      } catch (e) {
        rejectNew(e instanceof TerrariumError ? e : new PluginLoadError(String((e as Error)?.message ?? e), { plugin: req.defaultName, engine: engine.name, file: req.file, cause: e }));
        continue;
      }
      if (closed) {
        built.instance.dispose();
        return;
      }
      const name = built.instance.name;
      let target = byName.get(name);
      if (target && target !== current && target.status !== 'failed' && byFile.get(target.path) === target && (await stat(target.path).then(() => true, () => false))) {
        // Another live file serves this name: the new file is a duplicate.
        built.instance.dispose();
        rejectNew(duplicateError(name, req.file, engine.name, target), name);
        continue;
      }
      if (target && target !== current && target.status === 'failed') target = undefined;
      const replaced = target && target !== current ? target : current;
      const broken = contractError(built, replaced);
      if (broken) {
        built.instance.dispose();
        if (replaced && replaced !== current) replaced.rejectReload(broken);
        else rejectNew(broken, name);
        continue;
      }
      if (target && target !== current) {
        // The name's previous file is gone (e.g. storage.js replaced by storage.lua): swap in place
        // so callers of the name never see it missing.
        const t = target;
        if (byFile.get(t.path) === t) byFile.delete(t.path);
        if (current) {
          remove(current);
          current.unload();
        }
        req.bind(t);
        t.activate(built, 'reloaded', () => byFile.set(file, t));
        continue;
      }
      if (current) {
        const oldName = current.name;
        req.bind(current);
        current.activate(built, current.status === 'failed' ? 'loaded' : 'reloaded', () => {
          if (oldName !== current.name) {
            if (byName.get(oldName) === current) byName.delete(oldName);
            byName.set(current.name, current);
          } else if (!byName.has(current.name)) byName.set(current.name, current);
        });
        continue;
      }
      const p = new ManagedPlugin(context, req, engine);
      req.bind(p);
      p.activate(built, 'loaded', () => register(p));
    }
  };

  // Changes are applied one batch at a time, in order.
  let applying: Promise<void> = Promise.resolve();
  const enqueue = (paths: Iterable<string>, quietMs?: number) => {
    const list = [...paths];
    applying = applying.then(() => apply(list, quietMs)).catch((e: unknown) => logger.error({ event: 'reload-error', err: e }, `applying plugin changes failed: ${(e as Error)?.message ?? String(e)}`));
    return applying;
  };

  const rescan = async () => {
    const onDisk = options.dir === undefined ? [] : await listPluginFiles(dir, engines).catch(() => []);
    const extra = (options.files ?? []).map((f) => path.resolve(f));
    await enqueue(new Set([...onDisk, ...extra, ...byFile.keys()]));
  };

  let watcher: PluginWatcher | undefined;
  if (settings.debounceMs !== undefined) {
    // chokidar is loaded only by hosts that watch.
    const { watchPlugins } = await import('./watch.js');
    watcher = await watchPlugins({
      dir: options.dir === undefined ? undefined : dir,
      files: (options.files ?? []).map((f) => path.resolve(f)),
      debounceMs: settings.debounceMs,
      isPlugin: (f: string) => isPluginFile(f, engines),
      onChange: (changed) => void enqueue(changed, settings.debounceMs),
      onError: (e) => logger.error({ event: 'watch-error', err: e }, `watching plugin files failed: ${e.message}`),
    });
  }

  const healthTimer = setInterval(() => {
    for (const p of plugins) void p.checkHealth();
  }, settings.healthIntervalMs);
  healthTimer.unref();

  const host: Host = {
    get plugins() {
      return plugins.map((p) => p.info());
    },
    get<T extends object>(name: string): PluginProxy<T> {
      const p = byName.get(name);
      if (!p) throw new NoPluginError(name, [...byName.keys()]);
      let proxy = proxies.get(name);
      if (!proxy) {
        // The proxy follows the name: after an unload it keeps answering ERR_PLUGIN_UNAVAILABLE
        // from the last plugin it saw, and serves again once a file declares the name again.
        let last = p;
        proxy = makeProxy(() => (last = byName.get(name) ?? last));
        proxies.set(name, proxy);
      }
      return proxy as PluginProxy<T>;
    },
    implementing<T extends object>(...exportNames: string[]): PluginProxy<T>[] {
      return [...byName.values()]
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
      const p = byName.get(name);
      if (!p) throw new NoPluginError(name, [...byName.keys()]);
      return makePin(p);
    },
    async ready() {
      await applying;
      await Promise.all(plugins.map((p) => p.settled()));
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(healthTimer);
      await watcher?.close();
      await applying;
      await Promise.all(plugins.map((p) => p.settled()));
      for (const l of limiters.values()) l.close();
      for (const p of [...plugins].reverse()) p.close();
    },
    [Symbol.asyncDispose]() {
      return host.close();
    },
  };
  return host;
}
