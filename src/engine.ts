/**
 * The one small interface every engine implements, and the guest gate the host hands each
 * instance. Core code never imports an engine by name: a host is handed engine descriptors
 * (`createHost({ engines })`, the built-ins by default) and imports each lazily, the first time a
 * file with one of its extensions is found (host/engine-set.ts).
 */
import type { ExportInfo, Limits, LogLevel, PluginMeta } from './types.js';
import type { ErrorContext, TerrariumError } from './errors.js';
import type { CapabilityEntry } from './capabilities/index.js';
import type { OutboundPort } from './outbound/calls.js';

/**
 * The engine-neutral safety rules of one instance, owned by the host (one per instance, handed to
 * the engine as `LoadRequest.gate`, implemented once in binding/gate.ts). Every path into the
 * guest, the host's calls and the engine's own (promise jobs, polls, resumptions), is an entry:
 * `enter(deadline)` ... `leave()`. An engine only translates its own signals (an interrupt, a
 * refused memory.grow, fengari's budget) into the gate's terms with `breakWith`, and checks
 * `broken` wherever its guest could go on (a host function returning, an interrupt check).
 */
export interface GuestGate {
  /**
   * The violation that broke this instance (the first one wins), undefined while it is sound.
   * Once set, the instance is never trusted again (crash-only): every later entry and every return
   * from the guest fails with it, whatever the plugin did with the error it saw.
   */
  readonly broken: TerrariumError | undefined;
  /** Latch the violation that breaks this instance (a later one does not replace it); returns `error`. */
  breakWith<E extends TerrariumError>(error: E): E;
  /** Start a guest entry that must stop by `deadline` (performance.now() ms); never later than the entry it is nested in. */
  enter(deadline: number): void;
  /** End the innermost entry; the last one out runs the disposes deferred meanwhile. */
  leave(): void;
  /** Deadline of the innermost entry (Infinity when none is on the stack). */
  readonly deadline: number;
  /** Entries on the stack. */
  readonly depth: number;
  /** Run `dispose` now when no entry is on the stack, else when the last one leaves. */
  deferDispose(dispose: () => void): void;
}

/** What the host hands an engine to load one plugin. */
export interface LoadRequest {
  /** Absolute path of the plugin file. */
  path: string;
  /** Path shown in errors and stack traces (relative to the plugin directory). */
  file: string;
  /** The plugin's name until its metadata says otherwise: the file name without extension. */
  defaultName: string;
  /** The plugin's source text. */
  source: string;
  limits: Limits;
  /** Host functions granted to this plugin, flattened (`kv.get` -> path ['kv','get']). */
  capabilities: readonly CapabilityEntry[];
  /** Plain data bound next to the functions under `host` (copied in once at load). */
  data: Record<string, unknown>;
  /** Resolves this plugin's `host.config` (read lazily, so metadata names can key it). */
  config(): unknown;
  /** Receives the plugin's console / print / host.log output. */
  log(level: LogLevel, message: string): void;
  /**
   * Where an error of this plugin happened (plugin name as the host derived it, engine, file,
   * export), for the engine's own errors. Set by the host; see `errorContext` for a caller that
   * loads an engine directly.
   */
  context?(exportName?: string): ErrorContext;
  /**
   * The guest gate of this instance (see `GuestGate`): the host's, shared by its calls and the
   * engine's own guest entries. Set by the host; an engine loaded directly makes its own
   * (`createGate()`).
   */
  gate?: GuestGate;
  /**
   * Language features off by default that this plugin is granted. `bigint`: QuickJS BigInt (off
   * because one BigInt operation cannot be interrupted; see engines/quickjs/bigint-gate.ts).
   */
  grants?: { bigint?: boolean };
  /** Outbound HTTP of this plugin (fetch, Lua http.request) under its fetch grant. Set by the host; absent: every fetch refused. */
  outbound?: OutboundPort;
}

/**
 * Load a fresh instance: run `load` on it, and if that throws, dispose the instance (what it built
 * so far) before the error goes on. What every engine's `load` does.
 * @example return loadOrDispose(new MyInstance(req), (inst) => inst.load())
 */
export function loadOrDispose<T extends Disposable>(inst: T, load: (inst: T) => void): T {
  try {
    load(inst);
  } catch (e) {
    inst[Symbol.dispose]();
    throw e;
  }
  return inst;
}

/** The error context of a load request (the host's, or the file's defaults for a direct load). */
export function errorContext(req: LoadRequest, exportName?: string): ErrorContext {
  return req.context ? req.context(exportName) : { plugin: req.defaultName, file: req.file, exportName };
}

/**
 * One loaded, interpreted plugin inside one sandboxed interpreter: only what is specific to the
 * interpreter. The host (host/guard.ts) wraps every instance and owns what is the same for all
 * engines: the plugin name and metadata rules, the re-entry cap, call deadlines (nested calls never
 * extend the outer one), the async-call deadline, the "broken" latch, error context and the export
 * name on errors, and failing in-flight calls on dispose.
 */
export interface EngineInstance extends Disposable {
  /** Ignored by the host, which derives the name from `meta` (kept for engines that still set it). */
  readonly name?: string;
  /** The metadata exactly as the plugin declared it, copied out; the host validates it. */
  readonly meta: PluginMeta | undefined;
  readonly exports: readonly ExportInfo[];
  /**
   * Copy `args` in, call export `exportName`, copy the result out. Returns the value, or a Promise
   * for an async export. Throws (or rejects with) a TerrariumError. The export is known to exist.
   * `deadline` (performance.now() ms) is when the call, its promise jobs and every resumption of an
   * async call must have stopped: the host computes it (never later than an outer call's) and
   * fails an async call that has not settled by then; the engine's interrupt check enforces it
   * while the guest runs.
   */
  call(exportName: string, args: readonly unknown[], deadline: number): unknown;
  /** Bytes of memory currently held by this instance (best effort for engines without a heap of their own). */
  memoryBytes(): number;
  /**
   * Optional: work units the instance ran so far (a running total, deterministic for the same
   * calls: QuickJS ticks, Lua VM instructions). `terrarium cost` reports the difference per call.
   */
  workUnits?(): number;
  dispose(): void;
}

/** An interpreter family, e.g. QuickJS for `.js`/`.mjs`, fengari for `.lua`. */
export interface Engine {
  readonly name: string;
  load(req: LoadRequest): Promise<EngineInstance>;
  /** Optional: load synchronously (same contract as `load`), used to rebuild an instance inside a
   *  call. Engines that cannot omit it; undefined when this source cannot be loaded synchronously
   *  now (the TypeScript engine before it has transpiled the source): the call then fails fast. */
  loadSync?(req: LoadRequest): EngineInstance | undefined;
}

/** What an engine declares about itself, so the core has no engine special cases. */
export interface EngineTraits {
  /** The least `limits.memoryBytes` the engine can start with (QuickJS: 16 MiB of linear memory). */
  minMemoryBytes?: number;
  /** The most `limits.stackBytes` the engine can honour (QuickJS: 4 MiB, under its 5 MiB C stack). */
  maxStackBytes?: number;
  /**
   * How an empty table/object comes back: `distinct` (default: `[]` and `{}` are told apart, as in
   * JavaScript) or `array` (Lua: an empty table copies out as `[]`, and may have been meant as an
   * empty object). The host reads results with `binding/empty.ts` accordingly.
   */
  emptyTable?: EmptyTable;
}

/** See `EngineTraits.emptyTable`. */
export type EmptyTable = 'distinct' | 'array';

/**
 * An engine as handed to `createHost({ engines })`: its name, the file extensions (with the dot)
 * it runs, its traits, and a factory that imports it on first use.
 * @example { name: 'quickjs', extensions: ['.js', '.mjs'], load: async () => (await import('./engines/quickjs/index.js')).quickjsEngine }
 */
export interface EngineDescriptor {
  readonly name: string;
  readonly extensions: readonly string[];
  readonly traits?: EngineTraits;
  load(): Promise<Engine>;
}
