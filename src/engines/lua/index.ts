/**
 * Lua engine (fengari: Lua 5.3 written in JavaScript) for `.lua` plugins: the engine's entry,
 * what the host registers. A plugin is a chunk that returns a table: its function fields are the
 * exports, its `meta` field the metadata. Every plugin gets its own `lua_State`.
 *
 * The parts, one file each:
 * - instance.ts: one plugin's lifecycle (load, calls in pooled threads, async resumes, dispose);
 *   what is the same for every engine (name, re-entry cap, deadlines, async timeout, the broken
 *   latch, error context) is the host's (host/guard.ts), not here;
 * - sandbox.ts: the standard library a plugin gets (and what is taken out), the marker objects;
 * - host-object.ts: the read-only `host` userdata (capabilities, data, config, helpers);
 * - host-calls.ts: Lua -> host calls, awaited host promises, host errors raised into Lua;
 * - limits.ts: deadline, stack and memory budget, wired to the patched fengari's hooks;
 * - failure.ts: what a dead thread failed of, as a TerrariumError;
 * - memory.ts (memory estimate), marshal.ts (value copies), stdlib.ts (random, coroutine),
 *   text.ts (string helpers), fengari.ts + patches.ts + hooks.ts (the patched fengari).
 */
import { type Engine, type EngineInstance, type LoadRequest, loadOrDispose } from '../../engine.js';
import { LuaInstance } from './instance.js';

/**
 * Load one plugin into a fresh fengari state, synchronously: fengari is plain JavaScript and the
 * load awaits nothing, so the host can rebuild an instance inside a call (`Engine.loadSync`).
 */
export function loadLuaSync(req: LoadRequest): EngineInstance {
  return loadOrDispose(new LuaInstance(req), (inst) => inst.load());
}

/** Load one plugin into a fresh fengari state. */
export async function loadLua(req: LoadRequest): Promise<EngineInstance> {
  return loadLuaSync(req);
}

export type { LuaInstance };

export const luaEngine: Engine = {
  name: 'lua',
  load: loadLua,
  loadSync: loadLuaSync,
};
