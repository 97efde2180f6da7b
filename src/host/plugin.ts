/**
 * One plugin's lifecycle: load through its engine, serve calls, and crash-only recovery: after a
 * limit violation the instance is thrown away and a fresh one is interpreted from the same source.
 */
import type { Engine, EngineInstance, LoadRequest } from '../engine.js';
import {
  NoExportError,
  PluginLoadError,
  PluginMemoryError,
  PluginStackError,
  PluginTimeoutError,
  PluginUnavailableError,
  TerrariumError,
  isLimitViolation,
} from '../errors.js';
import type { ExportInfo, Logger, PluginCounters, PluginMeta, PluginStatus } from '../types.js';

/** A snapshot of one plugin, as listed by `host.plugins`. */
export interface PluginInfo {
  name: string;
  /** Path relative to the plugin directory. */
  file: string;
  engine: string;
  status: PluginStatus;
  meta: PluginMeta | undefined;
  exports: ExportInfo[];
  /** The load error (status `failed`) or the last limit violation (status `restarting`). */
  error?: TerrariumError;
  counters: PluginCounters;
  /** Bytes held by the live instance (QuickJS: its WebAssembly memory, which never shrinks). */
  memoryBytes: number;
}

export class ManagedPlugin {
  name: string;
  status: PluginStatus = 'loading';
  meta: PluginMeta | undefined;
  exports: ExportInfo[] = [];
  error: TerrariumError | undefined;
  readonly counters: PluginCounters = { calls: 0, errors: 0, timeouts: 0, memoryErrors: 0, stackErrors: 0, restarts: 0 };
  private instance: EngineInstance | undefined;
  private restarting: Promise<void> | undefined;

  constructor(
    readonly engine: Engine,
    private readonly req: LoadRequest,
    private readonly logger: Logger,
  ) {
    this.name = req.defaultName;
  }

  get file(): string {
    return this.req.file;
  }

  /** Interpret the plugin; never throws: a failure leaves status `failed` with the error. */
  async load(): Promise<void> {
    try {
      const inst = await this.engine.load(this.req);
      if (this.status === 'closed') {
        inst.dispose();
        return;
      }
      this.instance = inst;
      this.name = inst.name;
      this.meta = inst.meta;
      this.exports = [...inst.exports];
      this.status = 'ready';
    } catch (e) {
      if (this.status === 'closed') return;
      this.fail(e instanceof TerrariumError ? e : new PluginLoadError(String((e as Error)?.message ?? e), { plugin: this.name, engine: this.engine.name, file: this.req.file, cause: e }));
    }
  }

  /** Mark as failed with an error (also used by the host for duplicate names). */
  fail(error: TerrariumError): void {
    this.instance?.dispose();
    this.instance = undefined;
    this.status = 'failed';
    this.error = error;
    this.logger.error({ plugin: this.name, file: this.req.file, code: error.code }, error.message);
  }

  info(): PluginInfo {
    return {
      name: this.name,
      file: this.req.file,
      engine: this.engine.name,
      status: this.status,
      meta: this.meta,
      exports: this.exports.map((e) => ({ ...e })),
      ...(this.error ? { error: this.error } : {}),
      counters: { ...this.counters },
      memoryBytes: this.instance?.memoryBytes() ?? 0,
    };
  }

  hasExport(name: string): boolean {
    return this.exports.some((e) => e.name === name);
  }

  /** Call an export; sync exports return values, async ones Promises. Throws TerrariumError. */
  call(exportName: string, args: readonly unknown[]): unknown {
    const inst = this.instance;
    if (!inst || this.status !== 'ready') throw this.unavailable(exportName);
    if (!this.hasExport(exportName)) {
      throw new NoExportError(
        this.exports.map((e) => e.name),
        { plugin: this.name, engine: this.engine.name, file: this.req.file, exportName },
      );
    }
    this.counters.calls++;
    let result: unknown;
    try {
      result = inst.call(exportName, args);
    } catch (e) {
      this.onError(inst, e);
      throw e;
    }
    if (result instanceof Promise) {
      return result.then(undefined, (e: unknown) => {
        this.onError(inst, e);
        throw e;
      });
    }
    return result;
  }

  private unavailable(exportName: string): PluginUnavailableError {
    const ctx = { plugin: this.name, engine: this.engine.name, file: this.req.file, exportName, cause: this.error };
    switch (this.status) {
      case 'restarting':
        return new PluginUnavailableError(`is restarting after ${this.error?.code ?? 'a failure'}`, ctx, 'Retry shortly, or await host.ready()');
      case 'failed':
        return new PluginUnavailableError(`failed to load: ${this.error?.message ?? 'unknown error'}`, ctx, 'Fix the plugin and restart the host');
      case 'closed':
        return new PluginUnavailableError('the host is closed', ctx, 'Create a new host');
      default:
        return new PluginUnavailableError('is still loading', ctx, 'Await createHost() before calling plugins');
    }
  }

  private onError(inst: EngineInstance, e: unknown): void {
    this.counters.errors++;
    if (e instanceof PluginTimeoutError) this.counters.timeouts++;
    else if (e instanceof PluginMemoryError) this.counters.memoryErrors++;
    else if (e instanceof PluginStackError) this.counters.stackErrors++;
    if (isLimitViolation(e) || inst.broken) this.restart(inst, e instanceof TerrariumError ? e : undefined);
  }

  /** Crash-only: drop a broken instance and interpret the source again. */
  private restart(inst: EngineInstance, cause: TerrariumError | undefined): void {
    if (this.instance !== inst || this.status === 'closed') return;
    this.instance = undefined;
    inst.dispose();
    this.counters.restarts++;
    this.status = 'restarting';
    this.error = cause;
    this.logger.warn({ plugin: this.name, file: this.req.file, code: cause?.code }, `restarting plugin after ${cause?.code ?? 'a failure'}`);
    this.restarting = this.load().finally(() => {
      this.restarting = undefined;
      if (this.status === 'ready') this.error = undefined;
    });
  }

  /** Resolves when no load or restart is in flight. */
  async settled(): Promise<void> {
    while (this.restarting) await this.restarting;
  }

  close(): void {
    this.status = 'closed';
    this.instance?.dispose();
    this.instance = undefined;
  }
}
