/**
 * createHost: discover plugin files, load each into its engine, and hand out typed proxies.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { type Engine, engineFor, engineNameFor, registeredExtensions } from '../engine.js';
import '../engines/index.js';
import { flattenCapabilities, withLogCapability } from '../capabilities/index.js';
import { NoPluginError, OptionsError, PluginLoadError } from '../errors.js';
import type { Capabilities, Limits, Logger } from '../types.js';
import { resolveLimits } from './limits.js';
import { MAX_DEPTH, encodeWire, isWireFailure } from '../binding/wire.js';
import { ManagedPlugin, type PluginInfo } from './plugin.js';
import { makeProxy, type PluginProxy } from '../binding/proxy.js';

export interface HostOptions {
  /** Directory of plugin files: every file with a registered extension (`.js`, `.mjs`, `.lua`) is a plugin. */
  dir?: string;
  /** Extra plugin files to load besides (or instead of) `dir`. */
  files?: string[];
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
}

/** A running set of plugins. Close it (or `await using`) to dispose every VM. */
export interface Host extends AsyncDisposable {
  /** A fresh snapshot of every plugin: name, file, engine, status, meta, exports, error, counters. */
  readonly plugins: PluginInfo[];
  /**
   * A typed proxy over a plugin's exports: `proxy.fn(...args)` copies args in and the result out.
   * Throws ERR_NO_PLUGIN for an unknown name.
   */
  get<T extends object = Record<string, (...args: unknown[]) => unknown>>(name: string): PluginProxy<T>;
  /** Proxies of every ready plugin that exports all of the named functions (hook-style dispatch). */
  implementing<T extends object = Record<string, (...args: unknown[]) => unknown>>(...exportNames: string[]): PluginProxy<T>[];
  /** Resolves when no plugin is loading or restarting. */
  ready(): Promise<void>;
  /** Dispose every VM, last loaded first. Calls afterwards fail with ERR_PLUGIN_UNAVAILABLE. */
  close(): Promise<void>;
}

const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function checkOptions(options: HostOptions): void {
  if (options === null || typeof options !== 'object') throw new OptionsError('createHost options must be an object', 'Pass { dir: "./plugins" }');
  const known = ['dir', 'files', 'limits', 'pluginLimits', 'capabilities', 'config', 'logger'];
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) throw new OptionsError(`unknown option "${k}"`, `Known options: ${known.join(', ')}`);
  }
  if (options.dir === undefined && options.files === undefined) throw new OptionsError('no plugins to load', 'Pass options.dir (a directory) or options.files');
  if (options.dir !== undefined && typeof options.dir !== 'string') throw new OptionsError('options.dir must be a string path', 'Pass a directory path');
  if (options.files !== undefined && (!Array.isArray(options.files) || options.files.some((f) => typeof f !== 'string'))) {
    throw new OptionsError('options.files must be an array of paths', 'Pass e.g. ["./plugins/a.js"]');
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
}

async function discover(options: HostOptions): Promise<{ dir: string; files: string[] }> {
  const files: string[] = [];
  const dir = path.resolve(options.dir ?? process.cwd());
  if (options.dir !== undefined) {
    let st;
    try {
      st = await stat(dir);
    } catch {
      throw new OptionsError(`plugin directory ${dir} does not exist`, 'Create it or fix options.dir');
    }
    if (!st.isDirectory()) throw new OptionsError(`${dir} is not a directory`, 'options.dir must be a directory of plugin files');
    const entries = await readdir(dir, { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (!e.isFile() || e.name.startsWith('.')) continue;
      if (engineNameFor(path.extname(e.name))) files.push(path.join(dir, e.name));
    }
  }
  for (const f of options.files ?? []) {
    const abs = path.resolve(f);
    if (!engineNameFor(path.extname(abs))) {
      throw new OptionsError(`no engine for ${f}`, `Plugin files must end in one of: ${registeredExtensions().join(', ')}`);
    }
    if (!files.includes(abs)) files.push(abs);
  }
  return { dir, files };
}

/**
 * The engine for an extension. An engine that cannot start (its module fails to import) fails
 * only the plugins it would have run, each with ERR_PLUGIN_LOAD saying why.
 */
async function loadEngine(ext: string): Promise<Engine> {
  try {
    return await engineFor(ext)!;
  } catch (e) {
    const name = engineNameFor(ext) ?? ext;
    return {
      name,
      load: async (req) => {
        throw new PluginLoadError(`the ${name} engine could not start: ${(e as Error)?.message ?? String(e)}`, { plugin: req.defaultName, engine: name, file: req.file, cause: e }, 'Check the installation (npm ci)');
      },
    };
  }
}

/**
 * Load every plugin and return the host. Plugins that fail to load are listed with status
 * `failed` and their error; the others load regardless.
 * @example
 * await using host = await createHost({ dir: './plugins', capabilities: { kv: { get: (k: string) => store.get(k) } } })
 * host.get<{ revert(s: string): string }>('revert').revert('Live on time, emit no evil')
 */
export async function createHost(options: HostOptions): Promise<Host> {
  checkOptions(options);
  const baseLimits = resolveLimits(options.limits);
  const perPlugin = options.pluginLimits ?? {};
  const flat = flattenCapabilities(options.capabilities);
  const config = options.config ?? {};
  const logger = options.logger ?? silentLogger;
  const { dir, files } = await discover(options);

  const plugins: ManagedPlugin[] = [];
  for (const file of files) {
    const ext = path.extname(file);
    const defaultName = path.basename(file, ext);
    const limits = resolveLimits(perPlugin[defaultName], baseLimits, `pluginLimits.${defaultName}`);
    const rel = path.relative(dir, file);
    const shown = rel.startsWith('..') ? file : rel;
    let source = '';
    let unreadable: PluginLoadError | undefined;
    try {
      source = await readFile(file, 'utf8');
    } catch (e) {
      unreadable = new PluginLoadError(`cannot read the plugin file: ${(e as Error).message}`, { plugin: defaultName, file: shown, cause: e }, 'Check the file and its permissions');
    }
    const engine = await loadEngine(ext);
    let managed: ManagedPlugin | undefined;
    const log = (level: 'debug' | 'info' | 'warn' | 'error', message: string) =>
      logger[level]({ plugin: managed?.name ?? defaultName, file: shown }, message);
    managed = new ManagedPlugin(
      engine,
      {
        path: file,
        file: shown,
        defaultName,
        source,
        limits,
        capabilities: withLogCapability(flat, log),
        data: flat.data,
        config: () => config[defaultName] ?? (managed && managed.name !== defaultName ? config[managed.name] : undefined),
        log,
      },
      logger,
    );
    plugins.push(managed);
    if (unreadable) managed.fail(unreadable);
  }
  await Promise.all(plugins.map((p) => (p.status === 'loading' ? p.load() : undefined)));

  const byName = new Map<string, ManagedPlugin>();
  for (const p of plugins) {
    const other = byName.get(p.name);
    if (other) {
      p.fail(new PluginLoadError(`duplicate plugin name "${p.name}" (also used by ${other.file})`, { plugin: p.name, engine: p.engine.name, file: p.file }, 'Rename one of them (meta.name or the file name)'));
      continue;
    }
    byName.set(p.name, p);
  }
  for (const p of plugins) {
    if (p.status === 'ready') logger.debug({ plugin: p.name, file: p.file, engine: p.engine.name }, 'plugin loaded');
  }

  let closed = false;
  const proxies = new Map<string, PluginProxy<object>>();
  const host: Host = {
    get plugins() {
      return plugins.map((p) => p.info());
    },
    get<T extends object>(name: string): PluginProxy<T> {
      const p = byName.get(name);
      if (!p) throw new NoPluginError(name, [...byName.keys()]);
      let proxy = proxies.get(name);
      if (!proxy) {
        proxy = makeProxy(p);
        proxies.set(name, proxy);
      }
      return proxy as PluginProxy<T>;
    },
    implementing<T extends object>(...exportNames: string[]): PluginProxy<T>[] {
      return [...byName.values()]
        .filter((p) => (p.status === 'ready' || p.status === 'restarting') && exportNames.every((n) => p.hasExport(n)))
        .map((p) => host.get<T>(p.name));
    },
    async ready() {
      await Promise.all(plugins.map((p) => p.settled()));
    },
    async close() {
      if (closed) return;
      closed = true;
      await host.ready();
      for (const p of [...plugins].reverse()) p.close();
    },
    [Symbol.asyncDispose]() {
      return host.close();
    },
  };
  return host;
}

