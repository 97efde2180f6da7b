/**
 * The host side of a QuickJS guest: capabilities, `host.config`, console lines and work ticks
 * (`hostcall`), host promises handed to the guest (deferreds), and async exports (promise jobs,
 * polling a call's guest promise, settling it under its deadline). A part of a QuickJSInstance,
 * over its QuickJSCore (core.ts).
 */
import type { QuickJSContext, QuickJSDeferredPromise, QuickJSHandle } from 'quickjs-emscripten-core';
import { FetchDeniedError, MarshalError, PluginMemoryError, PluginStackError, PluginTimeoutError, TerrariumError } from '../../errors.js';
import { MAX_DEPTH, decodeWire, encodeWire, isWireFailure } from '../../binding/wire.js';
import { marshalErrorFrom, sanitizeHostError } from '../../binding/failures.js';
import { isHostStackOverflow } from '../../binding/overflow.js';
import { hasHostHeadroom } from '../../binding/headroom.js';
import type { AsyncCall } from './async-calls.js';
import type { QuickJSCore } from './core.js';
import { HOSTCALL_CONFIG, HOSTCALL_CONSOLE, HOSTCALL_OUTBOUND, HOSTCALL_PLATFORM, HOSTCALL_TICK, PENDING, TIME_UP } from './guest.js';
import { outboundCall } from '../../outbound/calls.js';
import { PlatformInputTooLarge, platformCall } from '../../platform/index.js';
import { now } from './util.js';


/** The least time a settled host result's continuation runs for, whatever the call's deadline. */
const CONTINUATION_SLICE_MS = 50;

export class HostCalls {
  /** Held by host promises' reactions instead of this object; cleared when the instance breaks or is disposed. */
  private readonly self: { calls: HostCalls | undefined } = { calls: this };

  constructor(private readonly core: QuickJSCore) {
    core.onRelease = () => {
      this.self.calls = undefined;
    };
  }

  pollFn!: QuickJSHandle;
  dropFn!: QuickJSHandle;
  hostErrorFn: QuickJSHandle | undefined;
  /** Guest promises waiting on host promises, by id (the host promise's reactions hold only the id). */
  private readonly deferreds = new Map<number, QuickJSDeferredPromise>();
  private nextDeferred = 1;
  /** Host timers of the guest's setTimeout/setInterval, by guest timer id, each with the resolve of its 'sleep' promise. */
  private readonly timers = new Map<number, { t: ReturnType<typeof setTimeout> | undefined; done: () => void }>();

  disposeHostState(): void {
    for (const { t } of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    const all = [...this.deferreds.values()].reverse();
    this.deferreds.clear();
    for (const d of all) if (d.alive) d.dispose();
  }

  /**
   * Host side of every capability, config read, console line and work tick. Never throws into
   * QuickJS. Time spent here counts against the call's deadline: once it has passed, the
   * instance is broken and every later hostcall fails at once, so a plugin looping over a
   * capability reaches the interrupt handler within a few iterations. No host code (not even
   * reading the arguments) runs without HOST_STACK_RESERVE_BYTES of stack left: below that the
   * instance breaks with ERR_PLUGIN_STACK, so a capability runs all or nothing.
   */
  hostcall(id: number, argsH: QuickJSHandle): QuickJSHandle | { error: QuickJSHandle } | undefined {
    const { ctx } = this.core;
    try {
      if (this.core.fatal || this.overDeadline()) return ctx.newString(TIME_UP);
      if (id === HOSTCALL_TICK) {
        this.core.rearm();
        return undefined;
      }
      if (!hasHostHeadroom()) {
        this.core.breakWith(new PluginStackError(this.core.req.limits.stackBytes, this.core.errorContext()));
        return ctx.newString(TIME_UP);
      }
      const argsText = ctx.getString(argsH);
      if (id === HOSTCALL_CONSOLE) {
        const level = (['debug', 'info', 'warn', 'error'] as const)[argsText.charCodeAt(0) - 48] ?? 'info';
        this.core.log(level, argsText.slice(1));
        return undefined;
      }
      if (id === HOSTCALL_CONFIG) return ctx.newString(encodeWire(this.core.req.config(), MAX_DEPTH));
      if (id === HOSTCALL_PLATFORM) {
        const [op, ...args] = this.decodeGuestText(argsText, 'arguments of a platform call') as [string, ...unknown[]];
        const text = encodeWire(platformCall(op, args, this.core.req.limits.memoryBytes), MAX_DEPTH);
        if (this.core.fatal || this.overDeadline()) return ctx.newString(TIME_UP);
        return ctx.newString(text);
      }
      let label: string;
      let result: unknown;
      if (id === HOSTCALL_OUTBOUND) {
        const [op, a, key] = this.decodeGuestText(argsText, 'arguments of fetch') as [string, unknown, unknown];
        label = op;
        const plugin = this.core.errorContext().plugin ?? this.core.req.defaultName;
        result =
          op === 'sleep' || op === 'cancel'
            ? this.timer(op, a, key)
            : outboundCall(this.core.req.outbound, op, a, key, (url) => new FetchDeniedError('not-granted', url, plugin, 'the host gave this plugin no outbound access'));
      } else {
        const cap = this.core.req.capabilities[id - 1];
        if (!cap) throw new Error(`unknown host function ${id}`);
        label = `host.${cap.path.join('.')}`;
        result = cap.fn(...(this.decodeGuestText(argsText, `arguments of ${label}`) as unknown[]));
      }
      if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
        const d = ctx.newPromise();
        const key = this.nextDeferred++;
        this.deferreds.set(key, d);
        // The reactions hold only `self` (cleared when the instance breaks or is disposed) and a
        // number: an application that keeps this promise pending forever does not keep a
        // discarded instance, or its WebAssembly memory, alive.
        const self = this.self;
        Promise.resolve(result).then(
          (v) => self.calls?.settleDeferred(key, v, false, label),
          (e) => self.calls?.settleDeferred(key, e, true, label),
        );
        return d.handle;
      }
      const text = this.encodeCapResult(result, label);
      // Broken meanwhile (e.g. a nested call through this capability met the re-entry cap): the guest stops here.
      if (this.core.fatal || this.overDeadline()) return ctx.newString(TIME_UP);
      return ctx.newString(text);
    } catch (e) {
      if (isHostStackOverflow(e)) {
        // The host code overflowed within its reserve (a capability that recurses): the plugin's
        // stack limit all the same, and no plugin code runs to build an error on this stack.
        this.core.breakWith(new PluginStackError(this.core.req.limits.stackBytes, this.core.errorContext()));
        return ctx.newString(TIME_UP);
      }
      // A platform input larger than the plugin may hold: its memory limit, as if it had allocated it.
      if (e instanceof PlatformInputTooLarge) this.core.breakWith(new PluginMemoryError(this.core.req.limits.memoryBytes, this.core.errorContext(), 'input to a platform API'));
      return { error: this.guestError(e) };
    }
  }

  /**
   * The host half of a guest timer: 'sleep' is a promise settled after `ms` (never later than the
   * instance's life: disposal clears it), 'cancel' settles it at once (the guest skips its callback).
   */
  private timer(op: string, ms: unknown, key: unknown): unknown {
    const id = Number(key);
    if (op === 'cancel') {
      const e = this.timers.get(id);
      if (e) {
        clearTimeout(e.t);
        this.timers.delete(id);
        e.done();
      }
      return null;
    }
    const delay = Math.max(Number(ms) || 0, 0);
    return new Promise<null>((resolve) => {
      const done = () => resolve(null);
      // A delay past the call's deadline can never fire within a call: no host timer at all, the
      // call's async deadline ends it with ERR_PLUGIN_TIMEOUT (cancel still settles it).
      const t = delay > this.core.req.limits.callTimeoutMs ? undefined : setTimeout(() => {
        this.timers.delete(id);
        done();
      }, delay);
      this.timers.set(id, { t, done });
    });
  }

  /** True (and the instance broken) once the running code's deadline has passed. */
  private overDeadline(): boolean {
    if (now() <= this.core.deadline) return false;
    this.core.interrupted = true;
    this.core.breakWith(new PluginTimeoutError(this.core.req.limits.callTimeoutMs, 'call', this.core.errorContext(), 'including the host functions it called'));
    return true;
  }

  /** Decode wire text the guest made; the host checks the depth again (the guest may not be trusted). */
  decodeGuestText(text: string, direction: string, exportName?: string): unknown {
    const ctx = this.core.errorContext(exportName);
    if (text.charCodeAt(0) === 3) {
      const sep = text.indexOf('\u0001');
      throw new MarshalError(text.slice(1, sep), text.slice(sep + 1), direction, ctx);
    }
    try {
      return decodeWire(text, MAX_DEPTH);
    } catch (e) {
      if (isWireFailure(e)) throw marshalErrorFrom(e, direction, ctx);
      throw new MarshalError('$', `text that is not valid wire format (${(e as Error).message})`, direction, { ...ctx, cause: e });
    }
  }

  /** Decode guest wire text of a result: a refusal becomes ERR_MARSHAL naming the direction and path. */
  decodeResult(text: string, exportName: string, direction: string): unknown {
    return this.decodeGuestText(text, `${direction} ${exportName}`, exportName);
  }

  private encodeCapResult(v: unknown, label: string): string {
    try {
      return encodeWire(v, MAX_DEPTH);
    } catch (e) {
      if (isWireFailure(e)) throw marshalErrorFrom(e, `result of ${label}`, this.core.errorContext());
      throw e;
    }
  }

  /**
   * A guest Error carrying only a host error's name, message and code: never a host stack or
   * object. Made by the glue's hostError, so no setter the plugin put on Error.prototype runs.
   */
  private guestError(e: unknown): QuickJSHandle {
    const s = sanitizeHostError(e);
    const { ctx } = this.core;
    const fn = this.hostErrorFn;
    const args = [ctx.newString(s.name), ctx.newString(s.message), s.code === undefined ? ctx.undefined : ctx.newString(s.code)];
    try {
      if (!fn) return ctx.newError(s.message);
      const r = this.core.scoped(() => ctx.callFunction(fn, this.core.glue, ...args));
      return r.error ?? r.value;
    } finally {
      for (const a of args.reverse()) if (a.alive && a !== ctx.undefined) a.dispose();
    }
  }

  private settleDeferred(key: number, v: unknown, reject: boolean, label: string): void {
    const d = this.deferreds.get(key);
    if (this.core.disposed || this.core.broken || !d) return;
    this.deferreds.delete(key);
    let h: QuickJSHandle;
    try {
      h = reject ? this.guestError(v) : this.core.ctx.newString(this.encodeCapResult(v, label));
    } catch (e) {
      h = this.guestError(e);
      reject = true;
    }
    try {
      // Resolving runs no plugin code by itself (reactions are queued), but keep it bounded anyway.
      this.core.scoped(() => (reject ? d.reject(h) : d.resolve(h)));
    } finally {
      h.dispose();
      d.dispose();
    }
    this.pump();
  }

  /** Run pending promise jobs within the earliest pending deadline. */
  runJobs(): void {
    for (;;) {
      const r = this.core.rt.executePendingJobs(64);
      if (r.error) {
        const err = this.core.failure(r.error, undefined, 'call');
        if (this.core.broken) throw err;
        continue; // an exception escaping a job is delivered through its promise; keep going
      }
      const ran = r.value;
      if (this.core.fatal) throw this.core.fatal;
      if (this.core.interrupted) return;
      if (ran === 0 || !this.core.rt.hasPendingJob()) return;
    }
  }

  /** After host work settled: run jobs, then settle every async call whose guest promise settled. */
  private pump(): void {
    if (this.core.disposed || this.core.broken) return;
    // The continuation of an async call whose host work came back in time may find the call's
    // deadline already passed because another plugin held the thread meanwhile: it still gets a
    // short slice (CONTINUATION_SLICE_MS), so that time is not charged to it; the host's async
    // timer (host/deadline-timer.ts) fails the call at the next turn if it is still not settled.
    const t = now();
    const limit = this.core.req.limits.callTimeoutMs;
    this.core.enter(Math.min(Math.max(this.core.pending.earliestDeadline(), t + Math.min(limit, CONTINUATION_SLICE_MS)), t + limit));
    this.core.backstop = Infinity;
    try {
      this.runJobs();
    } catch (e) {
      this.failAll(e instanceof TerrariumError ? e : (this.core.fatal ?? this.core.breakWith(this.core.trapError(e, ''))));
      return;
    } finally {
      this.core.leave();
    }
    if (this.core.interrupted) {
      this.failAll(this.core.fatal ?? this.core.breakWith(new PluginTimeoutError(this.core.req.limits.callTimeoutMs, 'call', this.core.errorContext(), 'in a promise job')));
      return;
    }
    for (const p of this.core.pending.list()) this.poll(p);
  }

  /** Settle async call `p` if its guest promise has settled (reading the result under its deadline). */
  poll(p: AsyncCall): void {
    if (this.core.disposed) return;
    if (this.core.fatal) {
      this.core.pending.reject(p.key, this.core.fatal);
      return;
    }
    const { ctx } = this.core;
    const idH = ctx.newNumber(p.key);
    this.core.enter(Math.max(p.deadline, now() + 1));
    let r: ReturnType<QuickJSContext['callFunction']>;
    try {
      r = ctx.callFunction(this.pollFn, this.core.glue, idH);
    } catch (e) {
      this.core.pending.reject(p.key, this.core.fatal ?? this.core.breakWith(this.core.trapError(e, p.exportName)));
      return;
    } finally {
      this.core.leave();
      idH.dispose();
    }
    if (r.error) {
      this.core.pending.reject(p.key, this.core.failure(r.error, p.exportName, 'call'));
      return;
    }
    const text = ctx.getString(r.value);
    r.value.dispose();
    if (text === PENDING) {
      if (this.deferreds.size === 0) {
        // Nothing on the host can ever settle it: fail now instead of waiting out the deadline.
        this.dropCall(p.key);
        this.core.pending.reject(
          p.key,
          new PluginTimeoutError(this.core.req.limits.callTimeoutMs, 'call', this.core.errorContext(p.exportName), 'its promise can never settle: it awaits nothing the host is doing'),
        );
      }
      return;
    }
    if (text.charCodeAt(0) === 4) {
      this.core.pending.reject(p.key, this.core.violation(p.exportName, 'call') ?? this.core.classify(this.core.parseDescribed(text.slice(1)), p.exportName, 'call'));
      return;
    }
    let value: unknown;
    try {
      value = this.decodeResult(text, p.exportName, 'resolved value of');
    } catch (e) {
      this.core.pending.reject(p.key, e);
      return;
    }
    this.core.pending.resolve(p.key, value);
  }

  private dropCall(id: number): void {
    if (this.core.disposed || this.core.broken) return;
    const idH = this.core.ctx.newNumber(id);
    const r = this.core.ctx.callFunction(this.dropFn, this.core.glue, idH);
    idH.dispose();
    if (r.error) r.error.dispose();
    else r.value.dispose();
  }

  private failAll(e: unknown): void {
    this.core.pending.rejectAll(e);
  }

  /**
   * The Promise of async call `id`, settled when its guest promise settles. The host fails it at
   * `deadline` if it has not settled by then (and throws this instance away).
   */
  awaitCall(id: number, exportName: string, deadline: number): Promise<unknown> {
    const { promise, call } = this.core.pending.track(id, exportName, deadline);
    this.poll(call);
    return promise;
  }
}
