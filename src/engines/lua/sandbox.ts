/**
 * The sandbox a plugin's `lua_State` starts with: which standard libraries it gets and what is
 * taken out of them or replaced, and the marker objects (host.null, the array/object metatables)
 * the marshaller recognises. Kept apart from the instance so that what a plugin can reach is
 * read in one place.
 *
 * A plugin gets base (minus dofile, loadfile, require, collectgarbage, module), string (minus
 * dump, with a rep that skips empty loops), table, math (with its own random, stdlib.ts), utf8
 * and coroutine (its top level looks like the main thread, stdlib.ts), `print` wired to the host
 * logger, and a locked string metatable. fengari's own `load` stays: the patched compiler refuses
 * binary chunks in a Terrarium state and charges its work to the deadline and memory guard.
 */
import type { LogLevel } from '../../types.js';
import { fengari } from './fengari.js';
import { type LuaState, type Markers, type TValue, type Table, T, TValueCtor, luaH_new, luaString } from './marshal.js';
import { openCoroutineTop, openRandom } from './stdlib.js';
import { jsText, ls } from './text.js';

const { lua, lauxlib, lualib } = fengari;

/** What the sandbox needs from its instance. */
export interface SandboxOwner {
  log(level: LogLevel, message: string): void;
  /** The thread running an export (or the chunk at load) itself, not a coroutine of the plugin. */
  isTopLevel(L: LuaState): boolean;
}

/** Open the plugin's standard library into L's globals, as described above. */
export function openSandbox(L: LuaState, owner: SandboxOwner): void {
  const libs: [string, unknown][] = [
    ['_G', lualib.luaopen_base],
    ['string', lualib.luaopen_string],
    ['table', lualib.luaopen_table],
    ['math', lualib.luaopen_math],
    ['utf8', lualib.luaopen_utf8],
    ['coroutine', lualib.luaopen_coroutine],
  ];
  for (const [name, open] of libs) {
    lauxlib.luaL_requiref(L, ls(name), open, 1);
    lua.lua_pop(L, 1);
  }
  lua.lua_pushglobaltable(L);
  const g = lua.lua_gettop(L);
  for (const name of ['dofile', 'loadfile', 'require', 'collectgarbage', 'module']) {
    lua.lua_pushnil(L);
    lua.lua_setfield(L, g, ls(name));
  }
  lua.lua_pushcfunction(L, (L1: LuaState) => luaPrint(L1, owner));
  lua.lua_setfield(L, g, ls('print'));
  openRandom(L, g);
  openCoroutineTop(L, g, (L1) => owner.isTopLevel(L1));
  // string.dump would hand out bytecode, which fengari's undump does not verify.
  lua.lua_getfield(L, g, ls('string'));
  lua.lua_pushnil(L);
  lua.lua_setfield(L, -2, ls('dump'));
  // string.rep('', 2^31) allocates nothing, so no guard sees it, yet loops 2^31 times inside one
  // built-in call (40 s measured): answer the empty cases without the loop.
  lua.lua_getfield(L, -1, ls('rep'));
  lua.lua_pushcclosure(L, stringRep, 1);
  lua.lua_setfield(L, -2, ls('rep'));
  lua.lua_pop(L, 1);
  // Lock the string metatable: getmetatable('') returns a string, setmetatable is refused.
  lua.lua_pushliteral(L, '');
  lua.lua_getmetatable(L, -1);
  lua.lua_pushliteral(L, 'string');
  lua.lua_setfield(L, -2, ls('__metatable'));
  lua.lua_pop(L, 3);
}

/** The marker objects of this state: host.null, the host.array / host.object metatables. */
export function makeMarkers(L: LuaState, copyBudget: number): Markers {
  const lockedMt = (name: string): Table => {
    const mt = luaH_new(L) as Table;
    const set = (k: string, v: TValue) => fengari.internals.ltable.luaH_setfrom(L, mt, new TValueCtor(T.LNGSTR, luaString(k)), v);
    set('__metatable', new TValueCtor(T.LNGSTR, luaString(name)));
    set('__name', new TValueCtor(T.LNGSTR, luaString(name)));
    return mt;
  };
  const arrayMt = lockedMt('host.array');
  const objectMt = lockedMt('host.object');
  // host.null: a userdata printing as "null".
  lua.lua_newuserdata(L, 0);
  const nullUd = (L.stack[L.top - 1] as TValue).value;
  lua.lua_createtable(L, 0, 2);
  lua.lua_pushliteral(L, 'null');
  lua.lua_setfield(L, -2, ls('__metatable'));
  lua.lua_pushcfunction(L, (L1: LuaState) => {
    lua.lua_pushliteral(L1, 'null');
    return 1;
  });
  lua.lua_setfield(L, -2, ls('__tostring'));
  lua.lua_setmetatable(L, -2);
  lua.lua_pop(L, 1);
  return { nullUd, arrayMt, objectMt, bytes: new WeakMap(), fromBytes: new WeakSet(), copyBudget };
}

/** string.rep without the empty loop: '' when the result is empty, else the original. */
function stringRep(L: LuaState): number {
  const s = lauxlib.luaL_checklstring(L, 1) as Uint8Array;
  const n = lauxlib.luaL_checkinteger(L, 2) as number;
  const sep = lauxlib.luaL_optlstring(L, 3, ls('')) as Uint8Array;
  if (n <= 0 || (s.length === 0 && (sep.length === 0 || n === 1))) {
    lua.lua_pushliteral(L, '');
    return 1;
  }
  lua.lua_pushvalue(L, lua.lua_upvalueindex(1));
  lua.lua_insert(L, 1);
  lua.lua_call(L, lua.lua_gettop(L) - 1, 1);
  return 1;
}

/** print: its arguments through tostring, tab-separated, to the host logger at level info. */
function luaPrint(L: LuaState, owner: SandboxOwner): number {
  const n = lua.lua_gettop(L);
  const parts: string[] = [];
  for (let i = 1; i <= n; i++) {
    parts.push(jsText(lauxlib.luaL_tolstring(L, i) as Uint8Array));
    lua.lua_pop(L, 1);
  }
  owner.log('info', parts.join('\t'));
  return 0;
}
