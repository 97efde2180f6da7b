/**
 * Binds the platform's Lua libraries (src/platform/lua.ts) as global tables of a state: each
 * function goes through host-calls.ts like a capability (copied arguments, copied result,
 * sanitized errors), and then the call's deadline is checked, since one host digest of a large
 * string is work no count hook sees. `json.null` is the state's host.null.
 */
import type { Limits } from '../../types.js';
import { luaPlatformLibs } from '../../platform/lua.js';
import { luaHttp } from '../../outbound/lua.js';
import type { OutboundPort } from '../../outbound/calls.js';
import type { HostCalls } from './host-calls.js';
import type { Budget } from './limits.js';
import { now } from './limits.js';
import { type LuaState, type Markers, type TValue, type Table, T, TValueCtor, luaH_new, setField } from './marshal.js';

export function installPlatform(L: LuaState, globals: Table, m: Markers, calls: HostCalls, budget: Budget, limits: Limits, outbound?: { port: OutboundPort | undefined; plugin: () => string }): void {
  const libs: Record<string, Record<string, (...a: unknown[]) => unknown>> = { ...luaPlatformLibs(limits.memoryBytes), http: luaHttp(outbound?.port, outbound?.plugin ?? (() => 'plugin')) };
  for (const [lib, fns] of Object.entries(libs)) {
    const t = luaH_new(L);
    for (const [name, fn] of Object.entries(fns)) {
      const label = `${lib}.${name}`;
      setField(t, name, new TValueCtor(T.LCF, (L1: LuaState) => {
        const n = calls.call(L1, fn, label);
        if (now() > budget.deadline) budget.raiseExceeded(L1, 'timeout');
        return n;
      }));
    }
    if (lib === 'json') setField(t, 'null', new TValueCtor(T.USERDATA, m.nullUd));
    setField(globals, lib, new TValueCtor(T.TABLE, t));
  }
}

/** The globals table of L (the value lua_pushglobaltable pushes). */
export function globalsTable(L: LuaState, lua: { lua_pushglobaltable(L: LuaState): void; lua_pop(L: LuaState, n: number): void }): Table {
  lua.lua_pushglobaltable(L);
  const g = (L.stack[L.top - 1] as TValue).value as Table;
  lua.lua_pop(L, 1);
  return g;
}
