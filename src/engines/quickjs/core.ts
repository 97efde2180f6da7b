/**
 * The state every QuickJS instance carries and the rules that turn what the engine signalled into
 * errors: the runtime and context with their interrupt handler and memory guard, the deadline of
 * the guest code running now, the crash-only latch (`breakWith`), the classification of a thrown
 * value, and dispose. A QuickJSInstance (instance.ts) owns one QuickJSCore and one HostCalls
 * (host-calls.ts) over it, as parts: no class extends another. What is the same for every engine (the plugin name, the re-entry cap, call deadlines, the
 * async-call timeout, the export name on errors, failing in-flight calls on dispose) is the
 * host's (host/guard.ts). The broken latch, the entry depth, the deadline of the running entry and
 * deferred dispose are the instance's guest gate (`LoadRequest.gate`, shared with the host): this
 * engine enters it for its own entries too (promise jobs, polls, host-driven guest work), and
 * translates its signals (the interrupt handler, a refused memory.grow) into `gate.breakWith`.
 */
import { Scope, type QuickJSContext, type QuickJSHandle, type QuickJSRuntime, type QuickJSWASMModule } from 'quickjs-emscripten-core';
import { type GuestGate, type LoadRequest, errorContext } from '../../engine.js';
import { createGate } from '../../binding/gate.js';
import {
  type ErrorContext,
  PluginLoadError,
  PluginMemoryError,
  PluginStackError,
  PluginThrownError,
  PluginTimeoutError,
  TerrariumError,
} from '../../errors.js';
import { decodeWire, isWireFailure } from '../../binding/wire.js';
import { boundedLog } from '../../capabilities/index.js';
import { guestFailure, marshalErrorFrom } from '../../binding/failures.js';
import { isHostStackOverflow } from '../../binding/overflow.js';
import { RawVM, ScratchError } from './ffi.js';
import { GLUE_FILE } from './guest.js';
import { AsyncCalls } from './async-calls.js';
import type { GlueSnapshot, SnapshotSubject } from './snapshot.js';
import { type Described, now } from './util.js';
import { type InterruptCounter, counterOf } from './interrupt-counter.js';

export class QuickJSCore {

  readonly rt: QuickJSRuntime;
  readonly ctx: QuickJSContext;
  readonly vm: RawVM;
  /** Handles that live as long as the instance (glue functions, exports), freed in reverse order. */
  readonly owned = new Scope();
  glue!: QuickJSHandle;
  /** The glue's JSValue pointer when this instance's memory was copied from the snapshot, else 0. */
  readonly restoredGlue: number = 0;
  /** The class-probe samples' JSValue pointer from the snapshot, else 0 (instance.ts probeClasses). */
  readonly restoredProbe: number = 0;
  describeFn: QuickJSHandle | undefined;
  /**
   * Run when this instance breaks or is disposed: the host-call part drops what host promises the
   * application keeps pending hold (they must not keep this instance alive). Set by host-calls.ts.
   */
  onRelease: () => void = () => {};
  /** Set when the last attempt to grow the WebAssembly memory was refused (the memory cap is hit). */
  growRefused = false;
  /** Deadline armed by the interrupt handler when guest code runs outside any scope (a backstop). */
  backstop = Infinity;
  /** console.* output, bounded per line and per second in bytes. */
  readonly log: (level: 'debug' | 'info' | 'warn' | 'error', message: unknown) => void;
  readonly pending = new AsyncCalls();
  /** Entries, deadlines, the broken latch and deferred dispose: the host's, or this instance's own when loaded directly. */
  readonly gate: GuestGate;
  /** Interrupt deadline of the code running now (performance.now() ms). */
  get deadline(): number {
    return this.gate.deadline;
  }
  /** Start a guest entry under `deadline` (never later than the running one's); a new poll window. */
  enter(deadline: number): void {
    this.gate.enter(deadline);
    this.counter?.arm();
  }
  /** End a guest entry; a dispose asked for meanwhile runs once none is on the stack. */
  leave(): void {
    this.gate.leave();
    this.counter?.arm();
  }
  /** Steers how often QuickJS polls (interrupt-counter.ts); set by probe. */
  private counter: InterruptCounter | undefined;
  private readonly pollHooks: { onPoll: (() => void) | undefined } = { onPoll: undefined };
  /** Guest code resumes after a host call: start a short window again (interrupt-counter.ts). */
  rearm(): void {
    this.counter?.arm();
  }
  /** QuickJS ticks (loop back-edges, calls) run so far: the engine's work units (`terrarium cost`). */
  workUnits(): number {
    return this.counter?.ticks() ?? 0;
  }
  interrupted = false;
  /** The limit violation that broke this instance (the gate's latch); every later return from the guest rethrows it. */
  get fatal(): TerrariumError | undefined {
    return this.gate.broken;
  }
  /** True once the instance is broken: an interrupted or trapped runtime is never freed or called again. */
  get broken(): boolean {
    return this.gate.broken !== undefined;
  }
  private disposing = false;
  disposed = false;

  constructor(
    readonly req: LoadRequest,
    readonly qjs: QuickJSWASMModule,
    private readonly memory: WebAssembly.Memory,
    snapshot?: GlueSnapshot,
  ) {
    this.log = boundedLog((level, message) => req.log(level, message));
    this.gate = req.gate ?? createGate();
    this.rt = qjs.newRuntime();
    try {
      this.rt.setMaxStackSize(req.limits.stackBytes);
      this.rt.setInterruptHandler(() => this.onInterrupt());
      this.guardMemory();
      this.ctx = this.rt.newContext();
      this.vm = new RawVM(qjs, this.ctx, memory);
      if (snapshot) {
        // Nothing has touched the memory since the steps above, the same ones the template took.
        ({ glue: this.restoredGlue, probe: this.restoredProbe } = snapshot.apply(memory, this.vm.ctxPtr));
        // The copy brought the template's runtime struct: this plugin's stack limit again.
        this.rt.setMaxStackSize(req.limits.stackBytes);
      }
    } catch (e) {
      this.rt.dispose();
      throw e;
    }
  }

  private onInterrupt(): boolean {
    const probing = this.pollHooks.onPoll;
    if (probing) {
      // The startup probe's own bounded loops (interrupt-counter.ts): never cut short by a deadline.
      probing();
      return false;
    }
    // Broken, by this engine or by the host (e.g. the re-entry cap, met in a nested call the plugin caught).
    if (this.fatal) return true;
    let deadline = this.deadline;
    if (deadline === Infinity) {
      // Every path into the guest sets a deadline; this backstop bounds one that was missed.
      if (this.backstop === Infinity) this.backstop = now() + this.req.limits.callTimeoutMs;
      deadline = this.backstop;
    }
    const t = now();
    this.counter?.poll(t);
    if (t > deadline) {
      this.interrupted = true;
      return true;
    }
    return false;
  }

  /**
   * The memory guard: emscripten grows the heap through this method; a refusal is the engine's
   * own signal that the plugin hit memoryBytes (never the text of an error message).
   */
  private guardMemory(): void {
    const { memory } = this;
    const grow = memory.grow.bind(memory);
    Object.defineProperty(memory, 'grow', {
      value: (pages: number) => {
        try {
          const r = grow(pages);
          this.growRefused = false;
          return r;
        } catch (e) {
          this.growRefused = true;
          throw e;
        }
      },
    });
  }

  errorContext(exportName?: string): ErrorContext {
    return errorContext(this.req, exportName);
  }

  /** Turn a guest error handle into the right TerrariumError; disposes the handle. */
  failure(errH: QuickJSHandle, exportName: string | undefined, phase: 'call' | 'load'): TerrariumError {
    try {
      const early = this.violation(exportName, phase);
      return early ?? this.classify(this.describeThrown(errH), exportName, phase);
    } finally {
      if (errH.alive) errH.dispose();
    }
  }

  /**
   * The limit violation the engine itself signalled, if any: the instance was already broken, the
   * interrupt handler fired, or the memory guard refused to grow. Never read from message text.
   */
  violation(exportName: string | undefined, phase: 'call' | 'load'): TerrariumError | undefined {
    const limits = this.req.limits;
    if (this.fatal) return this.fatal;
    if (this.interrupted) {
      return this.breakWith(new PluginTimeoutError(phase === 'load' ? limits.loadTimeoutMs : limits.callTimeoutMs, phase, this.errorContext(exportName)));
    }
    if (this.growRefused) return this.breakWith(new PluginMemoryError(limits.memoryBytes, this.errorContext(exportName)));
    return undefined;
  }

  /**
   * Read a thrown value through the glue's describeThrown, which runs no plugin code (own data
   * properties only, bounded) and still runs under a deadline.
   */
  private describeThrown(errH: QuickJSHandle): Described {
    const fn = this.describeFn;
    if (!fn) return { engine: '', value: null };
    const r = this.scoped(() => this.ctx.callFunction(fn, this.glue, errH));
    if (r.error) {
      r.error.dispose();
      return { engine: '', value: null };
    }
    const text = this.ctx.getString(r.value);
    r.value.dispose();
    return this.parseDescribed(text);
  }

  parseDescribed(text: string): Described {
    try {
      const d = decodeWire(text) as Described;
      return { engine: d.engine, value: d.value };
    } catch {
      return { engine: '', value: null };
    }
  }

  classify(described: Described, exportName: string | undefined, phase: 'call' | 'load'): TerrariumError {
    const ctx = this.errorContext(exportName);
    const limits = this.req.limits;
    const early = this.violation(exportName, phase);
    if (early) return early;
    // The engine's own InternalError (plugins cannot construct one; see guest-codec.ts).
    if (described.engine === 'memory') return this.breakWith(new PluginMemoryError(limits.memoryBytes, ctx));
    if (described.engine === 'stack') return this.breakWith(new PluginStackError(limits.stackBytes, ctx));
    const dumped = described.value;
    if (isWireFailure(dumped)) {
      return marshalErrorFrom(dumped, (dumped as { marshalDirection?: string }).marshalDirection ?? 'plugin value', ctx);
    }
    const failure = guestFailure(dumped, this.req.file, GLUE_FILE);
    if (phase === 'load') {
      return new PluginLoadError(failure.message, { ...ctx, ...failure.where, pluginStack: failure.stack });
    }
    return new PluginThrownError(failure.message, { ...ctx, ...failure.where, pluginStack: failure.stack }, dumped);
  }

  /** What a trap (or a host exception) during a guest entry means for the limits. */
  trapError(e: unknown, exportName: string): TerrariumError {
    const ctx = this.errorContext(exportName);
    if (isHostStackOverflow(e)) return new PluginStackError(this.req.limits.stackBytes, ctx);
    if (this.interrupted) return new PluginTimeoutError(this.req.limits.callTimeoutMs, 'call', ctx);
    if (this.growRefused) return new PluginMemoryError(this.req.limits.memoryBytes, ctx);
    if (e instanceof ScratchError) return new PluginMemoryError(this.req.limits.memoryBytes, ctx, 'arguments do not fit');
    if (e instanceof TerrariumError) return e;
    return new PluginThrownError(`the interpreter trapped: ${(e as Error)?.message ?? String(e)}`, { ...ctx, cause: e });
  }

  /**
   * Run guest work (none of it the plugin's own) under the current deadline, or a fresh
   * `callTimeoutMs` one when none is set, so no path into the guest is ever unbounded.
   */
  scoped<T>(fn: () => T): T {
    this.enter(now() + this.req.limits.callTimeoutMs);
    try {
      return fn();
    } finally {
      this.leave();
    }
  }

  /**
   * Crash-only: record the violation that breaks this instance. The guest is interrupted at its
   * next check and every call still on the stack (e.g. the outer half of a re-entrant call)
   * fails with this same error, whatever the plugin did with the error it saw.
   */
  breakWith<E extends TerrariumError>(e: E): E {
    this.onRelease();
    return this.gate.breakWith(e);
  }

  /** True when this instance's glue came from the snapshot (not parsed). */
  get fromSnapshot(): boolean {
    return this.restoredGlue !== 0;
  }

  /** This fresh instance as the snapshot sees it (snapshot.ts; before load, never after). */
  snapshotSubject(): SnapshotSubject {
    return { memory: this.memory, ctx: this.ctx, ctxPtr: this.vm.ctxPtr, malloc: (n) => this.vm.malloc(n) };
  }

  /** What keeps this build from running the raw paths (see RawVM.probe), or ''. */
  probe(release: boolean): string {
    const problem = this.vm.probe(release);
    if (problem) return problem;
    const run = (src: string) => this.scoped(() => this.ctx.evalCode(src).dispose());
    const counter = counterOf(release, this.vm.ctxPtr, this.vm.memoryWords, this.pollHooks, run, this.restoredGlue !== 0);
    if (typeof counter === 'string') return counter;
    this.counter = counter;
    return '';
  }

  /** Debug builds only: true when the leak sanitizer finds memory not freed (call after dispose). */
  leakCheck(): boolean {
    return this.vm.leakCheck();
  }

  memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /**
   * Free everything in reverse order of creation: host-call state, the instance's handles (newest
   * first), the scratch buffer, the context, the runtime. Every step runs even when one fails; the first
   * failure is kept in `closeError` (a runtime that cannot free cleanly is garbage anyway,
   * dropped with its whole module, so it is not thrown at the host's close).
   */
  dispose(freeHostState: () => void): void {
    if (this.disposing) return;
    this.disposing = true;
    this.gate.deferDispose(() => this.free(freeHostState));
  }

  private free(freeHostState: () => void): void {
    this.disposed = true;
    this.onRelease();
    // The host fails the calls still in flight (ERR_PLUGIN_UNAVAILABLE); their guest promises go with the runtime.
    this.pending.clear();
    if (this.broken) return; // an interrupted or trapped runtime may abort on free: let GC take the whole module
    const steps: (() => void)[] = [freeHostState, () => this.owned.dispose(), () => this.vm.dispose(), () => this.ctx.dispose(), () => this.rt.dispose()];
    for (const step of steps) {
      try {
        step();
      } catch (e) {
        this.closeError ??= e;
      }
    }
  }

  /** The first failure while freeing (a leaked handle asserts in debug builds); tests read it. */
  closeError: unknown;

}
