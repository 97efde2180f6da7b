/**
 * The one small interface every engine implements, and the registry that maps file extensions to
 * engines. Core code never imports an engine by name: engines are registered here and imported
 * lazily the first time a file with one of their extensions is found.
 */
import type { ExportInfo, Limits, LogLevel, PluginMeta } from './types.js';
import type { CapabilityEntry } from './capabilities/index.js';

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
}

/** One loaded, interpreted plugin inside one sandboxed interpreter. */
export interface EngineInstance extends Disposable {
  /** The plugin's name: `meta.name`, else `LoadRequest.defaultName`. */
  readonly name: string;
  readonly meta: PluginMeta | undefined;
  readonly exports: readonly ExportInfo[];
  /**
   * True once the instance broke a limit or was interrupted: the host must not call it again and
   * recreates it from source (crash-only).
   */
  readonly broken: boolean;
  /**
   * Copy `args` in, call export `exportName`, copy the result out. Returns the value, or a Promise
   * for an async export. Throws (or rejects with) a TerrariumError. The export is known to exist.
   */
  call(exportName: string, args: readonly unknown[]): unknown;
  /** Bytes of memory currently held by this instance (best effort for engines without a heap of their own). */
  memoryBytes(): number;
  dispose(): void;
}

/** An interpreter family, e.g. QuickJS for `.js`/`.mjs`, fengari for `.lua`. */
export interface Engine {
  readonly name: string;
  load(req: LoadRequest): Promise<EngineInstance>;
}

type EngineFactory = () => Promise<Engine>;
const registry = new Map<string, { name: string; factory: EngineFactory; engine?: Promise<Engine> }>();

/**
 * Register an engine for file extensions (with the dot). The factory runs once, on first use.
 * @example registerEngine('quickjs', ['.js', '.mjs'], async () => (await import('./engines/quickjs/index.js')).quickjsEngine)
 */
export function registerEngine(name: string, extensions: readonly string[], factory: EngineFactory): void {
  const entry = { name, factory };
  for (const ext of extensions) registry.set(ext.toLowerCase(), entry);
}

/** The engine name for a file extension, or undefined when no engine handles it. */
export function engineNameFor(ext: string): string | undefined {
  return registry.get(ext.toLowerCase())?.name;
}

/** The engine for a file extension (imported on first use), or undefined. */
export function engineFor(ext: string): Promise<Engine> | undefined {
  const entry = registry.get(ext.toLowerCase());
  if (!entry) return undefined;
  entry.engine ??= entry.factory();
  return entry.engine;
}

/** Extensions that have an engine, e.g. for error messages and the CLI. */
export function registeredExtensions(): string[] {
  return [...registry.keys()].sort();
}
