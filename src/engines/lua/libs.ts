/**
 * The standard library tables of a plugin, opened once per process and copied into each new
 * state. Opening them through fengari's API (luaL_requiref, luaL_setfuncs) encodes and hashes
 * every function name again for every state, ~30% of creating an instance; a copy appends
 * entries whose keys are already hashed.
 *
 * Isolation: every state gets its own tables (the libraries, the globals, the string metatable),
 * so a plugin that changes `string.upper` or `table` changes only its own. What the copies share
 * is immutable: the keys (TStrings), the built-in functions (fengari's light C functions are
 * plain stateless JS functions, hashed by identity in every state alike) and the constants
 * (numbers, `_VERSION`, `utf8.charpattern`). Building the template refuses any other kind of
 * value (a closure with upvalues, a userdata), so a fengari that starts keeping state in a
 * library table stops the engine instead of sharing it.
 */
import { fengari, guardHooks } from './fengari.js';
import { type LuaState, type TString, type TValue, type Table, T, TValueCtor, appendEntry, luaH_new, luaString } from './marshal.js';
import { jsText, ls } from './text.js';

const { lua, lauxlib, lualib } = fengari;
const { ltable, lstring } = fengari.internals as {
  ltable: { luaH_getint(t: Table, k: number): TValue };
  lstring: { luaS_hashlongstr(ts: TString): string };
};

/** The libraries a plugin gets, in the order they are opened (the globals' key order follows it). */
const LIBS: [LibName, unknown][] = [
  ['_G', lualib.luaopen_base],
  ['string', lualib.luaopen_string],
  ['table', lualib.luaopen_table],
  ['math', lualib.luaopen_math],
  ['utf8', lualib.luaopen_utf8],
  ['coroutine', lualib.luaopen_coroutine],
  ['os', lualib.luaopen_os],
];
/** The part of os a plugin keeps: time and dates only (no execute, getenv, exit, remove, rename, tmpname, setlocale). */
const OS_KEPT = new Set(['time', 'date', 'difftime', 'clock']);
/** Taken out: file access, module loading, the collector. */
const REMOVED_GLOBALS = ['dofile', 'loadfile', 'require', 'collectgarbage', 'module'];

/** One entry of a library table: a shared key and a shared value, or a reference to library number `lib`. */
interface Entry {
  keyType: number;
  key: TString;
  hash: string;
  type: number;
  value: unknown;
  /** Index in LIBS of the library table this entry holds, or -1. */
  lib: number;
}

const SHAREABLE = new Set<number>([T.LCF, T.NUMINT, T.NUMFLT, T.BOOLEAN, T.SHRSTR, T.LNGSTR]);

/** The entries of each library of LIBS, in order. */
let template: Entry[][] | undefined;

function buildTemplate(): Entry[][] {
  const L = lauxlib.luaL_newstate() as LuaState;
  for (const [name, open] of LIBS) {
    lauxlib.luaL_requiref(L, ls(name), open, 1);
    lua.lua_pop(L, 1);
  }
  // fengari's next, the function pairs() hands out: the patched VM steps a generic for over it inline
  lua.lua_getglobal(L, ls('next'));
  guardHooks.next = (L.stack[L.top - 1] as TValue).value;
  lua.lua_pop(L, 1);
  lua.lua_pushglobaltable(L);
  const g = lua.lua_gettop(L);
  for (const name of REMOVED_GLOBALS) {
    lua.lua_pushnil(L);
    lua.lua_setfield(L, g, ls(name));
  }
  // string.dump would hand out bytecode, which fengari's undump does not verify.
  lua.lua_getfield(L, g, ls('string'));
  lua.lua_pushnil(L);
  lua.lua_setfield(L, -2, ls('dump'));
  lua.lua_pop(L, 2);
  lua.lua_getglobal(L, ls('os'));
  lua.lua_pushnil(L);
  const drop: string[] = [];
  while (lua.lua_next(L, -2)) {
    lua.lua_pop(L, 1);
    const k = jsText(lua.lua_tostring(L, -1) as Uint8Array);
    if (!OS_KEPT.has(k)) drop.push(k);
  }
  for (const k of drop) {
    lua.lua_pushnil(L);
    lua.lua_setfield(L, -2, ls(k));
  }
  lua.lua_pop(L, 1);

  const tables = LIBS.map(([name]) => {
    if (name === '_G') return globalsOf(L);
    lua.lua_getglobal(L, ls(name));
    const t = (L.stack[L.top - 1] as TValue).value as Table;
    lua.lua_pop(L, 1);
    return t;
  });
  return tables.map((t, i) => {
    const name = LIBS[i]![0];
    const entries: Entry[] = [];
    for (let e = t.f; e; e = e.n) {
      const k = e.key;
      const v = e.value;
      if (k.type !== T.SHRSTR && k.type !== T.LNGSTR) throw new Error(`fengari's ${name} library has a key that is not a string`);
      const lib = v.type === T.TABLE ? tables.indexOf(v.value as Table) : -1;
      if (lib === -1 && !SHAREABLE.has(v.type)) throw new Error(`fengari's ${name} library holds a value that cannot be shared between plugins (type ${v.type})`);
      const key = k.value as TString;
      entries.push({ keyType: k.type, key, hash: lstring.luaS_hashlongstr(key), type: v.type, value: v.value, lib });
    }
    return entries;
  });
}

/** The value fengari's library `lib` has under `name` (a built-in function, shared by every state). */
export function builtin(lib: LibName, name: string): unknown {
  template ??= buildTemplate();
  const i = LIBS.findIndex(([n]) => n === lib);
  for (const e of template[i] ?? []) if (e.type === T.LCF && jsText(e.key.realstring) === name) return e.value;
  throw new Error(`fengari's ${lib} library has no function ${name}`);
}

const registryOf = (L: LuaState) => (L.l_G as { l_registry: TValue }).l_registry.value as Table;
const globalsOf = (L: LuaState) => ltable.luaH_getint(registryOf(L), lua.LUA_RIDX_GLOBALS).value as Table;

/** t[name] = value, for a key t does not have yet. */
function setString(t: Table, name: string, value: TValue): void {
  const key = luaString(name);
  appendEntry(t, lstring.luaS_hashlongstr(key), new TValueCtor(T.LNGSTR, key), value);
  t.flags = 0;
}

export type LibName = '_G' | 'string' | 'table' | 'math' | 'utf8' | 'coroutine' | 'os';

/** This state's library tables by name (`_G`: the globals) and the metatable of its strings. */
export interface Libs {
  tables: Record<LibName, Table>;
  stringMeta: Table;
}

/**
 * Fill L's (empty) globals with fresh copies of the library tables and give strings a fresh
 * metatable (`__index` = this state's string table).
 */
export function openLibs(L: LuaState): Libs {
  template ??= buildTemplate();
  const tables: Table[] = [];
  for (let i = 0; i < LIBS.length; i++) tables.push(i === 0 ? globalsOf(L) : luaH_new(L));
  for (let i = 0; i < template.length; i++) {
    const t = tables[i]!;
    const entries = template[i]!;
    for (let j = 0; j < entries.length; j++) {
      const e = entries[j]!;
      const value = e.lib === -1 ? new TValueCtor(e.type, e.value) : new TValueCtor(T.TABLE, tables[e.lib]);
      appendEntry(t, e.hash, new TValueCtor(e.keyType, e.key), value);
    }
    // entries added without the VM: no metamethod absence may be cached (ltm.js fasttm)
    t.flags = 0;
  }
  // package.loaded (the registry's _LOADED): where error messages find a function's name ('math.random')
  const loaded = luaH_new(L);
  for (let i = 0; i < LIBS.length; i++) setString(loaded, LIBS[i]![0], new TValueCtor(T.TABLE, tables[i]));
  setString(registryOf(L), '_LOADED', new TValueCtor(T.TABLE, loaded));
  const mt = luaH_new(L);
  setString(mt, '__index', new TValueCtor(T.TABLE, tables[LIBS.findIndex(([n]) => n === 'string')]));
  (L.l_G as { mt: (Table | null)[] }).mt[lua.LUA_TSTRING] = mt;
  const [_G, string, table, math, utf8, coroutine, os] = tables as [Table, Table, Table, Table, Table, Table, Table];
  return { tables: { _G, string, table, math, utf8, coroutine, os }, stringMeta: mt };
}
