/**
 * Plugins written for another host's Lua contract: a chunk that defines known globals and returns
 * nothing (Envoy's `envoy_on_request` / `envoy_on_response`). An adapter registered here names
 * those globals and gives a Lua prelude that runs after the chunk, in the same state, and returns
 * the export table a Terrarium plugin would have returned. The engine knows no adapter by name:
 * the gateway registers its own (gateway/middleware/envoy/). Kept apart so that ordinary plugins
 * (a chunk returning a table) never reach any of this.
 *
 * Such plugins may also `require` a module file next to them, as those hosts allow: only a file
 * in the plugin's own directory (or below it), named by a dotted module name, never a path.
 */
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fengari } from './fengari.js';
import type { LuaState } from './marshal.js';
import { jsText, ls } from './text.js';

const { lua, lauxlib, to_luastring } = fengari;

export interface GlobalModuleAdapter {
  /** Shown as the prelude's chunk name. */
  name: string;
  /** The globals that make a chunk returning nothing one of this adapter's plugins. */
  globals: readonly string[];
  /** Lua source run after the chunk; it returns the exports table (and may set `meta`). */
  prelude: string;
  /** The prelude's arguments (`...`) for this source: booleans and numbers. */
  args(source: string): ReadonlyArray<boolean | number>;
  /** Whether the source may be one of this adapter's plugins (before it runs: decides `require`). */
  detect(source: string): boolean;
}

const adapters: GlobalModuleAdapter[] = [];

export function registerGlobalModule(a: GlobalModuleAdapter): void {
  if (!adapters.some((x) => x.name === a.name)) adapters.push(a);
}

/** The adapter whose source test matches (`require` is installed for these before the chunk runs). */
export function adapterForSource(source: string): GlobalModuleAdapter | undefined {
  return adapters.find((a) => a.detect(source));
}

/** The adapter one of whose globals the chunk defined as a function. */
export function adapterForGlobals(L: LuaState, candidate: GlobalModuleAdapter | undefined): GlobalModuleAdapter | undefined {
  if (!candidate) return undefined;
  for (const g of candidate.globals) {
    const t = lua.lua_getglobal(L, to_luastring(g));
    lua.lua_pop(L, 1);
    if (t === lua.LUA_TFUNCTION) return candidate;
  }
  return undefined;
}

/** Push the prelude of `a` as a function and its arguments; returns how many (a load error is a bug of the adapter: thrown). */
export function pushPrelude(L: LuaState, a: GlobalModuleAdapter, source: string): number {
  const st = lauxlib.luaL_loadbufferx(L, to_luastring(a.prelude), null, to_luastring(`=${a.name}`), ls('t'));
  if (st !== lua.LUA_OK) throw new Error(`the ${a.name} prelude does not compile: ${jsText(lua.lua_tolstring(L, -1) as Uint8Array)}`);
  const args = a.args(source);
  for (const v of args) {
    if (typeof v === 'boolean') lua.lua_pushboolean(L, v);
    else lua.lua_pushnumber(L, v);
  }
  return args.length;
}

const MODULE_NAME = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/;

/** Lua side of `require`: a cache, the load of the text the host reads (chunk named by its file). */
const REQUIRE = `
local read = ...
local loaded = {}
local load, error, type = load, error, type
function require(name)
  if type(name) ~= 'string' then error('require expects a module name', 2) end
  local m = loaded[name]
  if m ~= nil then return m end
  local src, chunk = read(name)
  if src == nil then error(chunk, 2) end
  local f, err = load(src, '@' .. chunk, 't')
  if not f then error(err, 0) end
  m = f(name)
  if m == nil then m = true end
  loaded[name] = m
  return m
end
`;

/**
 * Define a global `require` that loads `<dir>/<a/b>.lua` for `require("a.b")` from the plugin's
 * own directory only: dotted names of plain identifiers, so no `..`, no absolute path, no
 * separator of the caller's choice; a symlink out of the directory is refused too.
 */
export function installRequire(L: LuaState, pluginPath: string, pluginFile: string): void {
  const dir = path.dirname(pluginPath);
  const fileDir = path.dirname(pluginFile);
  const read = (L1: LuaState): number => {
    const name = jsText(lauxlib.luaL_checkstring(L1, 1) as Uint8Array);
    const fail = (why: string): number => {
      lua.lua_pushnil(L1);
      lua.lua_pushstring(L1, to_luastring(`module '${name}' not found: ${why}`));
      return 2;
    };
    if (!MODULE_NAME.test(name)) return fail('a module name is dotted identifiers (no paths)');
    const rel = `${name.split('.').join('/')}.lua`;
    const full = path.join(dir, rel);
    let text: string;
    try {
      const real = fsReal(full);
      const realDir = fsReal(dir);
      if (!real.startsWith(realDir + path.sep)) return fail('it resolves outside the plugin directory');
      text = readFileSync(real, 'utf8');
    } catch {
      return fail(`no file ${rel} next to the plugin`);
    }
    lua.lua_pushstring(L1, to_luastring(text));
    lua.lua_pushstring(L1, to_luastring(fileDir === '.' ? rel : `${fileDir}/${rel}`));
    return 2;
  };
  const st = lauxlib.luaL_loadbufferx(L, to_luastring(REQUIRE), null, to_luastring('=require'), ls('t'));
  if (st !== lua.LUA_OK) throw new Error('the require prelude does not compile');
  lua.lua_pushcfunction(L, read);
  lua.lua_call(L, 1, 0);
}

const fsReal = (p: string): string => realpathSync(p);
