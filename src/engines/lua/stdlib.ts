/**
 * The parts of the Lua standard library a plugin gets in its own version: a per-plugin
 * math.random, and coroutine functions that make an export's top level look like Lua's main
 * thread although it runs in a pooled coroutine.
 */
import { fengari } from './fengari.js';
import { type LuaState, type Table, T, TValueCtor, setField } from './marshal.js';
import { ls } from './text.js';

const { lua, lauxlib } = fengari;

/**
 * Per-plugin math.random / math.randomseed. fengari keeps one generator for the whole process,
 * so one plugin could seed it and predict every value another draws. Here each instance has its
 * own: unseeded values come from a per-instance pool of crypto.getRandomValues (unpredictable,
 * like fengari's Math.random), and after math.randomseed(x) the sequence is fengari's own
 * LCG, so a seeded plugin draws exactly what it would in plain fengari.
 */
export function openRandom(L: LuaState, math: Table): void {
  let seeded: number | undefined;
  const pool = new Uint32Array(256);
  let at = pool.length;
  const unseeded = (): number => {
    if (at + 2 > pool.length) {
      crypto.getRandomValues(pool);
      at = 0;
    }
    const hi = pool[at++]! >>> 5;
    const lo = pool[at++]! >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  };
  // fengari's glibc LCG, computed the same way (doubles) so seeded sequences match plain fengari.
  const lcg = (): number => {
    seeded = (1103515245 * seeded! + 12345) & 0x7fffffff;
    return seeded;
  };
  setField(math, 'random', new TValueCtor(T.LCF, (L1: LuaState) => {
    const r = seeded === undefined ? unseeded() : lcg() / 0x80000000;
    let low: number;
    let up: number;
    switch (lua.lua_gettop(L1)) {
      case 0:
        lua.lua_pushnumber(L1, r);
        return 1;
      case 1:
        low = 1;
        up = lauxlib.luaL_checkinteger(L1, 1) as number;
        break;
      case 2:
        low = lauxlib.luaL_checkinteger(L1, 1) as number;
        up = lauxlib.luaL_checkinteger(L1, 2) as number;
        break;
      default:
        return lauxlib.luaL_error(L1, ls('wrong number of arguments'));
    }
    lauxlib.luaL_argcheck(L1, low <= up, 1, ls('interval is empty'));
    lauxlib.luaL_argcheck(L1, low >= 0 || up <= 2147483647 + low, 1, ls('interval too large'));
    lua.lua_pushinteger(L1, Math.floor(r * (up - low + 1)) + low);
    return 1;
  }));
  setField(math, 'randomseed', new TValueCtor(T.LCF, (L1: LuaState) => {
    seeded = (lauxlib.luaL_checknumber(L1, 1) as number) | 0;
    if (seeded === 0) seeded = 1;
    lcg(); // fengari discards the first value too
    return 0;
  }));
}

/**
 * An export runs in a pooled coroutine (so it can await host promises), but for the plugin its
 * top level is the main thread, as a chunk run by plain Lua: coroutine.running() says main,
 * coroutine.isyieldable() is false, and coroutine.yield raises "attempt to yield from outside a
 * coroutine" (catchable by pcall) instead of suspending the whole call.
 */
export function openCoroutineTop(L: LuaState, coroutine: Table, isTopLevel: (L1: LuaState) => boolean): void {
  const set = (name: string, fn: (L1: LuaState) => number) => setField(coroutine, name, new TValueCtor(T.LCF, fn));
  set('running', (L1: LuaState) => {
    const ismain = lua.lua_pushthread(L1) as boolean;
    lua.lua_pushboolean(L1, ismain || isTopLevel(L1));
    return 2;
  });
  set('isyieldable', (L1: LuaState) => {
    lua.lua_pushboolean(L1, lua.lua_isyieldable(L1) && !isTopLevel(L1));
    return 1;
  });
  set('yield', (L1: LuaState) => {
    if (isTopLevel(L1)) {
      // as fengari's lua_yieldk raises it (no position: the running function is this C one)
      lua.lua_pushliteral(L1, 'attempt to yield from outside a coroutine');
      return lua.lua_error(L1);
    }
    return lua.lua_yield(L1, lua.lua_gettop(L1));
  });
}
