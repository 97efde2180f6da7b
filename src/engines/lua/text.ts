/**
 * Small helpers every part of the Lua engine shares for crossing between JS strings and fengari's
 * byte strings: cached C-API names, decoding, a thread's traceback, and raising a Lua error from
 * a C function. One copy here, so the sandbox, the host object, the limits and the host calls do
 * not each keep their own.
 */
import { fengari } from './fengari.js';
import { type LuaState, fromUtf8 } from './marshal.js';

const { lua, lauxlib, to_luastring } = fengari;

/** The name guestFailure gives the frames of the engine's own glue (C functions) in a traceback. */
export const GLUE = '[C]';

const luaStrings = new Map<string, Uint8Array>();
/** Cached Lua string constants for the C API (fengari's own to_luastring cache is unbounded). */
export function ls(s: string): Uint8Array {
  let b = luaStrings.get(s);
  if (!b) {
    b = to_luastring(s) as Uint8Array;
    luaStrings.set(s, b);
  }
  return b;
}

/** A Lua string's bytes as JS text (UTF-8, or decoded with replacement characters). */
export function jsText(b: Uint8Array | null | undefined): string {
  if (!b) return '';
  return fromUtf8(b) ?? new TextDecoder().decode(b);
}

/** The traceback of thread `co`, built on `L`; undefined when building it failed. */
export function tracebackOf(L: LuaState, co: LuaState): string | undefined {
  try {
    lauxlib.luaL_traceback(L, co, null, 0);
    const s = jsText(lua.lua_tolstring(L, -1) as Uint8Array);
    lua.lua_pop(L, 1);
    return s;
  } catch {
    return undefined;
  }
}

/** lua_error for the value on top of L's stack, typed as never (lua_error unwinds by throwing). */
export function raise(L: LuaState): never {
  lua.lua_error(L);
  throw new Error('unreachable: lua_error returned');
}
