/**
 * Compile once: a plugin's source is parsed by fengari's compiler once per process, and every
 * later instance of the same text (the standby, a restart after a limit, N copies of one file)
 * gets a copy of the compiled function prototypes instead of parsing again (parsing was ~40% of
 * creating a Lua instance). Used only for the chunk an instance loads at its start (limits.ts
 * decides when); the plugin's own `load()` always compiles.
 *
 * What is shared and what is not: a fengari `Proto` caches the last closure made from it
 * (`p.cache`, reused by OP_CLOSURE when the upvalues match), so Protos are never shared between
 * states: each instance gets its own tree of Proto objects. What they point to and the VM only
 * reads is shared: instructions, line info, upvalue and local-variable descriptors, and the
 * constant strings (TStrings are immutable; their hash is a pure function of the bytes). The
 * constants' TValue cells are copied anyway (fengari copies them onto the stack, but a cell is
 * cheap and a shared mutable cell would be one plugin's way into another).
 *
 * The cache is bounded (entries and total source size, least recently used first out) and
 * holds only sources that compiled.
 */
import { fengari } from './fengari.js';
import { type LuaState, type TString, type TValue, type Table, T, TValueCtor } from './marshal.js';

const { lua } = fengari;
const { lfunc, lobject, lstring, ltable } = fengari.internals as {
  lfunc: { Proto: new (L: LuaState) => Proto };
  lobject: { LClosure: new (L: LuaState, n: number) => LClosure };
  lstring: { luaS_new(L: LuaState, s: Uint8Array): TString };
  ltable: { luaH_getint(t: Table, k: number): TValue };
};

/** fengari's function prototype (lfunc.js), the fields a copy needs. */
export interface Proto {
  id: number;
  k: TValue[];
  p: Proto[];
  code: unknown[];
  cache: unknown;
  lineinfo: number[];
  upvalues: unknown[];
  numparams: number;
  is_vararg: boolean;
  maxstacksize: number;
  locvars: unknown[];
  linedefined: number;
  lastlinedefined: number;
  source: TString | null;
}
interface LClosure {
  p: Proto | null;
  nupvalues: number;
  upvals: TValue[];
}

/** A compiled source kept for later instances: never run itself, only copied. */
interface Compiled {
  proto: Proto;
  /** Instructions of the whole tree: what the compiler charged against memoryBytes (limits.ts). */
  instructions: number;
}

const MAX_ENTRIES = 256;
/** Sources larger than this are compiled every time (their Protos would dominate the cache). */
const MAX_SOURCE_BYTES = 256 * 1024;
const MAX_TOTAL_BYTES = 4 * 1024 * 1024;
const cache = new Map<string, Compiled>();
let totalBytes = 0;
const stats = { hits: 0, compiled: 0 };

/** The cache key of a source: its bytes, one char per byte (native, one pass). */
export function chunkKey(source: Uint8Array): string | undefined {
  if (source.length > MAX_SOURCE_BYTES) return undefined;
  return Buffer.from(source.buffer, source.byteOffset, source.length).toString('latin1');
}

/** The compiled chunk of `key`, if kept (and marks it recently used). */
export function findChunk(key: string): Compiled | undefined {
  const c = cache.get(key);
  if (c) {
    cache.delete(key);
    cache.set(key, c);
    stats.hits++;
  }
  return c;
}

/** Keep the chunk just compiled on top of L's stack for later instances of `key`. */
export function keepChunk(L: LuaState, key: string): void {
  const top = L.stack[L.top - 1];
  if (!top || top.type !== T.LCL) return;
  const proto = (top.value as LClosure).p;
  if (!proto || cache.has(key)) return;
  const copy = copyProto(L, proto, proto.source);
  stats.compiled++;
  cache.set(key, { proto: copy, instructions: countInstructions(copy) });
  totalBytes += key.length;
  for (const [k] of cache) {
    if (cache.size <= MAX_ENTRIES && totalBytes <= MAX_TOTAL_BYTES) break;
    cache.delete(k);
    totalBytes -= k.length;
  }
}

/**
 * Push the main closure of a kept chunk on L's stack, as lua_load leaves a freshly compiled one:
 * its own Protos (named `chunkname` in tracebacks), its one upvalue (_ENV) set to L's globals.
 */
export function pushChunk(L: LuaState, c: Compiled, chunkname: Uint8Array): void {
  const cl = new lobject.LClosure(L, 1);
  cl.p = copyProto(L, c.proto, lstring.luaS_new(L, chunkname));
  const registry = (L.l_G as { l_registry: TValue }).l_registry.value as Table;
  const globals = ltable.luaH_getint(registry, lua.LUA_RIDX_GLOBALS);
  cl.upvals[0] = new TValueCtor(globals.type, globals.value);
  lua.lua_checkstack(L, 1);
  L.stack[L.top++] = new TValueCtor(T.LCL, cl);
}

function copyProto(L: LuaState, from: Proto, source: TString | null): Proto {
  const p = new lfunc.Proto(L);
  p.k = from.k.map((tv) => new TValueCtor(tv.type, tv.value));
  p.p = from.p.map((sub) => copyProto(L, sub, source));
  p.code = from.code;
  p.lineinfo = from.lineinfo;
  p.upvalues = from.upvalues;
  p.numparams = from.numparams;
  p.is_vararg = from.is_vararg;
  p.maxstacksize = from.maxstacksize;
  p.locvars = from.locvars;
  p.linedefined = from.linedefined;
  p.lastlinedefined = from.lastlinedefined;
  p.source = source;
  return p;
}

function countInstructions(p: Proto): number {
  let n = p.code.length;
  for (const sub of p.p) n += countInstructions(sub);
  return n;
}

/** What the cache holds and did (tests, benchmarks): chunks kept, copies handed out, sources kept after compiling. */
export function chunkStats(): { entries: number; hits: number; compiled: number } {
  return { entries: cache.size, ...stats };
}
