/**
 * The engine-neutral half of every call into a plugin instance, written once for all engines.
 * The host wraps each instance an engine loads in a GuardedInstance; everything that calls a
 * plugin (proxies, pins, self-tests, health probes) goes through it. It owns:
 * - the plugin's name, derived from the metadata the engine copied out (validated here);
 * - the error context (plugin, engine, file) the engine's own errors carry (`LoadRequest.context`);
 * - the re-entry cap: host -> plugin -> host -> plugin nesting on one instance ends with
 *   ERR_PLUGIN_STACK at MAX_REENTRY entries;
 * - call deadlines: each call's is `callTimeoutMs` from its start but never later than the call
 *   it is nested in; the engine's interrupt check enforces it (`EngineInstance.call`'s deadline);
 * - the async-call deadline: a promise not settled by then fails with ERR_PLUGIN_TIMEOUT;
 * - the "broken" latch: after the first limit violation, every later entry and every return from
 *   the instance (the outer half of a nested call, an async call settling) fails with that same
 *   error, whatever the plugin did with the error it saw. The latch, the entry depth, the deadline
 *   of the running entry and deferred dispose live in the instance's guest gate (binding/gate.ts),
 *   shared with the engine through `LoadRequest.gate`: the engine stops the guest at its next
 *   check once the gate is broken, and breaks it with its own signals;
 * - the export name on errors, V8 stack overflows that escaped an engine, and failing the calls
 *   still in flight when the instance is disposed (deferred while a call is on the stack);
 * - the engine's empty-table trait: what an engine with an ambiguous empty table returns is marked
 *   (binding/empty.ts), so readers of results have one rule for it.
 */
import type { EmptyTable, Engine, EngineInstance, GuestGate, LoadRequest } from '../engine.js';
import { createGate, onceDisposer } from '../binding/gate.js';
import { type ErrorContext, PluginStackError, PluginTimeoutError, PluginUnavailableError, TerrariumError } from '../errors.js';
import { isLimitViolation } from './violations.js';
import type { ExportInfo, PluginMeta } from '../types.js';
import { pluginNameFrom } from '../binding/failures.js';
import { isHostStackOverflow } from '../binding/overflow.js';
import { type DeadlineTimer, clearDeadline, setDeadline } from './deadline-timer.js';
import { markEmptyTables } from '../binding/empty.js';

/** Nested host -> plugin -> host calls on one instance before ERR_PLUGIN_STACK. */
export const MAX_REENTRY = 32;

const now = () => performance.now();

/** One async call in flight: the caller's promise is settled through `reject`/`resolve` here. */
interface InFlight {
  exportName: string;
  resolve(v: unknown): void;
  reject(e: unknown): void;
  timer: DeadlineTimer | undefined;
}

/**
 * Load a plugin through `engine` and wrap the instance. The engine's load request carries the
 * host's error context and stop signal; the metadata is validated and the name derived once the
 * engine returns (a bad one fails the load with ERR_PLUGIN_LOAD, the instance disposed).
 * @example const inst = await loadGuarded(engine, req); inst.call('greet', ['Ada'])
 */
export async function loadGuarded(engine: Engine, req: LoadRequest, emptyTable: EmptyTable = 'distinct'): Promise<GuardedInstance> {
  const guard = new GuardedInstance(req, engine.name, emptyTable);
  return guard.adopt(await engine.load(guard.request()));
}

/**
 * `loadGuarded` through the engine's `loadSync` (a rebuild inside a call): the same request, the
 * same metadata and name rules. Undefined when the engine has no `loadSync`, or its `loadSync`
 * cannot load this source synchronously now (TypeScript not transpiled yet).
 * @example const inst = loadGuardedSync(engine, req); if (inst) inst.call('greet', ['Ada'])
 */
export function loadGuardedSync(engine: Engine, req: LoadRequest, emptyTable: EmptyTable = 'distinct'): GuardedInstance | undefined {
  if (!engine.loadSync) return undefined;
  const guard = new GuardedInstance(req, engine.name, emptyTable);
  const raw = engine.loadSync(guard.request());
  return raw && guard.adopt(raw);
}

export class GuardedInstance implements EngineInstance {
  name: string;
  private raw!: EngineInstance;
  /** Entries, deadlines, the broken latch and deferred dispose, shared with the engine. */
  readonly gate: GuestGate = createGate();
  /** Calls of this instance on the host stack (nested through host functions): the re-entry cap's count. */
  private calls = 0;
  private disposed = false;
  private readonly inflight = new Set<InFlight>();

  constructor(
    private readonly req: LoadRequest,
    readonly engineName: string,
    readonly emptyTable: EmptyTable = 'distinct',
  ) {
    this.name = req.defaultName;
  }

  /** The engine's load request: the host's error context and this instance's gate added. */
  request(): LoadRequest {
    return { ...this.req, context: (exportName) => this.context(exportName), gate: this.gate };
  }

  /** The violation that broke this instance (the first one); undefined while it is sound. */
  get fatal(): TerrariumError | undefined {
    return this.gate.broken;
  }

  /** `attach`, disposing the engine's instance when its metadata is refused. */
  adopt(raw: EngineInstance): this {
    try {
      this.attach(raw);
    } catch (e) {
      raw.dispose();
      throw e;
    }
    return this;
  }

  /** Adopt the engine's instance: validate its metadata and derive the plugin's name. */
  attach(raw: EngineInstance): void {
    this.raw = raw;
    if (this.emptyTable === 'array') markEmptyTables(raw.meta);
    this.name = pluginNameFrom(raw.meta, this.req, this.context());
  }

  /** Where an error of this plugin happened. */
  context(exportName?: string): ErrorContext {
    return { plugin: this.name, engine: this.engineName, file: this.req.file, exportName };
  }

  get meta(): PluginMeta | undefined {
    return this.raw.meta;
  }

  get exports(): readonly ExportInfo[] {
    return this.raw.exports;
  }

  /** True once the instance broke a limit: never called again, recreated from source. */
  get broken(): boolean {
    return this.gate.broken !== undefined;
  }

  /** Call an export under the re-entry cap and the call deadline; see the file comment. */
  call(exportName: string, args: readonly unknown[]): unknown {
    if (this.fatal) throw stamp(this.fatal, exportName);
    if (this.disposed) throw new PluginUnavailableError('was disposed', this.context(exportName), 'Retry the call');
    if (this.calls >= MAX_REENTRY) throw this.breakWith(new PluginStackError(this.req.limits.stackBytes, this.context(exportName)));
    const { gate } = this;
    // A nested call (plugin -> host function -> plugin) never extends the outer call's deadline.
    gate.enter(now() + this.req.limits.callTimeoutMs);
    const deadline = gate.deadline;
    this.calls++;
    let result: unknown;
    try {
      result = this.raw.call(exportName, args, deadline);
    } catch (e) {
      throw this.failure(e, exportName);
    } finally {
      this.calls--;
      gate.leave();
    }
    if (result instanceof Promise) return this.track(result, exportName, deadline);
    if (this.fatal) throw stamp(this.fatal, exportName);
    return this.emptyTable === 'array' ? markEmptyTables(result) : result;
  }

  /** The caller's promise of an async call: settled by the engine's, or failed at the deadline. */
  private track(p: Promise<unknown>, exportName: string, deadline: number): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      const call: InFlight = { exportName, resolve, reject, timer: undefined };
      const limit = this.req.limits.callTimeoutMs;
      // On timeout the instance still holds the half-done call and the host work it awaits: it is
      // thrown away (crash-only), which the latch makes every other call of it see too.
      // A deadline timer: time another plugin held the host thread is not charged to this call.
      call.timer = setDeadline(() => {
        if (this.take(call)) reject(this.breakWith(new PluginTimeoutError(limit, 'call', this.context(exportName), 'the async call did not settle in time')));
      }, Math.max(0, deadline - now()));
      this.inflight.add(call);
      if (this.fatal) {
        // Broken while the call ran its synchronous part: it fails with the first violation.
        p.catch(() => {});
        this.take(call);
        reject(stamp(this.fatal, exportName));
        return;
      }
      p.then(
        (value) => {
          if (!this.take(call)) return;
          if (this.fatal) reject(stamp(this.fatal, exportName));
          else resolve(this.emptyTable === 'array' ? markEmptyTables(value) : value);
        },
        (e: unknown) => {
          if (this.take(call)) reject(this.failure(e, exportName));
        },
      );
    });
  }

  private take(call: InFlight): boolean {
    if (!this.inflight.delete(call)) return false;
    clearDeadline(call.timer);
    return true;
  }

  /** What a failed call throws: the latched violation, or its own error with the export named. */
  private failure(e: unknown, exportName: string): unknown {
    // The latched violation (the host's, or the engine's own signal it translated into the gate).
    if (this.fatal) return detached(stamp(this.fatal, exportName));
    // A V8 stack overflow that escaped the engine: the plugin exhausted the host's stack.
    const err = isHostStackOverflow(e) ? new PluginStackError(this.req.limits.stackBytes, { ...this.context(exportName), cause: e }) : e;
    if (!(err instanceof TerrariumError)) return err;
    stamp(err, exportName);
    if (isLimitViolation(err)) this.breakWith(err);
    return detached(err);
  }

  /** Crash-only: record the violation that breaks this instance (the first one wins). */
  private breakWith<E extends TerrariumError>(e: E): E {
    return detached(this.gate.breakWith(e));
  }

  memoryBytes(): number {
    return this.disposed ? 0 : this.raw.memoryBytes();
  }

  /** The engine's work units so far (EngineInstance.workUnits), undefined where it counts none. */
  countedUnits(): number | undefined {
    return this.disposed ? undefined : this.raw.workUnits?.();
  }

  /**
   * Fail the calls in flight (ERR_PLUGIN_UNAVAILABLE) and free the instance, once no entry (the
   * host's calls or the engine's own) is on the stack.
   */
  dispose(): void {
    this.disposeOnce();
  }

  private readonly disposeOnce = onceDisposer(this.gate, () => this.free());

  private free(): void {
    this.disposed = true;
    for (const call of [...this.inflight]) {
      this.take(call);
      call.reject(new PluginUnavailableError('was disposed during the call', this.context(call.exportName), 'Retry the call'));
    }
    this.raw?.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Name the export on an error raised while it ran (when the engine did not). */
function stamp<E extends TerrariumError>(e: E, exportName: string): E {
  if (e.exportName === undefined) Object.defineProperty(e, 'exportName', { value: exportName });
  return e;
}

/**
 * Format an error's stack now. Until `stack` is read, V8 keeps the frames' receivers (the
 * instance among them) reachable from the error: an application that keeps the error in a log
 * would keep a discarded instance, and its interpreter's memory, alive.
 */
function detached<E>(e: E): E {
  for (let x: unknown = e, n = 0; x instanceof Error && n < 4; x = (x as { cause?: unknown }).cause, n++) void x.stack;
  return e;
}
