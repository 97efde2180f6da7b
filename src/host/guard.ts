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
 *   error, whatever the plugin did with the error it saw; the engine learns it through
 *   `LoadRequest.stopped` and stops the guest at its next check;
 * - the export name on errors, V8 stack overflows that escaped an engine, and failing the calls
 *   still in flight when the instance is disposed (deferred while a call is on the stack);
 * - the engine's empty-table trait: what an engine with an ambiguous empty table returns is marked
 *   (binding/empty.ts), so readers of results have one rule for it.
 */
import { EntryDepth, type EmptyTable, type Engine, type EngineInstance, type LoadRequest } from '../engine.js';
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
  /** The violation that broke this instance (the first one); undefined while it is sound. */
  fatal: TerrariumError | undefined;
  private raw!: EngineInstance;
  /** Calls of this instance on the host stack (nested through host functions). */
  /** Calls on the stack, and a dispose deferred until none is. */
  private readonly entries = new EntryDepth();
  /** Deadline of the innermost call on the stack (Infinity when none is). */
  private deadline = Infinity;
  private readonly inflight = new Set<InFlight>();

  constructor(
    private readonly req: LoadRequest,
    readonly engineName: string,
    readonly emptyTable: EmptyTable = 'distinct',
  ) {
    this.name = req.defaultName;
  }

  /** The engine's load request: the host's error context and stop signal added. */
  request(): LoadRequest {
    return { ...this.req, context: (exportName) => this.context(exportName), stopped: () => this.fatal };
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

  get broken(): boolean {
    return this.fatal !== undefined || this.raw.broken;
  }

  /** Call an export under the re-entry cap and the call deadline; see the file comment. */
  call(exportName: string, args: readonly unknown[]): unknown {
    if (this.fatal) throw stamp(this.fatal, exportName);
    if (this.entries.disposed) throw new PluginUnavailableError('was disposed', this.context(exportName), 'Retry the call');
    if (this.entries.depth >= MAX_REENTRY) throw this.breakWith(new PluginStackError(this.req.limits.stackBytes, this.context(exportName)));
    const outer = this.deadline;
    // A nested call (plugin -> host function -> plugin) never extends the outer call's deadline.
    const deadline = Math.min(outer, now() + this.req.limits.callTimeoutMs);
    this.deadline = deadline;
    this.entries.enter();
    let result: unknown;
    try {
      result = this.raw.call(exportName, args, deadline);
    } catch (e) {
      throw this.failure(e, exportName);
    } finally {
      this.deadline = outer;
      this.leave();
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
    if (this.fatal) return stamp(this.fatal, exportName);
    // A V8 stack overflow that escaped the engine: the plugin exhausted the host's stack.
    const err = isHostStackOverflow(e) ? new PluginStackError(this.req.limits.stackBytes, { ...this.context(exportName), cause: e }) : e;
    if (!(err instanceof TerrariumError)) return err;
    stamp(err, exportName);
    if (isLimitViolation(err) || this.raw.broken) this.breakWith(err);
    return detached(err);
  }

  /** Crash-only: record the violation that breaks this instance (the first one wins). */
  private breakWith<E extends TerrariumError>(e: E): E {
    this.fatal ??= e;
    return detached(e);
  }

  memoryBytes(): number {
    return this.entries.disposed ? 0 : this.raw.memoryBytes();
  }

  /** The engine's work units so far (EngineInstance.workUnits), undefined where it counts none. */
  countedUnits(): number | undefined {
    return this.entries.disposed ? undefined : this.raw.workUnits?.();
  }

  /** One call left the stack; a dispose requested meanwhile happens once none is on it. */
  private leave(): void {
    if (this.entries.leave()) this.dispose();
  }

  /** Fail the calls in flight (ERR_PLUGIN_UNAVAILABLE) and free the instance once no call is on the stack. */
  dispose(): void {
    if (!this.entries.beginDispose()) return;
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
