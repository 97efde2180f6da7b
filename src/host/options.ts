/**
 * The options of createHost: what each means, the check that rejects a bad combination with
 * ERR_OPTIONS before anything loads, and the settings resolved from them (defaults filled in).
 */
import type { EngineDescriptor } from '../engine.js';
import { OptionsError } from '../errors.js';
import type { Capabilities, Limits, Logger } from '../types.js';
import { MAX_DEPTH, encodeWire, isWireFailure } from '../binding/wire.js';
import { resolveNumbers } from './limits.js';
import type { LifecyclePolicy } from './plugin.js';
import type { TrustOptions } from './trust.js';
import type { LogRate } from '../shared/log-limit.js';
import { type PluginGrants, checkGrants } from '../capabilities/grants.js';

export interface HostOptions {
  /** Directory of plugin files: every file with a registered extension (`.js`, `.mjs`, `.ts`, `.mts`, `.lua`) is a plugin. */
  dir?: string;
  /** Extra plugin files to load besides (or instead of) `dir`. */
  files?: string[];
  /**
   * The engines, by file extension (default: the built-ins, QuickJS for `.js`/`.mjs`/`.ts`/`.mts`
   * and fengari for `.lua`). Pass `[...builtinEngines, myEngine]` (from `terrarium-plugins/engine`) to add one.
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
  /**
   * Per-plugin grants, keyed by plugin name. `kv.shared` lists the namespaces of key-scoped kv
   * capabilities (the gateway's host.kv) the plugin may reach as "@<ns>/<key>"; every other key
   * is its own (see src/capabilities/kv-scope.ts).
   */
  grants?: Record<string, PluginGrants>;
}

/** A running set of plugins. Close it (or `await using`) to dispose every VM. */
const ms = (n: number) => `${n} ms`;
const count = (n: number) => String(n);
const HOUR = 3_600_000;
const KNOWN_OPTIONS = ['dir', 'files', 'limits', 'pluginLimits', 'capabilities', 'config', 'logger', 'watch', 'apiVersions', 'trust', 'selftest', 'health', 'quarantine', 'logRate', 'standby', 'reload', 'engines', 'grants'];

export function checkOptions(options: HostOptions): void {
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
    if (!ok) throw new OptionsError('options.engines must be an array of { name, extensions, load }', 'Pass e.g. [...builtinEngines, myEngine] (builtinEngines from terrarium-plugins/engine)');
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
  checkGrants(options.grants);
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

export interface Settings {
  policy: LifecyclePolicy;
  healthIntervalMs: number;
  debounceMs: number | undefined;
  logRate: LogRate;
  allowRemovedExports: boolean;
}

export function settingsFrom(options: HostOptions): Settings {
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

