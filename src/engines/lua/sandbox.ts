/**
 * The sandbox a plugin's `lua_State` starts with: which standard libraries it gets and what is
 * taken out of them or replaced, and the marker objects (host.null, the array/object metatables)
 * the marshaller recognises. Kept apart from the instance so that what a plugin can reach is
 * read in one place.
 *
 * A plugin gets base (minus dofile, loadfile, require, collectgarbage, module), string (minus
 * dump, with a rep that skips empty loops), table, math (with its own random, stdlib.ts), utf8
 * and coroutine (its top level looks like the main thread, stdlib.ts), os with only time, date,
 * difftime and a per-instance clock (libs.ts, below), `print` wired to the host
 * logger, and a locked string metatable. fengari's own `load` stays: the patched compiler refuses
 * binary chunks in a Terrarium state and charges its work to the deadline and memory guard.
 */
import type { LogLevel } from '../../types.js';
import { fengari } from './fengari.js';
import { type LuaState, type Markers, type TValue, type Table, T, TValueCtor, luaH_new, luaString, setField } from './marshal.js';
import { builtin, openLibs } from './libs.js';
import { openCoroutineTop, openRandom } from './stdlib.js';
import { jsText, ls } from './text.js';

const { lua, lauxlib } = fengari;

/** What the sandbox needs from its instance. */
export interface SandboxOwner {
  log(level: LogLevel, message: string): void;
  /** The thread running an export (or the chunk at load) itself, not a coroutine of the plugin. */
  isTopLevel(L: LuaState): boolean;
}

/** Open the plugin's standard library into L's globals, as described above. */
export function openSandbox(L: LuaState, owner: SandboxOwner): void {
  const { tables, stringMeta } = openLibs(L);
  setField(tables._G, 'print', new TValueCtor(T.LCF, (L1: LuaState) => luaPrint(L1, owner)));
  openRandom(L, tables.math);
  openCoroutineTop(L, tables.coroutine, (L1) => owner.isTopLevel(L1));
  // os.clock: seconds since this instance started (fengari's is the process uptime, shared by all)
  const started = performance.now();
  setField(tables.os, 'clock', new TValueCtor(T.LCF, (L1: LuaState) => {
    lua.lua_pushnumber(L1, (performance.now() - started) / 1000);
    return 1;
  }));
  // string.rep('', 2^31) allocates nothing, so no guard sees it, yet loops 2^31 times inside one
  // built-in call (40 s measured): answer the empty cases without the loop.
  setField(tables.string, 'rep', new TValueCtor(T.LCF, stringRep));
  // Lock the string metatable: getmetatable('') returns a string, setmetatable is refused.
  setField(stringMeta, '__metatable', new TValueCtor(T.LNGSTR, luaString('string')));
}

/** The marker objects of this state: host.null, the host.array / host.object metatables. */
export function makeMarkers(L: LuaState, copyBudget: number, maxDepth: number): Markers {
  const lockedMt = (name: string): Table => {
    const mt = luaH_new(L);
    setField(mt, '__metatable', new TValueCtor(T.LNGSTR, luaString(name)));
    setField(mt, '__name', new TValueCtor(T.LNGSTR, luaString(name)));
    return mt;
  };
  const arrayMt = lockedMt('host.array');
  const objectMt = lockedMt('host.object');
  // host.null: a userdata printing as "null".
  const nullMt = luaH_new(L);
  setField(nullMt, '__metatable', new TValueCtor(T.LNGSTR, luaString('null')));
  setField(nullMt, '__tostring', new TValueCtor(T.LCF, nullToString));
  lua.lua_newuserdata(L, 0);
  const nullUd = (L.stack[L.top - 1] as TValue).value as { metatable: Table | null };
  nullUd.metatable = nullMt;
  lua.lua_pop(L, 1);
  return { nullUd, arrayMt, objectMt, bytes: new WeakMap(), fromBytes: new WeakSet(), copyBudget, maxDepth };
}

function nullToString(L: LuaState): number {
  lua.lua_pushliteral(L, 'null');
  return 1;
}

/** fengari's string.rep (a plain function of the state it is called with, shared by every state). */
const fengariRep = builtin('string', 'rep') as (L: LuaState) => number;

/** string.rep without the empty loop: '' when the result is empty, else fengari's. */
function stringRep(L: LuaState): number {
  const s = lauxlib.luaL_checklstring(L, 1) as Uint8Array;
  const n = lauxlib.luaL_checkinteger(L, 2) as number;
  const sep = lauxlib.luaL_optlstring(L, 3, ls('')) as Uint8Array;
  if (n <= 0 || (s.length === 0 && (sep.length === 0 || n === 1))) {
    lua.lua_pushliteral(L, '');
    return 1;
  }
  return fengariRep(L);
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
