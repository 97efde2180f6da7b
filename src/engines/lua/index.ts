/**
 * Lua engine (fengari: Lua 5.3 written in JavaScript) for `.lua` plugins: the engine's entry,
 * what the host registers. A plugin is a chunk that returns a table: its function fields are the
 * exports, its `meta` field the metadata. Every plugin gets its own `lua_State`.
 *
 * The parts, one file each:
 * - instance.ts: one plugin's lifecycle (load, calls in pooled threads, async resumes, dispose);
 * - sandbox.ts: the standard library a plugin gets (and what is taken out), the marker objects;
 * - host-object.ts: the read-only `host` userdata (capabilities, data, config, helpers);
 * - host-calls.ts: Lua -> host calls, awaited host promises, host errors raised into Lua;
 * - limits.ts: deadline, stack and memory budget, wired to the patched fengari's hooks;
 * - failure.ts: what a dead thread failed of, as a TerrariumError;
 * - guard.ts (memory estimate), marshal.ts (value copies), stdlib.ts (random, coroutine),
 *   text.ts (string helpers), fengari.ts + patches.ts + hooks.ts (the patched fengari).
 */
import type { Engine, EngineInstance, LoadRequest } from '../../engine.js';
import { LuaInstance } from './instance.js';

/** Load one plugin into a fresh fengari state. */
export async function loadLua(req: LoadRequest): Promise<EngineInstance> {
  const inst = new LuaInstance(req);
  try {
    inst.load();
  } catch (e) {
    inst.dispose();
    throw e;
  }
  return inst;
}

export type { LuaInstance };

export const luaEngine: Engine = {
  name: 'lua',
  load: loadLua,
};
