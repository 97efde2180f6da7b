/**
 * Public types shared by the host, the binding layer and every engine. Engines import from here;
 * nothing here imports an engine.
 */

/** Per-plugin resource limits. Every field has a safe default (see `DEFAULT_LIMITS`). */
export interface Limits {
  /** Hard cap on a plugin's memory, in bytes. QuickJS: the bounded WebAssembly memory of its own module (min 16 MiB, its declared trait). */
  memoryBytes: number;
  /** Wall-clock budget of one call, including the host capabilities an async call awaits. */
  callTimeoutMs: number;
  /** Wall-clock budget of interpreting the plugin's top level. */
  loadTimeoutMs: number;
  /** Interpreter stack budget; deep recursion ends in ERR_PLUGIN_STACK, never in a host stack overflow. */
  stackBytes: number;
}

/** A host function granted to plugins; arguments and results are copied across. */
export type CapabilityFn = (...args: never[]) => unknown;
/** The `capabilities` tree: functions, nested objects of functions, and plain data (copied in once). */
export interface Capabilities {
  [key: string]: CapabilityFn | Capabilities | unknown;
}

/** Plugin metadata from `export const meta = {...}` (JS) or the `meta` field (Lua). */
export interface PluginMeta {
  name?: string;
  version?: string;
  apiVersion?: string | number;
  description?: string;
  [key: string]: unknown;
}

/** One exported function of a plugin, found by reflection. */
export interface ExportInfo {
  name: string;
  kind: 'function';
  /** Declared parameter count (`fn.length` in JS, `nparams` in Lua). */
  arity: number;
  /** True for `async function` exports (JS); Lua exports that yield on a host promise are detected per call. */
  async: boolean;
}

/** Minimal structured logger: pino's shape. The library never prints by itself. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Counters kept for each plugin, readable at any time through `host.plugins`. */
export interface PluginCounters {
  calls: number;
  errors: number;
  timeouts: number;
  memoryErrors: number;
  stackErrors: number;
  /** How many times the instance was thrown away and recreated from source. */
  restarts: number;
  /** New versions activated by hot reload. */
  reloads: number;
  /** New versions rejected by a check (signature, handshake, self-test, load error); the old one kept serving. */
  rejectedReloads: number;
  /** Times the plugin was quarantined. */
  quarantines: number;
  /** Failed health probes (consecutive failures lead to quarantine). */
  healthFailures: number;
  /** Plugin log lines dropped by the per-plugin rate limit. */
  logDropped: number;
}

/**
 * `loading` -> `ready`; a limit violation -> `restarting` -> `ready`; repeated violations or
 * failed health probes -> `quarantined` -> (re-probed) `ready`; a load error -> `failed`;
 * `unloaded` once its file is deleted (hot reload); `closed` after host.close().
 */
export type PluginStatus = 'loading' | 'ready' | 'restarting' | 'quarantined' | 'failed' | 'unloaded' | 'closed';
