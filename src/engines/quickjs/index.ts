/**
 * QuickJS engine (quickjs-emscripten, bellard's QuickJS compiled to WebAssembly) for `.js`/`.mjs`.
 *
 * Every plugin gets its own WebAssembly instance whose linear memory is a bounded
 * `WebAssembly.Memory`: that is the memory cap (QuickJS's own setMemoryLimit does not cap in
 * 0.32, see shared/research/quickjs.md). The .wasm is compiled once per process and shared.
 * Time is bounded by an interrupt handler reading a per-call deadline; the stack by
 * setMaxStackSize, which keeps guest recursion from reaching V8's own stack.
 *
 * Calls go through the hot path in `invoke`, with the raw FFI: scalar arguments (numbers,
 * booleans, null, undefined, short strings) are created in the guest directly and the export is
 * called as it is, a scalar result read from its tag; other arguments are encoded to wire text on
 * the host and handed to a per-export trampoline that decodes them and encodes the result. Raw
 * handles never leave this folder.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSContext,
  type QuickJSDeferredPromise,
  type QuickJSHandle,
  type QuickJSRuntime,
  type QuickJSSyncVariant,
  type QuickJSWASMModule,
} from 'quickjs-emscripten-core';
import RELEASE_SYNC_MODULE from '@jitl/quickjs-wasmfile-release-sync';
import type { Engine, EngineInstance, LoadRequest } from '../../engine.js';
import type { ExportInfo, PluginMeta } from '../../types.js';
import {
  type ErrorContext,
  MarshalError,
  PluginLoadError,
  PluginMemoryError,
  PluginStackError,
  PluginThrownError,
  PluginTimeoutError,
  PluginUnavailableError,
  TerrariumError,
} from '../../errors.js';
import { MAX_DEPTH, decodeWire, encodeWire, isWireFailure } from '../../binding/wire.js';
import { boundedLog } from '../../capabilities/index.js';
import { type AsyncCall, AsyncCalls } from '../../binding/async-calls.js';
import { guestFailure, marshalErrorFrom, metaLoadError, pluginNameFrom, sanitizeHostError } from '../../binding/failures.js';
import { ASYNC_PREFIX, GLUE_FILE, GUEST_GLUE, HOSTCALL_CONFIG, HOSTCALL_CONSOLE, HOSTCALL_TICK, PENDING, REJECTED, TIME_UP } from './guest.js';

// The package's types describe its CommonJS entry; under ESM the default export is the variant itself.
const RELEASE_SYNC = RELEASE_SYNC_MODULE as unknown as QuickJSSyncVariant;

const PAGE = 65536;

let compiled: WebAssembly.Module | undefined;
function wasmModule(): WebAssembly.Module {
  if (!compiled) {
    const require = createRequire(import.meta.url);
    compiled = new WebAssembly.Module(readFileSync(require.resolve('@jitl/quickjs-wasmfile-release-sync/wasm')));
  }
  return compiled;
}

/** The parts of the emscripten module and FFI the hot path needs; typed here, used nowhere else. */
interface RawModule {
  _malloc(n: number): number;
  _free(p: number): void;
}
interface RawFFI {
  QTS_NewString(ctx: number, ptr: number): number;
  QTS_Call(ctx: number, fn: number, thisVal: number, argc: number, argv: number): number;
  QTS_ResolveException(ctx: number, ptr: number): number;
  QTS_FreeValuePointer(ctx: number, ptr: number): void;
  QTS_GetString(ctx: number, ptr: number): number;
  QTS_FreeCString(ctx: number, ptr: number): void;
  QTS_GetUndefined(): number;
  QTS_GetNull(): number;
  QTS_GetTrue(): number;
  QTS_GetFalse(): number;
  QTS_NewFloat64(ctx: number, n: number): number;
  QTS_GetFloat64(ctx: number, ptr: number): number;
}

/** An argument of the direct path: a scalar the host can create in the guest without the codec. */
type Scalar = string | number | boolean | null | undefined;
const SURROGATE_OR_NUL = /[\ud800-\udfff\u0000]/;
function isScalarArg(a: unknown): a is Scalar {
  const t = typeof a;
  if (t === 'string') return (a as string).length < 4096 && !SURROGATE_OR_NUL.test(a as string);
  return t === 'number' || t === 'boolean' || a === null || a === undefined;
}

/*
 * NaN-boxed JSValue tags of this exact build (quickjs-emscripten 0.32.0, release-sync, wasm32):
 * the high word of the 8-byte JSValue. Checked against known values at startup (see
 * `probeTags`); the direct path is used only when they match.
 */
const TAG_INT = 0;
const TAG_BOOL = 1;
const TAG_NULL = 2;
const TAG_UNDEFINED = 3;
/** Doubles are stored with an offset; the canonical NaN is the only one that lands on a small tag. */
const TAG_NAN = -10;

const encoder = new TextEncoder();
const NOT_SCALAR = Symbol('not a scalar');
/** Whether the release build boxes values the way readScalar expects (probed by its first instance). */
let releaseTagsMatch: boolean | undefined;
/** Nested host -> plugin -> host -> plugin calls on one instance before ERR_PLUGIN_STACK. */
const MAX_REENTRY = 32;
const decoder = new TextDecoder();
const now = () => performance.now();

class QuickJSInstance implements EngineInstance {
  name: string;
  meta: PluginMeta | undefined;
  exports: ExportInfo[] = [];
  broken = false;

  private readonly memory: WebAssembly.Memory;
  private readonly qjs: QuickJSWASMModule;
  private readonly rt: QuickJSRuntime;
  private readonly ctx: QuickJSContext;
  private readonly ffi: RawFFI;
  private readonly raw: RawModule;
  private readonly ctxPtr: number;
  private readonly undef: number;
  private readonly handles: QuickJSHandle[] = [];
  private glue!: QuickJSHandle;
  private pollFn!: QuickJSHandle;
  private dropFn!: QuickJSHandle;
  private readonly trampolines = new Map<string, QuickJSHandle>();
  private readonly exportFns = new Map<string, QuickJSHandle>();
  private finishFn!: QuickJSHandle;
  private describeFn!: QuickJSHandle;
  private hostErrorFn!: QuickJSHandle;
  /** Cleared on dispose: host promises the application keeps pending must not keep this instance alive. */
  private readonly self: { inst: QuickJSInstance | undefined } = { inst: this };
  /** Set when the last attempt to grow the WebAssembly memory was refused (the memory cap is hit). */
  private growRefused = false;
  /** Deadline armed by the interrupt handler when guest code runs outside any scope (a backstop). */
  private backstop = Infinity;
  /** console.* output, bounded per line and per second in bytes. */
  private readonly log: (level: 'debug' | 'info' | 'warn' | 'error', message: unknown) => void;
  /** True when this build's value tags are the ones the direct path reads (see probeTags). */
  private direct = false;
  /** False for the debug build tests load, which is probed on its own. */
  releaseBuild = true;
  /** Guest promises waiting on host promises, by id (the host promise's reactions hold only the id). */
  private readonly deferreds = new Map<number, QuickJSDeferredPromise>();
  private nextDeferred = 1;
  private readonly pending = new AsyncCalls<number>();
  /** Interrupt deadline of the code running now (performance.now() ms). */
  private deadline = Infinity;
  private interrupted = false;
  /** The limit violation that broke this instance; every later return from the guest rethrows it. */
  private fatal: TerrariumError | undefined;
  /** Guest entries on the host stack (calls, nested calls through capabilities, job runs). */
  private depth = 0;
  private disposeWhenIdle = false;
  /** Scratch buffer in guest memory for argument text and argv; grown on demand. */
  private scratch = 0;
  private scratchSize = 0;
  private heap: Uint8Array;
  private words: Uint32Array;
  private disposed = false;

  constructor(private readonly req: LoadRequest, qjs: QuickJSWASMModule, memory: WebAssembly.Memory) {
    this.name = req.defaultName;
    this.log = boundedLog((level, message) => req.log(level, message));
    this.memory = memory;
    this.qjs = qjs;
    this.heap = new Uint8Array(memory.buffer);
    this.words = new Uint32Array(memory.buffer);
    // Private members of quickjs-emscripten used only for the hot path (see class comment).
    this.raw = (qjs as unknown as { module: RawModule }).module;
    this.ffi = qjs.getFFI() as unknown as RawFFI;
    this.rt = qjs.newRuntime();
    this.rt.setMaxStackSize(req.limits.stackBytes);
    this.rt.setInterruptHandler(() => {
      if (this.fatal) return true;
      let deadline = this.deadline;
      if (deadline === Infinity) {
        // Every path into the guest sets a deadline; this backstop bounds one that was missed.
        if (this.backstop === Infinity) this.backstop = now() + req.limits.callTimeoutMs;
        deadline = this.backstop;
      }
      if (now() > deadline) {
        this.interrupted = true;
        return true;
      }
      return false;
    });
    // The memory guard: emscripten grows the heap through this method; a refusal is the engine's
    // own signal that the plugin hit memoryBytes (never the text of an error message).
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
    this.ctx = this.rt.newContext();
    this.ctxPtr = (this.ctx as unknown as { ctx: { value: number } }).ctx.value;
    this.undef = this.ffi.QTS_GetUndefined();
  }

  private errorContext(exportName?: string): ErrorContext {
    return { plugin: this.name, engine: 'quickjs', file: this.req.file, exportName };
  }

  /** Evaluate glue + plugin, reflect the exports. Throws PluginLoadError or a limit error. */
  load(): void {
    const { ctx } = this;
    const limit = this.req.limits.loadTimeoutMs;
    this.deadline = now() + limit;
    try {
      this.glue = this.keep(this.unwrapLoad(ctx.evalCode(GUEST_GLUE, GLUE_FILE)));
      const hostcall = this.keep(ctx.newFunction('hostcall', (idH, argsH) => this.hostcall(ctx.getNumber(idH), ctx.getString(argsH))));
      this.describeFn = this.keep(ctx.getProp(this.glue, 'describeThrown'));
      this.hostErrorFn = this.keep(ctx.getProp(this.glue, 'hostError'));
      const caps = JSON.stringify(this.req.capabilities.map((c, i) => [i + 1, c.path]));
      const install = ctx.getProp(this.glue, 'install');
      const capsH = ctx.newString(caps);
      const dataH = ctx.newString(encodeWire(this.req.data, MAX_DEPTH));
      // What a real array could hold in the plugin's memory (8 bytes a value), and at most 2^24:
      // a C loop over that many holes takes about a second on the machines measured.
      const limitH = ctx.newNumber(Math.min(Math.floor(this.req.limits.memoryBytes / 8), 2 ** 24));
      const r = ctx.callFunction(install, this.glue, hostcall, capsH, dataH, limitH);
      install.dispose();
      capsH.dispose();
      dataH.dispose();
      limitH.dispose();
      this.unwrapLoad(r).dispose();
      this.pollFn = this.keep(ctx.getProp(this.glue, 'poll'));
      this.dropFn = this.keep(ctx.getProp(this.glue, 'drop'));

      let ns = this.unwrapLoad(ctx.evalCode(this.req.source, this.req.file, { type: 'module', strict: true }));
      // A module with top-level await evaluates to a promise: run its jobs within the load budget.
      const state = ctx.getPromiseState(ns);
      if (!('notAPromise' in state && state.notAPromise)) {
        this.runJobs();
        const settled = ctx.getPromiseState(ns);
        ns.dispose();
        if (settled.type === 'pending') {
          throw new PluginLoadError('top-level await never settled', this.errorContext(), 'Plugins cannot wait on anything at load');
        }
        if (settled.type === 'rejected') throw this.failure(settled.error, undefined, 'load');
        ns = settled.value;
      }
      this.keep(ns);
      const describe = ctx.getProp(this.glue, 'describe');
      const described = ctx.callFunction(describe, this.glue, ns);
      describe.dispose();
      if (described.error) {
        const e = this.failure(described.error, undefined, 'load');
        throw e instanceof MarshalError ? metaLoadError({ marshalReason: e.reason, marshalPath: e.path }, this.errorContext()) : e;
      }
      const describedH = described.value;
      const describedText = ctx.getString(describedH);
      describedH.dispose();
      const info = JSON.parse(describedText) as {
        exports: ExportInfo[];
        meta: string | null;
      };
      this.meta = info.meta === null ? undefined : (decodeWire(info.meta) as PluginMeta);
      this.name = pluginNameFrom(this.meta, this.req, this.errorContext());
      this.exports = info.exports.map((e) => ({ name: e.name, kind: 'function', arity: e.arity, async: e.async }));
      const bind = ctx.getProp(this.glue, 'bind');
      for (const e of this.exports) {
        const fn = this.keep(ctx.getProp(ns, e.name));
        const nameH = ctx.newString(e.name);
        const t = ctx.callFunction(bind, this.glue, fn, nameH);
        nameH.dispose();
        this.trampolines.set(e.name, this.keep(this.unwrapLoad(t)));
        this.exportFns.set(e.name, fn);
      }
      bind.dispose();
      this.finishFn = this.keep(ctx.getProp(this.glue, 'finish'));
      // The tags belong to the build, which every release instance shares: probe it once.
      this.direct = this.releaseBuild ? (releaseTagsMatch ??= this.probeTags()) : this.probeTags();
    } finally {
      this.deadline = Infinity;
    }
  }

  private keep(h: QuickJSHandle): QuickJSHandle {
    this.handles.push(h);
    return h;
  }

  /** Unwrap an eval/call result during load, turning a guest error into a TerrariumError. */
  private unwrapLoad(r: ReturnType<QuickJSContext['evalCode']>): QuickJSHandle {
    if (r.error) throw this.failure(r.error, undefined, 'load');
    return r.value;
  }

  /** Turn a guest error handle into the right TerrariumError; disposes the handle. */
  private failure(errH: QuickJSHandle, exportName: string | undefined, phase: 'call' | 'load'): TerrariumError {
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
  private violation(exportName: string | undefined, phase: 'call' | 'load'): TerrariumError | undefined {
    const limits = this.req.limits;
    if (this.fatal) return exportName === undefined ? this.fatal : rebrand(this.fatal, exportName);
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
    if (!this.describeFn) return { engine: '', value: null };
    const r = this.scoped(() => this.ctx.callFunction(this.describeFn, this.glue, errH));
    if (r.error) {
      r.error.dispose();
      return { engine: '', value: null };
    }
    const text = this.ctx.getString(r.value);
    r.value.dispose();
    return this.parseDescribed(text);
  }

  private parseDescribed(text: string): Described {
    try {
      const d = decodeWire(text) as Described;
      return { engine: d.engine, value: d.value };
    } catch {
      return { engine: '', value: null };
    }
  }

  private classify(described: Described, exportName: string | undefined, phase: 'call' | 'load'): TerrariumError {
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

  /**
   * Run guest work (none of it the plugin's own) under the current deadline, or a fresh
   * `callTimeoutMs` one when none is set, so no path into the guest is ever unbounded.
   */
  private scoped<T>(fn: () => T): T {
    const saved = this.deadline;
    this.deadline = Math.min(saved, now() + this.req.limits.callTimeoutMs);
    this.depth++;
    try {
      return fn();
    } finally {
      this.deadline = saved;
      this.leave();
    }
  }

  /**
   * Crash-only: record the violation that breaks this instance. The guest is interrupted at its
   * next check and every call still on the stack (e.g. the outer half of a re-entrant call)
   * fails with this same error, whatever the plugin did with the error it saw.
   */
  private breakWith<E extends TerrariumError>(e: E): E {
    this.broken = true;
    this.fatal ??= e;
    this.self.inst = undefined;
    return detached(e);
  }

  /**
   * Host side of every capability, config read, console line and work tick. Never throws into
   * QuickJS. Time spent here counts against the call's deadline: once it has passed, the
   * instance is broken and every later hostcall fails at once, so a plugin looping over a
   * capability reaches the interrupt handler within a few iterations.
   */
  private hostcall(id: number, argsText: string): QuickJSHandle | { error: QuickJSHandle } | undefined {
    const { ctx } = this;
    try {
      if (this.fatal || this.overDeadline()) return ctx.newString(TIME_UP);
      if (id === HOSTCALL_TICK) return undefined;
      if (id === HOSTCALL_CONSOLE) {
        const level = (['debug', 'info', 'warn', 'error'] as const)[argsText.charCodeAt(0) - 48] ?? 'info';
        this.log(level, argsText.slice(1));
        return undefined;
      }
      if (id === HOSTCALL_CONFIG) return ctx.newString(encodeWire(this.req.config(), MAX_DEPTH));
      const cap = this.req.capabilities[id - 1];
      if (!cap) throw new Error(`unknown host function ${id}`);
      const label = `host.${cap.path.join('.')}`;
      const result = cap.fn(...(this.decodeGuestText(argsText, `arguments of ${label}`) as unknown[]));
      if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
        const d = ctx.newPromise();
        const key = this.nextDeferred++;
        this.deferreds.set(key, d);
        // The reactions hold only `self` (cleared when the instance breaks or is disposed) and a
        // number: an application that keeps this promise pending forever does not keep a
        // discarded instance, or its WebAssembly memory, alive.
        const self = this.self;
        Promise.resolve(result).then(
          (v) => self.inst?.settleDeferred(key, v, false, label),
          (e) => self.inst?.settleDeferred(key, e, true, label),
        );
        return d.handle;
      }
      const text = this.encodeCapResult(result, label);
      if (this.overDeadline()) return ctx.newString(TIME_UP);
      return ctx.newString(text);
    } catch (e) {
      if (isHostStackOverflow(e)) {
        // The plugin exhausted the host's stack before calling in: that is its stack limit.
        this.breakWith(new PluginStackError(this.req.limits.stackBytes, this.errorContext()));
      }
      return { error: this.guestError(e) };
    }
  }

  /** True (and the instance broken) once the running code's deadline has passed. */
  private overDeadline(): boolean {
    if (now() <= this.deadline) return false;
    this.interrupted = true;
    this.breakWith(new PluginTimeoutError(this.req.limits.callTimeoutMs, 'call', this.errorContext(), 'including the host functions it called'));
    return true;
  }

  /** Decode wire text the guest made; the host checks the depth again (the guest may not be trusted). */
  private decodeGuestText(text: string, direction: string): unknown {
    if (text.charCodeAt(0) === 3) {
      const sep = text.indexOf('\u0001');
      throw new MarshalError(text.slice(1, sep), text.slice(sep + 1), direction, this.errorContext());
    }
    try {
      return decodeWire(text, MAX_DEPTH);
    } catch (e) {
      if (isWireFailure(e)) throw marshalErrorFrom(e, direction, this.errorContext());
      throw new MarshalError('$', `text that is not valid wire format (${(e as Error).message})`, direction, { ...this.errorContext(), cause: e });
    }
  }

  private encodeCapResult(v: unknown, label: string): string {
    try {
      return encodeWire(v, MAX_DEPTH);
    } catch (e) {
      if (isWireFailure(e)) throw marshalErrorFrom(e, `result of ${label}`, this.errorContext());
      throw e;
    }
  }

  /**
   * A guest Error carrying only a host error's name, message and code: never a host stack or
   * object. Made by the glue's hostError, so no setter the plugin put on Error.prototype runs.
   */
  private guestError(e: unknown): QuickJSHandle {
    const s = sanitizeHostError(e);
    const { ctx } = this;
    const args = [ctx.newString(s.name), ctx.newString(s.message), s.code === undefined ? ctx.undefined : ctx.newString(s.code)];
    const r = this.scoped(() => ctx.callFunction(this.hostErrorFn, this.glue, ...args));
    for (const a of args) if (a.alive && a !== ctx.undefined) a.dispose();
    if (r.error) return r.error;
    return r.value;
  }

  private settleDeferred(key: number, v: unknown, reject: boolean, label: string): void {
    const d = this.deferreds.get(key);
    if (this.disposed || this.broken || !d) return;
    this.deferreds.delete(key);
    let h: QuickJSHandle;
    try {
      h = reject ? this.guestError(v) : this.ctx.newString(this.encodeCapResult(v, label));
    } catch (e) {
      h = this.guestError(e);
      reject = true;
    }
    // Resolving runs no plugin code by itself (reactions are queued), but keep it bounded anyway.
    this.scoped(() => (reject ? d.reject(h) : d.resolve(h)));
    h.dispose();
    d.dispose();
    this.pump();
  }

  /** Run pending promise jobs within the earliest pending deadline. */
  private runJobs(): void {
    for (;;) {
      const r = this.rt.executePendingJobs(64);
      if (r.error) {
        const err = this.failure(r.error, undefined, 'call');
        if (this.broken) throw err;
        continue; // an exception escaping a job is delivered through its promise; keep going
      }
      const ran = r.value;
      if (this.fatal) throw this.fatal;
      if (this.interrupted) return;
      if (ran === 0 || !this.rt.hasPendingJob()) return;
    }
  }

  /** After host work settled: run jobs, then settle every async call whose guest promise settled. */
  private pump(): void {
    if (this.disposed || this.broken) return;
    const saved = this.deadline;
    this.deadline = Math.min(this.pending.earliestDeadline(), now() + this.req.limits.callTimeoutMs);
    this.depth++;
    this.backstop = Infinity;
    try {
      this.runJobs();
    } catch (e) {
      this.failAll(e instanceof TerrariumError ? e : (this.fatal ?? this.breakWith(this.trapError(e, ''))));
      return;
    } finally {
      this.deadline = saved;
      this.leave();
    }
    if (this.interrupted) {
      this.failAll(this.fatal ?? this.breakWith(new PluginTimeoutError(this.req.limits.callTimeoutMs, 'call', this.errorContext(), 'in a promise job')));
      return;
    }
    for (const p of this.pending.list()) this.poll(p);
  }

  /** Settle async call `p` if its guest promise has settled (reading the result under its deadline). */
  private poll(p: AsyncCall<number>): void {
    if (this.disposed) return;
    if (this.fatal) {
      this.pending.reject(p.key, rebrand(this.fatal, p.exportName));
      return;
    }
    const { ctx } = this;
    const idH = ctx.newNumber(p.key);
    const saved = this.deadline;
    this.deadline = Math.min(saved, Math.max(p.deadline, now() + 1));
    this.depth++;
    let r: ReturnType<QuickJSContext['callFunction']>;
    try {
      r = ctx.callFunction(this.pollFn, this.glue, idH);
    } catch (e) {
      this.pending.reject(p.key, this.fatal ?? this.breakWith(this.trapError(e, p.exportName)));
      return;
    } finally {
      this.deadline = saved;
      this.leave();
      idH.dispose();
    }
    if (r.error) {
      this.pending.reject(p.key, detached(this.failure(r.error, p.exportName, 'call')));
      return;
    }
    const text = ctx.getString(r.value);
    r.value.dispose();
    if (text === PENDING) {
      if (this.deferreds.size === 0) {
        // Nothing on the host can ever settle it: fail now instead of waiting out the deadline.
        this.dropCall(p.key);
        this.pending.reject(
          p.key,
          new PluginTimeoutError(this.req.limits.callTimeoutMs, 'call', this.errorContext(p.exportName), 'its promise can never settle: it awaits nothing the host is doing'),
        );
      }
      return;
    }
    if (text.charCodeAt(0) === 4) {
      this.pending.reject(p.key, detached(this.violation(p.exportName, 'call') ?? this.classify(this.parseDescribed(text.slice(1)), p.exportName, 'call')));
      return;
    }
    let value: unknown;
    try {
      value = this.decodeResult(text, p.exportName, 'resolved value of');
    } catch (e) {
      this.pending.reject(p.key, detached(e));
      return;
    }
    this.pending.resolve(p.key, value);
  }

  private dropCall(id: number): void {
    if (this.disposed || this.broken) return;
    const idH = this.ctx.newNumber(id);
    const r = this.ctx.callFunction(this.dropFn, this.glue, idH);
    idH.dispose();
    if (r.error) r.error.dispose();
    else r.value.dispose();
  }

  private failAll(e: unknown): void {
    this.pending.rejectAll((p) => detached(e instanceof TerrariumError ? rebrand(e, p.exportName) : e));
  }

  call(exportName: string, args: readonly unknown[]): unknown {
    try {
      return this.callExport(exportName, args);
    } catch (e) {
      throw detached(e);
    }
  }

  private callExport(exportName: string, args: readonly unknown[]): unknown {
    const fn = this.exportFns.get(exportName);
    const tramp = this.trampolines.get(exportName);
    if (!fn || !tramp) throw new Error(`unknown export ${exportName}`);
    this.backstop = Infinity;
    this.growRefused = false;
    // One deadline for the whole call: the export, its promise jobs, and encoding its result.
    const deadline = Math.min(this.deadline, now() + this.req.limits.callTimeoutMs);
    let text: string;
    if (this.direct && args.every(isScalarArg)) {
      // Direct path: scalars are created in the guest as they are and the export is called
      // itself; a scalar result is read straight from its tag, anything else goes through finish().
      const resultPtr = this.invoke(fn.value as unknown as number, args as readonly Scalar[], exportName, deadline);
      const value = this.readScalar(resultPtr);
      if (value !== NOT_SCALAR) {
        this.ffi.QTS_FreeValuePointer(this.ctxPtr, resultPtr);
        return value;
      }
      text = this.finishInGuest(resultPtr, exportName, deadline);
    } else {
      let argsText: string;
      try {
        argsText = encodeWire(args, MAX_DEPTH);
      } catch (e) {
        if (isWireFailure(e)) throw marshalErrorFrom(e, 'arguments', this.errorContext(exportName));
        throw e;
      }
      text = this.takeText(this.invoke(tramp.value as unknown as number, [argsText], exportName, deadline));
    }
    if (text.charCodeAt(0) === 1 && text.startsWith(ASYNC_PREFIX)) return this.awaitCall(Number(text.slice(1)), exportName);
    return this.decodeResult(text, exportName, 'return value of');
  }

  /** Decode guest wire text: a refusal becomes ERR_MARSHAL naming the direction and path. */
  private decodeResult(text: string, exportName: string, direction: string): unknown {
    try {
      return this.decodeGuestText(text, `${direction} ${exportName}`);
    } catch (e) {
      if (e instanceof TerrariumError) rebrand(e, exportName);
      throw e;
    }
  }

  /** Encode a non-scalar result (or start awaiting a promise) in the guest: wire text out. */
  private finishInGuest(resultPtr: number, exportName: string, deadline: number): string {
    const { ffi, ctxPtr } = this;
    try {
      return this.takeText(this.invoke(this.finishFn.value as unknown as number, [{ ptr: resultPtr }, exportName], exportName, deadline));
    } finally {
      if (!this.broken) ffi.QTS_FreeValuePointer(ctxPtr, resultPtr);
    }
  }

  /**
   * The hot path: create the arguments in guest memory, call `fnPtr` under the call deadline, run
   * the promise jobs it queued, and return the owned result pointer. Throws the right
   * TerrariumError for exceptions, interrupts, traps and stack overflows.
   */
  private invoke(fnPtr: number, args: readonly (Scalar | { ptr: number })[], exportName: string, deadline: number): number {
    const { ffi, ctxPtr } = this;
    if (this.fatal) throw this.fatal;
    if (this.depth >= MAX_REENTRY) {
      throw this.breakWith(new PluginStackError(this.req.limits.stackBytes, this.errorContext(exportName)));
    }
    const saved = this.deadline;
    // A nested call (plugin -> capability -> plugin) never extends the outer call's deadline.
    this.deadline = Math.min(saved, deadline);
    let resultPtr = 0;
    const owned: number[] = [];
    this.depth++;
    try {
      const argv = this.writeArgs(args, owned);
      resultPtr = ffi.QTS_Call(ctxPtr, fnPtr, this.undef, args.length, argv);
      if (this.rt.hasPendingJob()) this.runJobs();
    } catch (e) {
      // A trap or a V8 stack overflow inside WebAssembly: the instance cannot be trusted again.
      throw this.fatal ?? this.breakWith(this.trapError(e, exportName));
    } finally {
      if (!this.broken) for (const p of owned) ffi.QTS_FreeValuePointer(ctxPtr, p);
      this.deadline = saved;
      this.leave();
    }
    const errPtr = ffi.QTS_ResolveException(ctxPtr, resultPtr);
    if (errPtr) {
      ffi.QTS_FreeValuePointer(ctxPtr, resultPtr);
      const errH = (this.ctx as unknown as { memory: { heapValueHandle(p: number): QuickJSHandle } }).memory.heapValueHandle(errPtr);
      throw this.failure(errH, exportName, 'call');
    }
    if (this.fatal || this.interrupted) {
      ffi.QTS_FreeValuePointer(ctxPtr, resultPtr);
      throw this.fatal ?? this.breakWith(new PluginTimeoutError(this.req.limits.callTimeoutMs, 'call', this.errorContext(exportName), 'in a promise job'));
    }
    return resultPtr;
  }

  /** Read a guest string result and free it. */
  private takeText(resultPtr: number): string {
    const { ffi, ctxPtr } = this;
    const cstr = ffi.QTS_GetString(ctxPtr, resultPtr);
    const text = this.readCString(cstr);
    ffi.QTS_FreeCString(ctxPtr, cstr);
    ffi.QTS_FreeValuePointer(ctxPtr, resultPtr);
    return text;
  }

  /** The value of a scalar JSValue read from its NaN-boxed tag, or NOT_SCALAR. */
  private readScalar(ptr: number): unknown {
    const words = this.heap32();
    const tag = words[(ptr >> 2) + 1]! | 0;
    switch (tag) {
      case TAG_INT:
        return words[ptr >> 2]! | 0;
      case TAG_BOOL:
        return words[ptr >> 2] !== 0;
      case TAG_NULL:
        return null;
      case TAG_UNDEFINED:
        return undefined;
      case TAG_NAN:
        return NaN;
      default:
        return tag > 16 || tag < -16 ? this.ffi.QTS_GetFloat64(this.ctxPtr, ptr) : NOT_SCALAR;
    }
  }

  /** Check that this build boxes values the way readScalar expects. */
  private probeTags(): boolean {
    const { ffi, ctxPtr } = this;
    const samples: [number, unknown][] = [
      [ffi.QTS_NewFloat64(ctxPtr, 7), 7],
      [ffi.QTS_NewFloat64(ctxPtr, 1.5), 1.5],
      [ffi.QTS_NewFloat64(ctxPtr, -0), -0],
      [ffi.QTS_NewFloat64(ctxPtr, NaN), NaN],
      [ffi.QTS_NewFloat64(ctxPtr, Infinity), Infinity],
      [ffi.QTS_NewFloat64(ctxPtr, -Infinity), -Infinity],
      [ffi.QTS_NewFloat64(ctxPtr, 2 ** 40 + 0.5), 2 ** 40 + 0.5],
      [ffi.QTS_NewFloat64(ctxPtr, -(2 ** 31)), -(2 ** 31)],
      [ffi.QTS_NewFloat64(ctxPtr, 5e-324), 5e-324],
    ];
    let ok = true;
    for (const [p, expected] of samples) {
      if (!Object.is(this.readScalar(p), expected)) ok = false;
      ffi.QTS_FreeValuePointer(ctxPtr, p);
    }
    for (const [p, expected] of [[ffi.QTS_GetTrue(), true], [ffi.QTS_GetFalse(), false], [ffi.QTS_GetNull(), null], [this.undef, undefined]] as const) {
      if (!Object.is(this.readScalar(p), expected)) ok = false;
    }
    const str = this.ctx.newString('x');
    if (this.readScalar(str.value as unknown as number) !== NOT_SCALAR) ok = false;
    str.dispose();
    return ok;
  }

  /** Create argv in guest memory: strings as NUL-terminated UTF-8, numbers as doubles. */
  private writeArgs(args: readonly (Scalar | { ptr: number })[], owned: number[]): number {
    const { ffi, ctxPtr } = this;
    let need = 4 * args.length + 8;
    for (const a of args) if (typeof a === 'string') need += a.length * 3 + 1;
    this.reserve(need);
    const argv = this.scratch;
    let at = argv + 4 * args.length;
    const ptrs: number[] = [];
    for (const a of args) {
      let p: number;
      if (typeof a === 'string') {
        if (this.heap.buffer !== this.memory.buffer) this.heap = new Uint8Array(this.memory.buffer);
        const { written } = encoder.encodeInto(a, this.heap.subarray(at, this.scratch + this.scratchSize - 1));
        this.heap[at + written] = 0;
        p = ffi.QTS_NewString(ctxPtr, at);
        at += written + 1;
        owned.push(p);
      } else if (typeof a === 'number') {
        p = ffi.QTS_NewFloat64(ctxPtr, a);
        owned.push(p);
      } else if (a === undefined) p = this.undef;
      else if (a === null) p = ffi.QTS_GetNull();
      else if (a === true) p = ffi.QTS_GetTrue();
      else if (a === false) p = ffi.QTS_GetFalse();
      else p = a.ptr;
      ptrs.push(p);
    }
    const words = this.heap32();
    for (let i = 0; i < ptrs.length; i++) words[(argv >> 2) + i] = ptrs[i]!;
    return argv;
  }

  /** Make the scratch buffer in guest memory at least `need` bytes. */
  private reserve(need: number): void {
    if (need <= this.scratchSize) return;
    if (this.scratch) this.raw._free(this.scratch);
    this.scratchSize = Math.max(need, 4096);
    this.scratch = this.raw._malloc(this.scratchSize);
    if (!this.scratch) {
      this.scratchSize = 0;
      throw this.breakWith(new PluginMemoryError(this.req.limits.memoryBytes, this.errorContext(), 'arguments do not fit'));
    }
  }

  private trapError(e: unknown, exportName: string): TerrariumError {
    const ctx = this.errorContext(exportName);
    if (isHostStackOverflow(e)) return new PluginStackError(this.req.limits.stackBytes, ctx);
    if (this.interrupted) return new PluginTimeoutError(this.req.limits.callTimeoutMs, 'call', ctx);
    if (this.growRefused) return new PluginMemoryError(this.req.limits.memoryBytes, ctx);
    if (e instanceof TerrariumError) return e;
    return new PluginThrownError(`the interpreter trapped: ${(e as Error)?.message ?? String(e)}`, { ...ctx, cause: e });
  }

  private heap32(): Uint32Array {
    if (this.words.buffer !== this.memory.buffer) this.words = new Uint32Array(this.memory.buffer);
    return this.words;
  }

  private readCString(ptr: number): string {
    if (this.heap.buffer !== this.memory.buffer) this.heap = new Uint8Array(this.memory.buffer);
    const end = this.heap.indexOf(0, ptr);
    return decoder.decode(this.heap.subarray(ptr, end));
  }

  private awaitCall(id: number, exportName: string): Promise<unknown> {
    const limit = this.req.limits.callTimeoutMs;
    // On timeout the guest still holds the half-done call and the host work it awaits: the
    // instance is thrown away.
    const { promise, call } = this.pending.track(id, exportName, limit, () =>
      this.breakWith(new PluginTimeoutError(limit, 'call', this.errorContext(exportName), 'the async call did not settle in time')),
    );
    this.poll(call);
    return promise;
  }

  /** Debug builds only: true when the leak sanitizer finds memory not freed (call after dispose). */
  leakCheck(): boolean {
    return (this.qjs.getFFI() as unknown as { QTS_RecoverableLeakCheck(): number }).QTS_RecoverableLeakCheck() !== 0;
  }

  memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** One guest entry finished; a dispose requested meanwhile happens once nothing is on the stack. */
  private leave(): void {
    this.depth--;
    if (this.depth === 0 && this.disposeWhenIdle) {
      this.disposeWhenIdle = false;
      this.dispose();
    }
  }

  dispose(): void {
    if (this.disposed) return;
    if (this.depth > 0) {
      // Called from inside a call (a capability that closed the host, or the restart after a
      // nested violation): freeing the runtime under the running guest would corrupt it.
      this.disposeWhenIdle = true;
      return;
    }
    this.disposed = true;
    this.self.inst = undefined;
    this.pending.rejectAll((p) => new PluginUnavailableError('was disposed during the call', this.errorContext(p.exportName), 'Retry the call'));
    if (this.broken) return; // an interrupted or trapped runtime may abort on free: let GC take the whole module
    try {
      for (const d of this.deferreds.values()) d.dispose();
      this.deferreds.clear();
      for (const h of this.handles) if (h.alive) h.dispose();
      if (this.scratch) this.raw._free(this.scratch);
      this.ctx.dispose();
      this.rt.dispose();
    } catch {
      // A runtime that cannot free cleanly is garbage anyway: its whole module is dropped with it.
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** What describeThrown reports: the engine's own violation signal, and the thrown value copied. */
interface Described {
  engine: '' | 'stack' | 'memory';
  value: unknown;
}

/** V8's own stack overflow (the WebAssembly interpreter or host code ran out of native stack). */
function isHostStackOverflow(e: unknown): boolean {
  return e instanceof RangeError && /call stack/i.test(e.message);
}

/**
 * Format an error's stack now. Until `stack` is read, V8 keeps the frames' receivers (this
 * instance among them) reachable from the error: an application that keeps the error in a log
 * would keep the discarded instance and its whole WebAssembly memory alive.
 */
function detached<E>(e: E): E {
  for (let x: unknown = e, n = 0; x instanceof Error && n < 4; x = (x as { cause?: unknown }).cause, n++) void x.stack;
  return e;
}

function rebrand(e: TerrariumError, exportName: string): TerrariumError {
  if (e.exportName !== undefined) return e;
  Object.defineProperty(e, 'exportName', { value: exportName });
  return e;
}

/**
 * Load one plugin into a fresh QuickJS WebAssembly instance with its own bounded memory.
 * `debugVariant` (tests only) loads a debug build instead, with its own unbounded memory, so that
 * `leakCheck()` can run the build's leak sanitizer after dispose.
 */
export async function loadQuickJS(req: LoadRequest, debugVariant?: QuickJSSyncVariant): Promise<QuickJSInstance> {
  const maximum = Math.floor(req.limits.memoryBytes / PAGE);
  const memory = new WebAssembly.Memory({ initial: Math.min(256, maximum), maximum });
  const qjs = debugVariant
    ? await newQuickJSWASMModuleFromVariant(debugVariant)
    : await newQuickJSWASMModuleFromVariant(newVariant(RELEASE_SYNC, { wasmModule: wasmModule(), wasmMemory: memory }));
  const inst = new QuickJSInstance(req, qjs, debugVariant ? qjs.getWasmMemory() : memory);
  inst.releaseBuild = !debugVariant;
  try {
    inst.load();
  } catch (e) {
    inst.dispose();
    throw e;
  }
  return inst;
}

export const quickjsEngine: Engine = {
  name: 'quickjs',
  load: loadQuickJS,
};
