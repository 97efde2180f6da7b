/**
 * One plugin in one QuickJS WebAssembly instance: load (glue, capabilities, the module, its
 * exports) and the call path. It owns its parts: the core (core.ts: runtime, context, memory,
 * signals into the guest gate, error classification, dispose) and the host calls (host-calls.ts:
 * capabilities, host promises, async calls), and disposes them in reverse order.
 *
 * Calls go through the hot path in `invoke`, with the raw FFI (ffi.ts): scalar arguments
 * (numbers, booleans, null, undefined, short strings) are created in the guest directly and the
 * export is called as it is, a scalar result read from its tag; other arguments are encoded to
 * wire text on the host and handed to a per-export trampoline that decodes them and encodes the
 * result. Raw handles never leave this folder.
 */
import { Scope, type QuickJSContext, type QuickJSHandle } from 'quickjs-emscripten-core';
import type { EngineInstance, LoadRequest } from '../../engine.js';
import type { ExportInfo, PluginMeta } from '../../types.js';
import { MarshalError, PluginLoadError, PluginMemoryError, PluginTimeoutError, TerrariumError } from '../../errors.js';
import { MAX_DEPTH, decodeWire, encodeWire, isWireFailure } from '../../binding/wire.js';
import { marshalErrorFrom, metaLoadError } from '../../binding/failures.js';
import { NOT_SCALAR, type Ptr, type Scalar } from './ffi.js';
import { ArgWriter } from './marshal-in.js';
import { type ReaderHost, Refusal, ResultReader } from './marshal-out.js';
import { HostCalls } from './host-calls.js';
import { QuickJSCore } from './core.js';
import type { GlueSnapshot, SnapshotSubject } from './snapshot.js';
import type { QuickJSWASMModule } from 'quickjs-emscripten-core';
import { ASYNC_PREFIX, GLUE_FILE, GUEST_GLUE } from './guest.js';
import { refuseBigIntLiterals } from './bigint-gate.js';
import { now } from './util.js';
import { CLASS_PROBE } from './snapshot.js';

const SURROGATE_OR_NUL = /[\ud800-\udfff\u0000]/;
function isScalarArg(a: unknown): a is Scalar {
  const t = typeof a;
  if (t === 'string') return (a as string).length < 4096 && !SURROGATE_OR_NUL.test(a as string);
  return t === 'number' || t === 'boolean' || a === null || a === undefined;
}

/** What a real array could hold in the plugin's memory (8 bytes a value), and at most 2^24 (the codec's value budget). */
function valueBudget(memoryBytes: number): number {
  return Math.min(Math.floor(memoryBytes / 8), 2 ** 24);
}

export class QuickJSInstance implements EngineInstance {
  meta: PluginMeta | undefined;
  exports: ExportInfo[] = [];
  /** The runtime, context and memory, the gate's terms for this engine's signals, error classification. */
  private readonly core: QuickJSCore;
  /** Capabilities, host promises and async calls. */
  private readonly calls: HostCalls;
  private readonly trampolines = new Map<string, QuickJSHandle>();
  private readonly exportFns = new Map<string, QuickJSHandle>();
  private finishFn!: QuickJSHandle;
  private asyncWithFn = 0;
  private thenKey = 0;
  private writer: ArgWriter | undefined;
  private reader: ResultReader | undefined;

  /** Evaluate glue + plugin, reflect the exports. Throws PluginLoadError or a limit error. */
  load(): void {
    this.core.enter(now() + this.core.req.limits.loadTimeoutMs);
    try {
      // Temporaries live in `scope` (freed in reverse order, also when a step throws); handles the
      // instance keeps are managed by `this.core.owned`, freed by dispose.
      // A trapped runtime may abort on free: then nothing is freed, the whole module is dropped.
      const scope = new Scope();
      try {
        this.loadIn(scope);
      } finally {
        if (!this.core.broken) scope.dispose();
      }
    } finally {
      this.core.leave();
    }
  }

  private loadIn(scope: Scope): void {
    refuseBigIntLiterals(this.core.req);
    const { ctx, owned } = this.core;
    const keep = (h: QuickJSHandle) => owned.manage(h);
    const temp = (h: QuickJSHandle) => scope.manage(h);
    // From the snapshot, the glue is already evaluated in this memory: own its handle instead.
    this.core.glue = keep(this.core.restoredGlue ? this.core.vm.handle(this.core.restoredGlue) : this.unwrapLoad(ctx.evalCode(GUEST_GLUE, GLUE_FILE)));
    const hostcall = keep(ctx.newFunction('hostcall', (idH, argsH) => this.calls.hostcall(ctx.getNumber(idH), argsH)));
    this.core.describeFn = keep(ctx.getProp(this.core.glue, 'describeThrown'));
    this.calls.hostErrorFn = keep(ctx.getProp(this.core.glue, 'hostError'));
    const caps = JSON.stringify(this.core.req.capabilities.map((c, i) => [i + 1, c.path]));
    const install = temp(ctx.getProp(this.core.glue, 'install'));
    const capsH = temp(ctx.newString(caps));
    const dataH = temp(ctx.newString(encodeWire(this.core.req.data, MAX_DEPTH)));
    // What a real array could hold in the plugin's memory (8 bytes a value), and at most 2^24:
    // a C loop over that many holes takes about a second on the machines measured.
    const limitH = temp(ctx.newNumber(valueBudget(this.core.req.limits.memoryBytes)));
    const bigintH = this.core.req.grants?.bigint === true ? ctx.true : ctx.false;
    temp(this.unwrapLoad(ctx.callFunction(install, this.core.glue, hostcall, capsH, dataH, limitH, bigintH)));
    this.probeClasses(temp);
    this.calls.pollFn = keep(ctx.getProp(this.core.glue, 'poll'));
    this.calls.dropFn = keep(ctx.getProp(this.core.glue, 'drop'));

    let ns = temp(this.unwrapLoad(ctx.evalCode(this.core.req.source, this.core.req.file, { type: 'module', strict: true })));
    // A module with top-level await evaluates to a promise: run its jobs within the load budget.
    const state = ctx.getPromiseState(ns);
    if (!('notAPromise' in state && state.notAPromise)) {
      this.calls.runJobs();
      const settled = ctx.getPromiseState(ns);
      if (settled.type === 'pending') {
        throw new PluginLoadError('top-level await never settled', this.core.errorContext(), 'Plugins cannot wait on anything at load');
      }
      if (settled.type === 'rejected') throw this.core.failure(settled.error, undefined, 'load');
      ns = temp(settled.value);
    }
    const info = this.describe(scope, ns);
    this.meta = info.meta === null ? undefined : (decodeWire(info.meta) as PluginMeta);
    this.exports = info.exports.map((e) => ({ name: e.name, kind: 'function', arity: e.arity, async: e.async }));
    const bind = temp(ctx.getProp(this.core.glue, 'bind'));
    for (const e of this.exports) {
      const fn = keep(ctx.getProp(ns, e.name));
      this.exportFns.set(e.name, fn);
      const nameH = temp(ctx.newString(e.name));
      this.trampolines.set(e.name, keep(this.unwrapLoad(ctx.callFunction(bind, this.core.glue, fn, nameH))));
    }
    this.finishFn = keep(ctx.getProp(this.core.glue, 'finish'));
    const glueFn = (name: string) => keep(ctx.getProp(this.core.glue, name)).value as unknown as number;
    const fns = {
      inspect: glueFn('inspect'),
      ownOr: glueFn('ownOr'),
      getterFailure: glueFn('getterFailure'),
      encodeValue: glueFn('encodeValue'),
      getProto: glueFn('getProto'),
      keysOf: glueFn('keysOf'),
    };
    this.asyncWithFn = glueFn('asyncWith');
    const objectProto = glueFn('OP');
    this.thenKey = keep(ctx.newString('then')).value as unknown as number;
    this.writer = new ArgWriter(this.core.vm, glueFn('setProto'), objectProto, glueFn('makeArray'));
    const host: ReaderHost = {
      fns,
      objectProto: this.core.vm.identity(objectProto),
      callGlue: (fn, args) => this.callGlue(fn, args),
      violation: () => this.core.violation(undefined, 'call'),
    };
    this.reader = new ResultReader(this.core.vm, host, MAX_DEPTH, valueBudget(this.core.req.limits.memoryBytes));
  }

  constructor(req: LoadRequest, qjs: QuickJSWASMModule, memory: WebAssembly.Memory, snapshot?: GlueSnapshot) {
    this.core = new QuickJSCore(req, qjs, memory, snapshot);
    this.calls = new HostCalls(this.core);
  }

  /** True when this instance's glue came from the snapshot (not parsed). */
  get fromSnapshot(): boolean {
    return this.core.fromSnapshot;
  }

  /** This fresh instance as the snapshot sees it (snapshot.ts; before load, never after). */
  snapshotSubject(): SnapshotSubject {
    return this.core.snapshotSubject();
  }

  /** What keeps this build from running the raw paths (see RawVM.probe), or ''. */
  probe(release: boolean): string {
    return this.core.probe(release);
  }

  /** Debug builds only: true when the leak sanitizer finds memory not freed (call after dispose). */
  leakCheck(): boolean {
    return this.core.leakCheck();
  }

  /** The first failure while freeing (a leaked handle asserts in debug builds); tests read it. */
  get closeError(): unknown {
    return this.core.closeError;
  }

  memoryBytes(): number {
    return this.core.memoryBytes();
  }

  /** QuickJS ticks run so far (the engine's work units, `terrarium cost`). */
  workUnits(): number {
    return this.core.workUnits();
  }

  /** Free host-call state, the argument writer, then the core (handles, context, runtime), once no entry is on the stack. */
  dispose(): void {
    this.core.dispose(() => {
      this.calls.disposeHostState();
      this.writer?.dispose();
    });
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Call a glue function with borrowed arguments: the owned result or the owned exception. */
  private callGlue(fn: number, args: readonly number[]): { value: number } | { error: number } {
    const { vm } = this.core;
    const r = vm.callPtrs(fn, args);
    const err = vm.exception(r);
    if (!err) return { value: r };
    vm.free(r);
    return { error: err };
  }

  /** Learn how this build marks plain objects and arrays (before any plugin code runs). */
  private probeClasses(temp: (h: QuickJSHandle) => QuickJSHandle): void {
    const { ctx } = this.core;
    const kinds = ['object', 'object', 'object', 'object', 'array', 'array', 'other', 'other', 'other', 'other', 'other', 'other', 'other', 'other'] as const;
    // From the snapshot the samples are already built in this memory (as the template built them).
    const list = temp(this.core.restoredProbe ? this.core.vm.handle(this.core.restoredProbe) : this.unwrapLoad(ctx.evalCode(CLASS_PROBE, GLUE_FILE)));
    const samples = kinds.map((kind, i) => ({ ptr: temp(ctx.getProp(list, i)).value as unknown as number, kind }));
    if (!this.core.vm.probeClasses(samples)) {
      throw new PluginLoadError('the QuickJS engine cannot start: the WebAssembly build lays out objects differently', this.core.errorContext(), 'Install the exact quickjs-emscripten versions pinned in package.json (npm ci)');
    }
  }

  /** The module's exports and metadata, read by the glue's describe (no plugin getter runs twice). */
  private describe(scope: Scope, ns: QuickJSHandle): { exports: ExportInfo[]; meta: string | null } {
    const { ctx } = this.core;
    const describe = scope.manage(ctx.getProp(this.core.glue, 'describe'));
    const described = ctx.callFunction(describe, this.core.glue, ns);
    if (described.error) {
      const e = this.core.failure(described.error, undefined, 'load');
      throw e instanceof MarshalError ? metaLoadError({ marshalReason: e.reason, marshalPath: e.path }, this.core.errorContext()) : e;
    }
    const text = ctx.getString(scope.manage(described.value));
    return JSON.parse(text) as { exports: ExportInfo[]; meta: string | null };
  }

  /** Unwrap an eval/call result during load, turning a guest error into a TerrariumError. */
  private unwrapLoad(r: ReturnType<QuickJSContext['evalCode']>): QuickJSHandle {
    if (r.error) throw this.core.failure(r.error, undefined, 'load');
    return r.value;
  }

  /**
   * `deadline`: the host's (host/guard.ts), one for the whole call: building the arguments, the
   * export, its promise jobs, reading its result, and every poll of an async call. A direct caller
   * without one gets callTimeoutMs from now.
   */
  call(exportName: string, args: readonly unknown[], deadline = now() + this.core.req.limits.callTimeoutMs): unknown {
    const fn = this.exportFns.get(exportName);
    const tramp = this.trampolines.get(exportName);
    if (!fn || !tramp) throw new Error(`unknown export ${exportName}`);
    this.core.backstop = Infinity;
    this.core.growRefused = false;
    const fnPtr = fn.value as unknown as number;
    let resultPtr: number;
    if (args.every(isScalarArg)) {
      // Scalars are created in the guest as they are and the export is called itself.
      resultPtr = this.invoke(fnPtr, args as readonly Scalar[], exportName, deadline);
    } else {
      const built = this.within(deadline, exportName, () => this.writer!.build(args));
      if (built === undefined) return this.callWithText(tramp, args, exportName, deadline);
      try {
        if (this.core.growRefused) throw this.core.breakWith(new PluginMemoryError(this.core.req.limits.memoryBytes, this.core.errorContext(exportName), 'arguments do not fit'));
        resultPtr = this.invoke(fnPtr, built.map((ptr) => ({ ptr })), exportName, deadline);
      } finally {
        if (!this.core.broken) for (let i = built.length - 1; i >= 0; i--) this.core.vm.release(built[i]!);
      }
    }
    const value = this.core.vm.readScalar(resultPtr);
    if (value !== NOT_SCALAR) {
      this.core.vm.free(resultPtr);
      return value;
    }
    try {
      if (this.core.vm.isString(resultPtr)) return this.core.vm.readString(resultPtr);
      return this.within(deadline, exportName, () => this.readResult(resultPtr, exportName, deadline));
    } finally {
      if (!this.core.broken) this.core.vm.free(resultPtr);
    }
  }

  /** The wire-text path, for arguments the direct builder does not cover. */
  private callWithText(tramp: QuickJSHandle, args: readonly unknown[], exportName: string, deadline: number): unknown {
    let argsText: string;
    try {
      argsText = encodeWire(args, MAX_DEPTH);
    } catch (e) {
      if (isWireFailure(e)) throw marshalErrorFrom(e, 'arguments', this.core.errorContext(exportName));
      throw e;
    }
    const text = this.core.vm.takeText(this.invoke(tramp.value as unknown as number, [argsText], exportName, deadline));
    if (text.charCodeAt(0) === 1 && text.startsWith(ASYNC_PREFIX)) return this.calls.awaitCall(Number(text.slice(1)), exportName, deadline);
    return this.calls.decodeResult(text, exportName, 'return value of');
  }

  /**
   * Read a non-scalar result by walking it from the host (marshal-out.ts), after the thenable
   * check: a promise starts an async call. Runs under the call's deadline (getters may run).
   */
  private readResult(resultPtr: number, exportName: string, deadline: number): unknown {
    const id = this.thenable(resultPtr, exportName);
    if (id !== 0) {
      // The promise's reactions were just attached: run the jobs now, as a call does.
      if (this.core.rt.hasPendingJob()) this.calls.runJobs();
      return this.calls.awaitCall(id, exportName, deadline);
    }
    let value: unknown;
    try {
      value = this.reader!.read(resultPtr);
    } catch (e) {
      if (!(e instanceof Refusal)) throw e;
      throw new MarshalError(e.path, e.reason, `return value of ${exportName}`, this.core.errorContext(exportName));
    }
    if (this.core.rt.hasPendingJob()) this.calls.runJobs();
    if (this.core.fatal || this.core.interrupted) {
      throw this.core.fatal ?? this.core.breakWith(new PluginTimeoutError(this.core.req.limits.callTimeoutMs, 'call', this.core.errorContext(exportName)));
    }
    return value;
  }

  /**
   * The finish() rule for a result: when its `then` (read once, a getter runs) is a function, an
   * async call starts and its id is returned; 0 otherwise. A throwing `then` getter is the plugin's error.
   */
  private thenable(resultPtr: number, exportName: string): number {
    const { vm } = this.core;
    if (!vm.isObject(resultPtr)) return 0;
    const then = vm.getProp(resultPtr, this.thenKey);
    const err = vm.exception(then);
    if (err) {
      vm.free(then);
      throw this.core.failure(vm.handle(err), exportName, 'call');
    }
    if (!vm.isObject(then)) {
      vm.release(then);
      return 0;
    }
    const r = this.callGlue(this.asyncWithFn, [resultPtr, then]);
    vm.release(then);
    if ('error' in r) throw this.core.failure(vm.handle(r.error), exportName, 'call');
    const id = vm.readScalar(r.value);
    vm.release(r.value);
    return typeof id === 'number' ? id : 0;
  }

  /**
   * Run host-driven guest work of a call (building arguments, reading a result) as a guest entry:
   * under the call's deadline, counted in `depth` (a dispose waits for it), a trap breaks the instance.
   * Like every entry here, it never extends the deadline of guest code already running: the
   * engine's own entries (promise jobs, polls) are ones the host does not see.
   */
  private within<T>(deadline: number, exportName: string, fn: () => T): T {
    if (this.core.fatal) throw this.core.fatal;
    this.core.enter(deadline);
    try {
      return fn();
    } catch (e) {
      if (e instanceof TerrariumError) throw e;
      throw this.core.fatal ?? this.core.breakWith(this.core.trapError(e, exportName));
    } finally {
      this.core.leave();
    }
  }

  /**
   * The hot path: create the arguments in guest memory, call `fnPtr` under the call deadline, run
   * the promise jobs it queued, and return the owned result pointer. Throws the right
   * TerrariumError for exceptions, interrupts, traps and stack overflows.
   */
  private invoke(fnPtr: number, args: readonly (Scalar | Ptr)[], exportName: string, deadline: number): number {
    const { vm } = this.core;
    if (this.core.fatal) throw this.core.fatal;
    let resultPtr = 0;
    const owned: number[] = [];
    this.core.enter(deadline);
    try {
      resultPtr = vm.call(fnPtr, args, owned);
      if (this.core.rt.hasPendingJob()) this.calls.runJobs();
    } catch (e) {
      // A trap or a V8 stack overflow inside WebAssembly: the instance cannot be trusted again.
      throw this.core.fatal ?? this.core.breakWith(this.core.trapError(e, exportName));
    } finally {
      if (!this.core.broken) for (let i = owned.length - 1; i >= 0; i--) vm.free(owned[i]!);
      this.core.leave();
    }
    const errPtr = vm.exception(resultPtr);
    if (errPtr) {
      vm.free(resultPtr);
      throw this.core.failure(vm.handle(errPtr), exportName, 'call');
    }
    if (this.core.fatal || this.core.interrupted) {
      vm.free(resultPtr);
      throw this.core.fatal ?? this.core.breakWith(new PluginTimeoutError(this.core.req.limits.callTimeoutMs, 'call', this.core.errorContext(exportName), 'in a promise job'));
    }
    return resultPtr;
  }
}
