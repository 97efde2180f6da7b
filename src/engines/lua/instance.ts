/**
 * One loaded Lua plugin: its state, the chunk run at load (its returned table gives the exports
 * and `meta`), and the calls into its exports. Every export runs in a pooled Lua thread
 * (coroutine), so an export that calls an async host capability simply yields: `call()` then
 * returns a Promise and resumes the thread when the host promise settles (host-calls.ts). The
 * sandbox (sandbox.ts), the `host` object (host-object.ts), the limits (limits.ts) and the error
 * classification (failure.ts) live in their own files; this one holds the lifecycle.
 */
import { type EngineInstance, type GuestGate, type LoadRequest, errorContext } from '../../engine.js';
import { createGate, onceDisposer } from '../../binding/gate.js';
import type { ExportInfo, PluginMeta } from '../../types.js';
import { type ErrorContext, PluginLoadError, PluginThrownError, PluginUnavailableError, type TerrariumError } from '../../errors.js';
import { MAX_DEPTH, isWireFailure } from '../../binding/wire.js';
import { guestFailure, marshalErrorFrom, metaLoadError } from '../../binding/failures.js';
import { fengari } from './fengari.js';
import { deadThreadError } from './failure.js';
import { type HostCallOwner, HostCalls, type Outcome } from './host-calls.js';
import { installHost } from './host-object.js';
import { globalsTable, installPlatform } from './platform.js';
import { Budget, attachBudget, now } from './limits.js';
import { type LuaState, type Markers, type TString, type TValue, type Table, T, TValueCtor, toJS, toLua } from './marshal.js';
import { makeMarkers, openSandbox } from './sandbox.js';
import { GLUE, jsText, ls } from './text.js';
import { adapterForGlobals, adapterForSource, installRequire, pushPrelude } from './global-modules.js';

const { lua, lauxlib, to_luastring } = fengari;

/** Idle export threads kept for reuse. */
const POOLED_THREADS = 4;

/** An export call waiting on a host promise: its thread resumes when the promise settles. */
interface Waiting {
  readonly key: LuaState;
  readonly exportName: string;
  /** The call's deadline, given by the host: every resumption runs under it. */
  readonly deadline: number;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

export class LuaInstance implements EngineInstance, HostCallOwner {
  meta: PluginMeta | undefined;
  exports: ExportInfo[] = [];

  /** Entries, deadlines, the broken latch and deferred dispose: the host's, or this instance's own when loaded directly. */
  readonly gate: GuestGate;
  readonly L: LuaState;
  readonly budget: Budget;
  readonly markers: Markers;
  private readonly calls: HostCalls;
  private readonly exportFns = new Map<string, TValue>();
  private readonly threadPool: LuaState[] = [];
  /** Threads running an export (the only ones allowed to await a host promise). */
  private readonly callThreads = new Set<LuaState>();
  private readonly pending = new Map<LuaState, Waiting>();
  /** Resumes on the host stack (a nested one passes no `from` state to lua_resume: fengari's rule, not the gate's depth). */
  private resumes = 0;
  /** The table the chunk returned (module state hangs off it; the memory walk starts here too). */
  private moduleTable: TValue | undefined;
  private disposed = false;
  private currentExport: string | undefined;
  /** The thread running the chunk while it loads (top level, like an export's thread). */
  private loadThread: LuaState | undefined;

  constructor(private readonly req: LoadRequest) {
    const L = lauxlib.luaL_newstate() as LuaState;
    this.L = L;
    this.gate = req.gate ?? createGate();
    this.disposeOnce = onceDisposer(this.gate, () => this.free());
    this.budget = new Budget(L, req.limits, () => this.extraRoots(), this.gate);
    this.calls = new HostCalls(this);
    lua.lua_atnativeerror(L, (L1: LuaState) => this.calls.nativeError(L1));
    openSandbox(L, { log: (level, message) => req.log(level, message), isTopLevel: (L1) => this.isTopLevel(L1) });
    this.markers = makeMarkers(L, req.limits.memoryBytes, MAX_DEPTH);
    installHost(L, this.markers, req, this.calls);
    installPlatform(L, globalsTable(L, lua), this.markers, this.calls, this.budget, req.limits, { port: req.outbound, plugin: () => req.context?.().plugin ?? req.defaultName });
  }

  private errorContext(exportName?: string): ErrorContext {
    return errorContext(this.req, exportName);
  }

  /** Error context of the export now running (HostCallOwner). */
  context(): ErrorContext {
    return this.errorContext(this.currentExport);
  }

  /** The thread runs an export itself (HostCallOwner): the only threads that may await. */
  isCallThread(L: LuaState): boolean {
    return this.callThreads.has(L);
  }

  /** The thread running an export (or the chunk at load) itself, not a coroutine of the plugin. */
  private isTopLevel(L: LuaState): boolean {
    return this.callThreads.has(L) || L === this.loadThread;
  }

  // ---- load ----------------------------------------------------------------------------------

  load(): void {
    const { L, req, budget } = this;
    budget.phase = 'load';
    this.gate.enter(now() + req.limits.loadTimeoutMs);
    try {
      // A plugin of another host's contract (global-modules.ts) may require its sibling files.
      const adapter = adapterForSource(req.source);
      if (adapter) installRequire(L, req.path, req.file);
      const status = lauxlib.luaL_loadbufferx(L, to_luastring(req.source), null, to_luastring(`@${req.file}`), ls('t'));
      if (status !== lua.LUA_OK) {
        const msg = jsText(lua.lua_tolstring(L, -1) as Uint8Array);
        lua.lua_pop(L, 1);
        const f = guestFailure(msg, req.file, GLUE);
        throw new PluginLoadError(f.message, { ...this.errorContext(), ...f.where });
      }
      const co = lua.lua_newthread(L) as LuaState;
      lua.lua_pop(L, 1);
      lua.lua_xmove(L, co, 1);
      this.loadThread = co;
      const st = lua.lua_resume(co, L, 0);
      this.loadThread = undefined;
      if (st === lua.LUA_YIELD) {
        throw new PluginLoadError('the chunk yielded at load', this.errorContext(), 'A plugin cannot yield or await at its top level');
      }
      if (st !== lua.LUA_OK) throw this.failure(co, undefined);
      if (budget.exceeded) throw this.limitError(undefined);
      let top = co.stack[co.top - 1];
      // Returned nothing but defined an adapter's globals: its prelude gives the exports.
      const global = lua.lua_gettop(co) < 1 || !top || top.type === T.NIL ? adapterForGlobals(L, adapter) : undefined;
      if (global) {
        lua.lua_settop(co, 0);
        const nargs = pushPrelude(co, global, req.source);
        const ps = lua.lua_resume(co, L, nargs);
        if (ps !== lua.LUA_OK) throw this.failure(co, undefined);
        if (budget.exceeded) throw this.limitError(undefined);
        top = co.stack[co.top - 1];
      }
      if (lua.lua_gettop(co) < 1 || !top || top.type !== T.TABLE) {
        throw new PluginLoadError('the chunk must return a table of exports', this.errorContext(), 'End the file with `return { myExport = myExport, meta = {...} }`');
      }
      this.readModule(top.value as Table);
      lua.lua_settop(co, 0);
      this.threadPool.push(co);
    } finally {
      this.gate.leave();
      budget.phase = 'call';
    }
    budget.memory.afterLoad();
  }

  /** The chunk's table: its function fields are the exports, its `meta` field the metadata. */
  private readModule(t: Table): void {
    this.moduleTable = new TValueCtor(T.TABLE, t);
    for (let e = t.f; e; e = e.n) {
      if (e.key.type !== T.LNGSTR && e.key.type !== T.SHRSTR) continue;
      const key = jsText((e.key.value as TString).realstring);
      const v = e.value;
      if (key === 'meta') {
        try {
          this.meta = toJS(v, this.markers, '$', 0, []) as PluginMeta;
        } catch (err) {
          if (isWireFailure(err)) throw metaLoadError(err, this.errorContext());
          throw err;
        }
      } else if (v.type === T.LCL || v.type === T.LCF || v.type === T.CCL) {
        this.exportFns.set(key, new TValueCtor(v.type, v.value));
        const arity = v.type === T.LCL ? ((v.value as { p: { numparams: number } }).p.numparams ?? 0) : 0;
        this.exports.push({ name: key, kind: 'function', arity, async: false });
      }
    }
  }

  // ---- calls ---------------------------------------------------------------------------------

  private takeThread(): LuaState {
    const co = this.threadPool.pop();
    if (co) return co;
    const t = lua.lua_newthread(this.L) as LuaState;
    lua.lua_pop(this.L, 1);
    return t;
  }

  call(exportName: string, args: readonly unknown[], deadline = now() + this.req.limits.callTimeoutMs): unknown {
    const fnTv = this.exportFns.get(exportName);
    if (!fnTv) throw new Error(`unknown export ${exportName}`);
    // Broken (by this engine or the host): never entered again, whoever calls it (crash-only).
    const broken = this.gate.broken;
    if (broken) throw broken;
    const co = this.takeThread();
    lua.lua_checkstack(co, args.length + 2);
    co.stack[co.top++] = new TValueCtor(fnTv.type, fnTv.value);
    try {
      for (let i = 0; i < args.length; i++) co.stack[co.top++] = toLua(co, args[i], this.markers, `$[${i}]`, 0, [], false);
    } catch (e) {
      lua.lua_settop(co, 0);
      this.threadPool.push(co);
      if (isWireFailure(e)) throw marshalErrorFrom(e, 'arguments', this.errorContext(exportName));
      throw e;
    }
    this.callThreads.add(co);
    const r = this.resume(co, args.length, exportName, deadline);
    if (r.done) return r.value;
    // The host fails the call if it has not settled by the deadline (and then throws this instance away).
    const promise = new Promise<unknown>((resolve, reject) => this.pending.set(co, { key: co, exportName, deadline, resolve, reject }));
    this.awaitHost(this.pending.get(co)!);
    return promise;
  }

  /** Settle a waiting call (nothing when it is no longer waiting). */
  private settleCall(co: LuaState, ok: boolean, v: unknown): void {
    const p = this.pending.get(co);
    if (!p) return;
    this.pending.delete(co);
    if (ok) p.resolve(v);
    else p.reject(v);
  }

  /** Wait for the host promise thread `p.key` yielded on, then resume it. */
  private awaitHost(p: Waiting): void {
    this.calls.takeWaiting(p.key).then(
      (value) => this.continueAsync(p, { ok: true, value, label: '' }),
      (error) => this.continueAsync(p, { ok: false, error }),
    );
  }

  private continueAsync(p: Waiting, outcome: Outcome): void {
    if (this.disposed || !this.pending.has(p.key)) return;
    if (this.gate.broken) {
      this.settleCall(p.key, false, new PluginUnavailableError('was stopped during the call', this.errorContext(p.exportName), 'Retry the call'));
      return;
    }
    this.calls.settle(p.key, outcome);
    let r: { done: boolean; value?: unknown };
    try {
      r = this.resume(p.key, 0, p.exportName, p.deadline);
    } catch (e) {
      this.settleCall(p.key, false, e);
      return;
    }
    if (r.done) {
      this.settleCall(p.key, true, r.value);
      return;
    }
    this.awaitHost(p);
  }

  /**
   * Resume an export thread until it returns, fails, or yields on a host promise. Returns
   * {done:true, value} or {done:false} (waiting); throws the TerrariumError of a failure.
   */
  private resume(co: LuaState, nargs: number, exportName: string, deadline: number): { done: boolean; value?: unknown } {
    const { budget, gate } = this;
    const savedExport = this.currentExport;
    gate.enter(deadline);
    this.currentExport = exportName;
    this.resumes++;
    const counted = budget.countFrom(co);
    let st: number;
    try {
      st = lua.lua_resume(co, this.resumes > 1 ? null : this.L, nargs);
    } catch (e) {
      // fengari itself threw outside its protected calls (e.g. a RangeError while unwinding).
      this.callThreads.delete(co);
      if (e instanceof RangeError) budget.markStack();
      if (budget.exceeded) throw this.limitError(exportName);
      throw gate.breakWith(new PluginThrownError(`the interpreter failed: ${(e as Error)?.message ?? String(e)}`, { ...this.errorContext(exportName), cause: e }));
    } finally {
      budget.countTo(co, counted);
      this.resumes--;
      this.currentExport = savedExport;
      gate.leave();
    }
    if (st !== lua.LUA_OK && st !== lua.LUA_YIELD) {
      this.callThreads.delete(co);
      throw this.failure(co, exportName);
    }
    if (budget.exceeded) {
      this.callThreads.delete(co);
      throw this.limitError(exportName);
    }
    if (st === lua.LUA_YIELD) {
      if (this.calls.isWaiting(co)) return { done: false };
      this.callThreads.delete(co);
      throw new PluginThrownError('attempt to yield from outside a coroutine', this.errorContext(exportName));
    }
    let value: unknown;
    try {
      value = co.top > 0 && lua.lua_gettop(co) > 0 ? toJS(co.stack[co.top - lua.lua_gettop(co)] as TValue, this.markers, '$', 0, []) : undefined;
    } catch (e) {
      lua.lua_settop(co, 0);
      this.release(co);
      if (isWireFailure(e)) throw marshalErrorFrom(e, `return value of ${exportName}`, this.errorContext(exportName));
      throw e;
    }
    lua.lua_settop(co, 0);
    this.release(co);
    return { done: true, value };
  }

  private release(co: LuaState): void {
    this.callThreads.delete(co);
    if (this.threadPool.length < POOLED_THREADS) this.threadPool.push(co);
  }

  /** fengari's budget tripped: its limit error, latched on the gate. */
  private limitError(exportName: string | undefined): TerrariumError {
    return this.gate.breakWith(this.budget.error(this.errorContext(exportName), this.req.file));
  }

  /** The error of a dead thread (value on its top) as a TerrariumError. */
  private failure(co: LuaState, exportName: string | undefined): TerrariumError {
    if (this.budget.exceeded) return this.limitError(exportName);
    const site = {
      L: this.L,
      markers: this.markers,
      file: this.req.file,
      stackBytes: this.req.limits.stackBytes,
      raisedError: (v: unknown) => this.calls.raisedError(v),
      isFault: (v: unknown) => this.budget.isFault(v),
    };
    const { error, fault } = deadThreadError(site, co, this.errorContext(exportName), this.budget.phase === 'load' || exportName === undefined);
    return fault ? this.gate.breakWith(error) : error;
  }

  extraRoots(): Iterable<TValue> {
    const roots: TValue[] = [];
    if (this.moduleTable) roots.push(this.moduleTable);
    for (const th of this.threadPool) roots.push(new TValueCtor(T.THREAD, th));
    for (const th of this.callThreads) roots.push(new TValueCtor(T.THREAD, th));
    return roots;
  }

  /**
   * A fresh measurement (a walk of the reachable Lua data, sizes estimated per object as in
   * memory.ts), taken when read: reading it costs O(live objects), calls never do.
   */
  memoryBytes(): number {
    if (this.disposed) return 0;
    return this.budget.memory.walk();
  }

  /** VM instructions run so far (limits.ts `work`): exact in export threads, to HOOK_EVERY in coroutines. */
  workUnits(): number {
    return this.budget.work;
  }

  /** Drop the state, once no entry is on the stack (the gate defers it). */
  dispose(): void {
    this.disposeOnce();
  }

  private readonly disposeOnce: () => void;

  private free(): void {
    this.disposed = true;
    // The host fails the calls still waiting (ERR_PLUGIN_UNAVAILABLE); their threads are dropped.
    this.pending.clear();
    this.calls.clear();
    this.callThreads.clear();
    this.threadPool.length = 0;
    this.exportFns.clear();
    attachBudget(this.L, undefined);
    // fengari has no lua_close resources to free: dropping the references frees the state.
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
