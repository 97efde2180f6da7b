/**
 * Calls from Lua into the host: a capability's arguments copied out, its result (or its error)
 * copied back in, and an awaited host promise turned into a yield of the export's thread that
 * the instance resumes when the promise settles. Also where a JS exception that escaped into
 * fengari is turned back into a Lua error value. Kept apart because this is the one place where
 * host values and host errors enter a plugin: nothing but a copy, a sanitized message or an
 * ERR_MARSHAL userdata ever crosses.
 */
import type { GuestGate } from '../../engine.js';
import { type ErrorContext, PluginMemoryError, PluginStackError, TerrariumError } from '../../errors.js';
import { isWireFailure } from '../../binding/wire.js';
import { marshalErrorFrom, sanitizeHostError } from '../../binding/failures.js';
import { isHostStackOverflow } from '../../binding/overflow.js';
import { hasHostHeadroom } from '../../binding/headroom.js';
import { PlatformInputTooLarge } from '../../platform/host.js';
import { fengari } from './fengari.js';
import type { Budget, Exceeded } from './limits.js';
import { type LuaState, type Markers, type TValue, toJS, toLua } from './marshal.js';
import { ls, raise } from './text.js';

const { lua, lauxlib, to_luastring } = fengari;

/** Outcome of an awaited host promise, read by the continuation inside the Lua thread. */
export type Outcome = { ok: true; value: unknown; label: string } | { ok: false; error: unknown };

/** What host calls need from their instance. */
export interface HostCallOwner {
  readonly budget: Budget;
  readonly markers: Markers;
  /** Error context of the export now running (none at load). */
  context(): ErrorContext;
  /** The thread runs an export itself: the only threads that may await a host promise. */
  isCallThread(L: LuaState): boolean;
  /** The instance's guest gate: broken by this engine, or by the host (e.g. the re-entry cap, met in a nested call). */
  readonly gate: GuestGate;
}

/** Which of the budget's limits a violation on the gate stands for. */
const exceededOf = (e: TerrariumError): Exceeded => (e instanceof PluginStackError ? 'stack' : e instanceof PluginMemoryError ? 'memory' : 'timeout');

export class HostCalls {
  /** The host promise each yielded thread waits for, until the instance takes it. */
  private readonly waiting = new Map<LuaState, Promise<unknown>>();
  private readonly outcomes = new Map<LuaState, Outcome>();
  /** The TerrariumError behind each error userdata raised into Lua. */
  private readonly raised = new WeakMap<object, TerrariumError>();

  constructor(private readonly owner: HostCallOwner) {}

  /** Thread `co` yielded on a host promise (and had not been taken yet). */
  isWaiting(co: LuaState): boolean {
    return this.waiting.has(co);
  }

  /** The promise thread `co` yielded on, handed over once. */
  takeWaiting(co: LuaState): Promise<unknown> {
    const p = this.waiting.get(co)!;
    this.waiting.delete(co);
    return p;
  }

  /** Record how the promise of `co` settled, for the continuation to read when `co` resumes. */
  settle(co: LuaState, outcome: Outcome): void {
    this.outcomes.set(co, outcome);
  }

  /** The TerrariumError raised into Lua as `value`, if it is one of ours. */
  raisedError(value: unknown): TerrariumError | undefined {
    return value !== null && typeof value === 'object' ? this.raised.get(value) : undefined;
  }

  clear(): void {
    this.waiting.clear();
    this.outcomes.clear();
  }

  /** Push a JS value; marshal failures become ERR_MARSHAL raised into Lua. */
  pushJS(L: LuaState, v: unknown, path: string, direction: string, top = false): void {
    let tv: TValue;
    try {
      tv = toLua(L, v, this.owner.markers, path, 0, [], !top);
    } catch (e) {
      if (isWireFailure(e)) {
        this.pushRaised(L, marshalErrorFrom(e, direction, this.owner.context()));
        lua.lua_error(L);
      }
      throw e;
    }
    lua.lua_checkstack(L, 1);
    L.stack[L.top++] = tv;
  }

  /** A TerrariumError raised into Lua: a userdata that prints as the message and maps back to the error. */
  private pushRaised(L: LuaState, err: TerrariumError): void {
    lua.lua_newuserdata(L, 0);
    this.raised.set((L.stack[L.top - 1] as TValue).value as object, err);
    lua.lua_createtable(L, 0, 2);
    lua.lua_pushstring(L, to_luastring(err.message));
    lua.lua_pushcclosure(L, (L1: LuaState) => {
      lua.lua_pushvalue(L1, lua.lua_upvalueindex(1));
      return 1;
    }, 1);
    lua.lua_setfield(L, -2, ls('__tostring'));
    lua.lua_setmetatable(L, -2);
  }

  /** Raise a host function's error into Lua: ERR_MARSHAL as itself, anything else sanitized, with where. */
  raiseHostError(L: LuaState, e: unknown): never {
    if (isHostStackOverflow(e)) this.owner.budget.raiseExceeded(L, 'stack');
    // A platform input larger than the plugin may hold: its memory limit, as if it had allocated it.
    if (e instanceof PlatformInputTooLarge) this.owner.budget.raiseExceeded(L, 'memory');
    if (e instanceof TerrariumError && e.code === 'ERR_MARSHAL') {
      this.pushRaised(L, e);
      return raise(L);
    }
    const s = sanitizeHostError(e);
    lauxlib.luaL_where(L, 1);
    lua.lua_pushstring(L, to_luastring(`${s.name}: ${s.message}${s.code ? ` (${s.code})` : ''}`));
    lua.lua_concat(L, 2);
    return raise(L);
  }

  /** A JS exception escaped a host function or fengari itself: never let it reach Lua as an object. */
  nativeError(L: LuaState): number {
    const e = lua.lua_touserdata(L, 1) as unknown;
    if (isHostStackOverflow(e)) {
      this.owner.budget.markStack();
      lua.lua_pushliteral(L, 'terrarium: stack overflow');
      return 1;
    }
    if (e instanceof TerrariumError) {
      this.pushRaised(L, e);
      return 1;
    }
    const s = sanitizeHostError(e);
    lua.lua_pushstring(L, to_luastring(`${s.name}: ${s.message}`));
    return 1;
  }

  /** The C function behind a capability `label`: copy the arguments out, call, copy the result in (or yield on a promise). */
  call(L: LuaState, fn: (...args: unknown[]) => unknown, label: string): number {
    const { budget, markers } = this.owner;
    budget.recheck(L);
    // No host code (not even copying the arguments) runs without its stack reserve: a capability
    // runs all or nothing.
    if (!hasHostHeadroom()) budget.raiseExceeded(L, 'stack');
    const n = lua.lua_gettop(L);
    const args: unknown[] = new Array(n);
    const base = L.top - n;
    try {
      for (let i = 0; i < n; i++) args[i] = toJS(L.stack[base + i] as TValue, markers, `$[${i}]`, 0, []);
    } catch (e) {
      if (isWireFailure(e)) {
        this.pushRaised(L, marshalErrorFrom(e, `arguments of ${label}`, this.owner.context()));
        return raise(L);
      }
      throw e;
    }
    let r: unknown;
    try {
      r = fn(...args);
    } catch (e) {
      this.recheck(L);
      return this.raiseHostError(L, e);
    }
    this.recheck(L);
    if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') {
      if (!this.owner.isCallThread(L) || !lua.lua_isyieldable(L)) {
        Promise.resolve(r).catch(() => {});
        return lauxlib.luaL_error(
          L,
          ls(`${label} is asynchronous: call it from the export itself (not at load, inside a coroutine of the plugin, or a sort/gsub callback)`),
        );
      }
      this.waiting.set(L, Promise.resolve(r));
      lua.lua_settop(L, 0);
      return lua.lua_yieldk(L, 0, 0, (L1: LuaState) => this.afterAwait(L1, label));
    }
    lua.lua_settop(L, 0);
    this.pushJS(L, r, '$', `result of ${label}`, true);
    return 1;
  }

  /**
   * Back from host code: a limit that tripped meanwhile (in this state, or one the gate latched in a
   * nested call) is raised again, so the plugin cannot catch it with pcall and run on.
   */
  private recheck(L: LuaState): void {
    const { budget, gate } = this.owner;
    budget.recheck(L);
    const broken = gate.broken;
    if (broken) budget.raiseExceeded(L, exceededOf(broken));
  }

  /** Continuation of a host call that awaited a promise: push its value or raise its error. */
  private afterAwait(L: LuaState, label: string): number {
    const o = this.outcomes.get(L);
    this.outcomes.delete(L);
    if (!o) return lauxlib.luaL_error(L, ls('terrarium: resumed without an outcome'));
    if (!o.ok) return this.raiseHostError(L, o.error);
    lua.lua_settop(L, 0);
    this.pushJS(L, o.value, '$', `result of ${label}`, true);
    return 1;
  }
}
