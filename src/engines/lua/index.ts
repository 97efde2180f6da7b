/**
 * Lua engine (fengari: Lua 5.3 written in JavaScript) for `.lua` plugins.
 *
 * A plugin is a chunk that returns a table: its function fields are the exports, its `meta` field
 * the metadata. Every plugin gets its own `lua_State` with a reduced standard library (base minus
 * the file/bytecode/GC functions, string minus dump, table, math, utf8, coroutine), a read-only
 * `host` userdata holding the granted capabilities, and `print` wired to the host logger.
 *
 * Every export runs in a pooled Lua thread (coroutine), so an export that calls an async host
 * capability simply yields: `call()` then returns a Promise and resumes the thread when the host
 * promise settles. Limits:
 * - time: a count hook (every HOOK_EVERY VM instructions, inherited by every coroutine) checks
 *   the call deadline; fengari's built-ins, where the hook never runs, count their work through
 *   the patches of patches.ts and check it every MATCH_SLICE units (onMatchSlice);
 * - stack: the hook bounds the Lua stack of each thread (stackBytes / 16 slots); fengari bounds
 *   nested C calls itself (200), reporting its own overflows (onFault/onCaught: classified by the
 *   error value, never its text), and a JS RangeError is caught by lua_atnativeerror;
 * - memory: see guard.ts (allocation checks patched into fengari + heap-growth triggered walks),
 *   plus the compiler's output (onCodeSlice) and large stack growth (onGrowStack).
 * Once a limit trips, the instance sets `exceeded` and every later hook re-raises, so `pcall`
 * cannot swallow it; the call fails with the limit error and the instance is `broken`.
 */
import type { Engine, EngineInstance, LoadRequest } from '../../engine.js';
import type { ExportInfo, PluginMeta } from '../../types.js';
import {
  type ErrorContext,
  MarshalError,
  PluginLoadError,
  PluginMemoryError,
  PluginStackError,
  PluginThrownError,
  PluginTimeoutError,
  PluginUnavailableError,
  TerrariumError,
} from '../../errors.js';
import { MAX_DEPTH, isWireFailure } from '../../binding/wire.js';
import { type AsyncCall, AsyncCalls } from '../../binding/async-calls.js';
import { guestFailure, marshalErrorFrom, metaLoadError, pluginNameFrom, sanitizeHostError } from '../../binding/failures.js';
import { fengari, guardHooks } from './fengari.js';
import { type GuardOwner, MemoryGuard } from './guard.js';
import { openCoroutineTop, openRandom } from './stdlib.js';
import {
  type LuaState,
  type Markers,
  type TString,
  type TValue,
  type Table,
  T,
  TValueCtor,
  fromUtf8,
  luaH_new,
  luaString,
  setMaxDepth,
  toJS,
  toLua,
} from './marshal.js';

const { lua, lauxlib, lualib, to_luastring } = fengari;
setMaxDepth(MAX_DEPTH);

/** VM instructions between two budget checks (time, stack, memory). */
const HOOK_EVERY = 1000;
/** Units of built-in work (pattern steps, table-loop steps, bytes/16 hashed...) between two deadline checks. */
const MATCH_SLICE = 1 << 16;
/** Compiled instructions between two checks of the compiler's deadline and memory. */
const CODE_SLICE = 1 << 12;
/** Bytes a compiled instruction holds with its share of line info, constants and lexer strings (measured, see README). */
const CODE_BYTES = 200;
/** Bytes of one Lua stack slot (a TValue and its array cell), as in guard.ts. */
const STACK_SLOT_BYTES = 40;
/** Nested host -> plugin -> host calls on one instance before ERR_PLUGIN_STACK. */
const MAX_REENTRY = 32;
/** Lua stack slots allowed per stackBytes byte (a slot is a TValue, ~16-32 bytes in V8). */
const BYTES_PER_SLOT = 16;

const now = () => performance.now();
const GLUE = '[C]';

/** Why the instance is being stopped. */
type Exceeded = 'timeout' | 'memory' | 'stack' | null;

/** Outcome of an awaited host promise, read by the continuation inside the Lua thread. */
type Outcome = { ok: true; value: unknown; label: string } | { ok: false; error: unknown };

const luaStrings = new Map<string, Uint8Array>();
/** Cached Lua string constants for the C API (fengari's own to_luastring cache is unbounded). */
function ls(s: string): Uint8Array {
  let b = luaStrings.get(s);
  if (!b) {
    b = to_luastring(s) as Uint8Array;
    luaStrings.set(s, b);
  }
  return b;
}

function jsText(b: Uint8Array | null | undefined): string {
  if (!b) return '';
  return fromUtf8(b) ?? new TextDecoder().decode(b);
}

class LuaInstance implements EngineInstance, GuardOwner {
  name: string;
  meta: PluginMeta | undefined;
  exports: ExportInfo[] = [];
  broken = false;

  readonly L: LuaState;
  private deadline = Infinity;
  private phase: 'call' | 'load' = 'load';
  exceeded: Exceeded = null;
  private readonly maxSlots: number;
  private readonly markers: Markers;
  private readonly memory: MemoryGuard;
  private readonly exportFns = new Map<string, TValue>();
  private readonly threadPool: LuaState[] = [];
  /** Threads running an export (the only ones allowed to await a host promise). */
  private readonly callThreads = new Set<LuaState>();
  private readonly outcomes = new Map<LuaState, Outcome>();
  private readonly waiting = new Map<LuaState, Promise<unknown>>();
  private readonly pending = new AsyncCalls<LuaState>();
  private readonly marshalErrors = new WeakMap<object, TerrariumError>();
  private depth = 0;
  private limitStack: string | undefined;
  /** The table the chunk returned (module state hangs off it; the memory walk starts here too). */
  private moduleTable: TValue | undefined;
  private disposed = false;
  private currentExport: string | undefined;
  /** The thread running the chunk while it loads (top level, like an export's thread). */
  private loadThread: LuaState | undefined;
  /** Estimated bytes of the chunk being compiled (the compiler's data is not reachable by the walk). */
  private compileBytes = 0;
  /** fengari raised a stack overflow of its own; the next error a protected call catches is it. */
  private faultPending = false;
  /** Error values fengari itself raised for a stack overflow (identity, never message text). */
  private readonly faultValues = new WeakSet<object>();
  /** Inside raiseExceeded (its traceback may grow the stack). */
  private raising = false;

  constructor(private readonly req: LoadRequest) {
    this.name = req.defaultName;
    this.maxSlots = Math.max(1024, Math.floor(req.limits.stackBytes / BYTES_PER_SLOT));
    const L = lauxlib.luaL_newstate() as LuaState;
    this.L = L;
    (L.l_G as { terrarium?: LuaInstance }).terrarium = this;
    lua.lua_atnativeerror(L, (L1: LuaState) => this.nativeError(L1));
    // Before any plugin code: hooks are per thread and new threads copy their creator's hook.
    lua.lua_sethook(L, (L1: LuaState) => this.onHook(L1), lua.LUA_MASKCOUNT, HOOK_EVERY);
    // Before the libraries: the patched fengari may report to it while they are opened.
    this.memory = new MemoryGuard(this, req.limits.memoryBytes);
    this.markers = this.openLibraries();
  }

  private errorContext(exportName?: string): ErrorContext {
    return { plugin: this.name, engine: 'lua', file: this.req.file, exportName };
  }

  // ---- sandbox -------------------------------------------------------------------------------

  private openLibraries(): Markers {
    const { L } = this;
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
    lua.lua_pushcfunction(L, (L1: LuaState) => this.luaPrint(L1));
    lua.lua_setfield(L, g, ls('print'));
    // `load` is fengari's own (readers, modes, env behave as in Lua); the patched compiler refuses
    // binary chunks in a Terrarium state and charges its work to the deadline and memory guard.
    openRandom(L, g);
    openCoroutineTop(L, g, (L1) => this.isTopLevel(L1));
    // string.dump would hand out bytecode, which fengari's undump does not verify.
    lua.lua_getfield(L, g, ls('string'));
    lua.lua_pushnil(L);
    lua.lua_setfield(L, -2, ls('dump'));
    // string.rep('', 2^31) allocates nothing, so no guard sees it, yet loops 2^31 times inside one
    // built-in call (40 s measured): answer the empty cases without the loop.
    lua.lua_getfield(L, -1, ls('rep'));
    lua.lua_pushcclosure(L, (L1: LuaState) => this.stringRep(L1), 1);
    lua.lua_setfield(L, -2, ls('rep'));
    lua.lua_pop(L, 1);
    // Lock the string metatable: getmetatable('') returns a string, setmetatable is refused.
    lua.lua_pushliteral(L, '');
    lua.lua_getmetatable(L, -1);
    lua.lua_pushliteral(L, 'string');
    lua.lua_setfield(L, -2, ls('__metatable'));
    lua.lua_pop(L, 2);

    const markers = this.makeMarkers();
    lua.lua_pushglobaltable(L);
    this.pushHost(markers);
    lua.lua_setfield(L, -2, ls('host'));
    lua.lua_pop(L, 2);
    return markers;
  }

  private makeMarkers(): Markers {
    const { L } = this;
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
    return { nullUd, arrayMt, objectMt, bytes: new WeakMap(), fromBytes: new WeakSet(), copyBudget: this.req.limits.memoryBytes };
  }

  /** Push the read-only `host` userdata: capabilities, data, config, and the marshalling helpers. */
  private pushHost(m: Markers): void {
    const { L } = this;
    type Node = { fns: Map<string, (L1: LuaState) => number>; kids: Map<string, Node>; data: Map<string, unknown> };
    const root: Node = { fns: new Map(), kids: new Map(), data: new Map() };
    for (const [k, v] of Object.entries(this.req.data)) root.data.set(k, v);
    this.req.capabilities.forEach((cap) => {
      let node = root;
      for (let i = 0; i < cap.path.length - 1; i++) {
        const k = cap.path[i]!;
        let kid = node.kids.get(k);
        if (!kid) {
          kid = { fns: new Map(), kids: new Map(), data: new Map() };
          const d = node.data.get(k);
          if (d !== null && typeof d === 'object' && !Array.isArray(d)) for (const [dk, dv] of Object.entries(d)) kid.data.set(dk, dv);
          node.data.delete(k);
          node.kids.set(k, kid);
        }
        node = kid;
      }
      const label = `host.${cap.path.join('.')}`;
      node.fns.set(cap.path[cap.path.length - 1]!, (L1) => this.hostCall(L1, cap.fn, label));
    });
    const helpers = new Map<string, (L1: LuaState) => number>([
      ['array', (L1) => this.mark(L1, m.arrayMt)],
      ['object', (L1) => this.mark(L1, m.objectMt)],
      [
        'bytes',
        (L1) => {
          const s = lauxlib.luaL_checklstring(L1, 1) as Uint8Array;
          lua.lua_newuserdata(L1, 0);
          m.bytes.set((L1.stack[L1.top - 1] as TValue).value as object, new Uint8Array(s));
          lua.lua_createtable(L1, 0, 1);
          lua.lua_pushliteral(L1, 'host.bytes');
          lua.lua_setfield(L1, -2, ls('__metatable'));
          lua.lua_setmetatable(L1, -2);
          return 1;
        },
      ],
    ]);
    const push = (node: Node, isRoot: boolean, path: string): void => {
      lua.lua_newuserdata(L, 0);
      lua.lua_createtable(L, 0, 4);
      // __index table with everything readable under this namespace
      lua.lua_createtable(L, 0, node.fns.size + node.kids.size + node.data.size);
      const idx = lua.lua_gettop(L);
      for (const [k, fn] of node.fns) {
        lua.lua_pushcfunction(L, fn);
        lua.lua_setfield(L, idx, ls(k));
      }
      for (const [k, kid] of node.kids) {
        push(kid, false, `${path}.${k}`);
        lua.lua_setfield(L, idx, ls(k));
      }
      for (const [k, v] of node.data) {
        if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)) {
          const kid: Node = { fns: new Map(), kids: new Map(), data: new Map(Object.entries(v)) };
          push(kid, false, `${path}.${k}`);
        } else this.pushJS(L, v, `${path}.${k}`, 'host data');
        lua.lua_setfield(L, idx, ls(k));
      }
      if (isRoot) {
        for (const [k, fn] of helpers) {
          lua.lua_pushcfunction(L, fn);
          lua.lua_setfield(L, idx, ls(k));
        }
        const nullTv = new TValueCtor(T.USERDATA, m.nullUd);
        L.stack[L.top++] = nullTv;
        lua.lua_setfield(L, idx, ls('null'));
        // __index: the table, plus host.config read lazily on every access
        lua.lua_pushcclosure(
          L,
          (L1: LuaState) => {
            const key = lua.lua_tostring(L1, 2) as Uint8Array | null;
            if (key && jsText(key) === 'config') {
              let cfg: unknown;
              try {
                cfg = this.req.config();
              } catch (e) {
                return this.raiseHostError(L1, e);
              }
              this.pushJS(L1, cfg, '$', 'host.config', true);
              return 1;
            }
            lua.lua_pushvalue(L1, 2);
            lua.lua_rawget(L1, lua.lua_upvalueindex(1));
            return 1;
          },
          1,
        );
      }
      lua.lua_setfield(L, -2, ls('__index'));
      lua.lua_pushcfunction(L, (L1: LuaState) => lauxlib.luaL_error(L1, ls('host is read-only: cannot set %s'), lauxlib.luaL_tolstring(L1, 2)));
      lua.lua_setfield(L, -2, ls('__newindex'));
      lua.lua_pushliteral(L, 'host (read-only)');
      lua.lua_setfield(L, -2, ls('__metatable'));
      lua.lua_setmetatable(L, -2);
    };
    push(root, true, 'host');
  }

  private mark(L: LuaState, mt: Table): number {
    lauxlib.luaL_checktype(L, 1, lua.LUA_TTABLE);
    const t = (L.stack[L.top - lua.lua_gettop(L)] as TValue).value as Table;
    if (t.metatable !== null && t.metatable !== this.markers.arrayMt && t.metatable !== this.markers.objectMt) {
      return lauxlib.luaL_argerror(L, 1, ls('table already has a metatable'));
    }
    t.metatable = mt;
    lua.lua_settop(L, 1);
    return 1;
  }

  /** string.rep without the empty loop: '' when the result is empty, else the original. */
  private stringRep(L: LuaState): number {
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

  private luaPrint(L: LuaState): number {
    const n = lua.lua_gettop(L);
    const parts: string[] = [];
    for (let i = 1; i <= n; i++) {
      parts.push(jsText(lauxlib.luaL_tolstring(L, i) as Uint8Array));
      lua.lua_pop(L, 1);
    }
    this.req.log('info', parts.join('\t'));
    return 0;
  }

  /** The thread running an export (or the chunk at load) itself, not a coroutine of the plugin. */
  private isTopLevel(L: LuaState): boolean {
    return this.callThreads.has(L) || L === this.loadThread;
  }

  // ---- limits --------------------------------------------------------------------------------

  /** Raise the current limit error inside Lua (a string, so it also reads well if printed). */
  raiseExceeded(L: LuaState, why: Exclude<Exceeded, null>): never {
    if (!this.exceeded) {
      // Where it happened, for the error's file:line (the thread is unwound before we see it).
      // Taken before setting `exceeded`, which makes every string allocation fail.
      this.raising = true;
      try {
        lauxlib.luaL_traceback(L, L, null, 0);
        this.limitStack = jsText(lua.lua_tolstring(L, -1) as Uint8Array);
        lua.lua_pop(L, 1);
      } catch {
        this.limitStack = undefined;
      } finally {
        this.raising = false;
      }
      this.exceeded = why;
    }
    // No luaL_error: its message formatting allocates through the guarded paths again.
    lua.lua_pushstring(L, ls(this.exceeded === 'timeout' ? 'terrarium: time budget exceeded' : this.exceeded === 'memory' ? 'terrarium: not enough memory' : 'terrarium: stack overflow'));
    lua.lua_error(L);
    throw new Error('unreachable: lua_error returned');
  }

  private onHook(L: LuaState): void {
    if (this.exceeded) this.raiseExceeded(L, this.exceeded);
    if (now() > this.deadline) this.raiseExceeded(L, 'timeout');
    if (L.top > this.maxSlots) this.raiseExceeded(L, 'stack');
    this.memory.check(L);
  }

  /** fengari calls this from the patched string producers before allocating `bytes`. */
  onAlloc(L: LuaState, bytes: number): void {
    // Once a limit tripped, small strings (error messages, tracebacks) must still be possible.
    if (this.exceeded) {
      if (bytes > 4096) this.raiseExceeded(L, this.exceeded);
      return;
    }
    this.memory.alloc(L, bytes);
    // Long single built-ins (string.format('%q', big), gsub over a large subject) grow their
    // buffer as they go: each growth is also a chance to stop one that ran past its deadline.
    if (now() > this.deadline) this.raiseExceeded(L, 'timeout');
  }

  /**
   * fengari calls this every MATCH_SLICE units of built-in work (pattern steps, table-loop steps,
   * bytes hashed/compared/searched, characters lexed): the deadline, and the memory guard, since a
   * table loop (table.move with a lying __len) fills memory without running a VM instruction.
   */
  onMatchSlice(L: LuaState): void {
    if (this.exceeded) this.raiseExceeded(L, this.exceeded);
    if (now() > this.deadline) this.raiseExceeded(L, 'timeout');
    if (!this.raising) this.memory.check(L, this.compileBytes);
  }

  compileReset(): void {
    this.compileBytes = 0;
  }

  /** The compiler emitted CODE_SLICE more instructions: what they hold counts against memoryBytes. */
  onCodeSlice(L: LuaState): void {
    this.compileBytes += CODE_SLICE * CODE_BYTES;
    if (this.exceeded) this.raiseExceeded(L, this.exceeded);
    if (now() > this.deadline) this.raiseExceeded(L, 'timeout');
    this.memory.check(L, this.compileBytes);
  }

  /**
   * A Lua stack grows: string.byte, table.unpack, string.char's callers push up to a million
   * values (~40 MB) inside one built-in, before any hook runs. A large growth is checked against
   * memoryBytes first (plain Lua allows it, so it is a memory question, not a stack one).
   */
  onGrowStack(L: LuaState, n: number): void {
    if (this.exceeded || this.raising || n < 4096) return;
    this.memory.check(L, n * STACK_SLOT_BYTES);
  }

  onFault(): void {
    this.faultPending = true;
  }

  onCaught(tv: TValue | undefined): void {
    if (!this.faultPending) return;
    this.faultPending = false;
    if (tv && tv.value !== null && typeof tv.value === 'object') this.faultValues.add(tv.value);
  }

  /** A JS exception escaped a host function or fengari itself: never let it reach Lua as an object. */
  private nativeError(L: LuaState): number {
    const e = lua.lua_touserdata(L, 1) as unknown;
    if (e instanceof RangeError && /call stack/i.test(e.message)) {
      if (!this.exceeded) this.exceeded = 'stack';
      lua.lua_pushliteral(L, 'terrarium: stack overflow');
      return 1;
    }
    if (e instanceof TerrariumError) {
      this.pushMarshalError(L, e);
      return 1;
    }
    const s = sanitizeHostError(e);
    lua.lua_pushstring(L, to_luastring(`${s.name}: ${s.message}`));
    return 1;
  }

  // ---- host calls ----------------------------------------------------------------------------

  /** Push a JS value; marshal failures become ERR_MARSHAL raised into Lua. */
  private pushJS(L: LuaState, v: unknown, path: string, direction: string, top = false): void {
    let tv: TValue;
    try {
      tv = toLua(L, v, this.markers, path, 0, [], !top);
    } catch (e) {
      if (isWireFailure(e)) {
        this.pushMarshalError(L, marshalErrorFrom(e, direction, this.errorContext(this.currentExport)));
        lua.lua_error(L);
      }
      throw e;
    }
    lua.lua_checkstack(L, 1);
    L.stack[L.top++] = tv;
  }

  /** An ERR_MARSHAL raised into Lua: a userdata that prints as the message and maps back to the error. */
  private pushMarshalError(L: LuaState, err: TerrariumError): void {
    lua.lua_newuserdata(L, 0);
    this.marshalErrors.set((L.stack[L.top - 1] as TValue).value as object, err);
    lua.lua_createtable(L, 0, 2);
    lua.lua_pushstring(L, to_luastring(err.message));
    lua.lua_pushcclosure(L, (L1: LuaState) => {
      lua.lua_pushvalue(L1, lua.lua_upvalueindex(1));
      return 1;
    }, 1);
    lua.lua_setfield(L, -2, ls('__tostring'));
    lua.lua_setmetatable(L, -2);
  }

  private raiseHostError(L: LuaState, e: unknown): never {
    if (e instanceof RangeError && /call stack/i.test(e.message)) this.raiseExceeded(L, 'stack');
    if (e instanceof TerrariumError && e.code === 'ERR_MARSHAL') {
      this.pushMarshalError(L, e);
      lua.lua_error(L);
      throw new Error('unreachable: lua_error returned');
    }
    const s = sanitizeHostError(e);
    lauxlib.luaL_where(L, 1);
    lua.lua_pushstring(L, to_luastring(`${s.name}: ${s.message}${s.code ? ` (${s.code})` : ''}`));
    lua.lua_concat(L, 2);
    lua.lua_error(L);
    throw new Error('unreachable: lua_error returned');
  }

  private hostCall(L: LuaState, fn: (...args: unknown[]) => unknown, label: string): number {
    if (this.exceeded) this.raiseExceeded(L, this.exceeded);
    const n = lua.lua_gettop(L);
    const args: unknown[] = new Array(n);
    const base = L.top - n;
    try {
      for (let i = 0; i < n; i++) args[i] = toJS(L.stack[base + i] as TValue, this.markers, `$[${i}]`, 0, []);
    } catch (e) {
      if (isWireFailure(e)) {
        this.pushMarshalError(L, marshalErrorFrom(e, `arguments of ${label}`, this.errorContext(this.currentExport)));
        return lua.lua_error(L);
      }
      throw e;
    }
    let r: unknown;
    try {
      r = fn(...args);
    } catch (e) {
      if (this.exceeded) this.raiseExceeded(L, this.exceeded);
      return this.raiseHostError(L, e);
    }
    if (this.exceeded) this.raiseExceeded(L, this.exceeded);
    if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') {
      if (!this.callThreads.has(L) || !lua.lua_isyieldable(L)) {
        Promise.resolve(r).catch(() => {});
        return lauxlib.luaL_error(
          L,
          ls(`${label} is asynchronous: call it from the export itself (not at load, inside a coroutine of the plugin, or a sort/gsub callback)`),
        );
      }
      this.waiting.set(L, Promise.resolve(r));
      lua.lua_settop(L, 0);
      return lua.lua_yieldk(L, 0, 0, (L1: LuaState) => this.afterAwait(L1, label));
    }
    lua.lua_settop(L, 0);
    this.pushJS(L, r, '$', `result of ${label}`, true);
    return 1;
  }

  /** Continuation of a host call that awaited a promise: push its value or raise its error. */
  private afterAwait(L: LuaState, label: string): number {
    const o = this.outcomes.get(L);
    this.outcomes.delete(L);
    if (!o) return lauxlib.luaL_error(L, ls('terrarium: resumed without an outcome'));
    if (!o.ok) return this.raiseHostError(L, o.error);
    lua.lua_settop(L, 0);
    this.pushJS(L, o.value, '$', `result of ${label}`, true);
    return 1;
  }

  // ---- load ----------------------------------------------------------------------------------

  load(): void {
    const { L, req } = this;
    this.phase = 'load';
    this.deadline = now() + req.limits.loadTimeoutMs;
    try {
      const status = lauxlib.luaL_loadbufferx(L, to_luastring(req.source), null, to_luastring(`@${req.file}`), ls('t'));
      if (status !== lua.LUA_OK) {
        const msg = jsText(lua.lua_tolstring(L, -1) as Uint8Array);
        lua.lua_pop(L, 1);
        const f = guestFailure(msg, req.file, GLUE);
        throw new PluginLoadError(f.message, { ...this.errorContext(), ...f.where });
      }
      const co = lua.lua_newthread(L) as LuaState;
      lua.lua_pop(L, 1);
      lua.lua_xmove(L, co, 1);
      this.loadThread = co;
      const st = lua.lua_resume(co, L, 0);
      this.loadThread = undefined;
      if (st === lua.LUA_YIELD) {
        throw new PluginLoadError('the chunk yielded at load', this.errorContext(), 'A plugin cannot yield or await at its top level');
      }
      if (st !== lua.LUA_OK) throw this.failure(co, undefined);
      if (this.exceeded) throw this.limitError(undefined);
      const top = co.stack[co.top - 1];
      if (lua.lua_gettop(co) < 1 || !top || top.type !== T.TABLE) {
        throw new PluginLoadError('the chunk must return a table of exports', this.errorContext(), 'End the file with `return { myExport = myExport, meta = {...} }`');
      }
      const t = top.value as Table;
      this.moduleTable = new TValueCtor(T.TABLE, t);
      for (let e = t.f; e; e = e.n) {
        if (e.key.type !== T.LNGSTR && e.key.type !== T.SHRSTR) continue;
        const key = jsText((e.key.value as TString).realstring);
        const v = e.value;
        if (key === 'meta') {
          try {
            this.meta = toJS(v, this.markers, '$', 0, []) as PluginMeta;
          } catch (err) {
            if (isWireFailure(err)) throw metaLoadError(err, this.errorContext());
            throw err;
          }
        } else if (v.type === T.LCL || v.type === T.LCF || v.type === T.CCL) {
          this.exportFns.set(key, new TValueCtor(v.type, v.value));
          const arity = v.type === T.LCL ? ((v.value as { p: { numparams: number } }).p.numparams ?? 0) : 0;
          this.exports.push({ name: key, kind: 'function', arity, async: false });
        }
      }
      this.name = pluginNameFrom(this.meta, req, this.errorContext());
      lua.lua_settop(co, 0);
      this.threadPool.push(co);
    } finally {
      this.deadline = Infinity;
      this.phase = 'call';
    }
    this.memory.afterLoad();
  }

  // ---- calls ---------------------------------------------------------------------------------

  private takeThread(): LuaState {
    const co = this.threadPool.pop();
    if (co) return co;
    const t = lua.lua_newthread(this.L) as LuaState;
    lua.lua_pop(this.L, 1);
    return t;
  }

  call(exportName: string, args: readonly unknown[]): unknown {
    const fnTv = this.exportFns.get(exportName);
    if (!fnTv) throw new Error(`unknown export ${exportName}`);
    if (this.depth >= MAX_REENTRY) {
      this.exceeded = 'stack';
      throw this.limitError(exportName);
    }
    const co = this.takeThread();
    lua.lua_checkstack(co, args.length + 2);
    co.stack[co.top++] = new TValueCtor(fnTv.type, fnTv.value);
    try {
      for (let i = 0; i < args.length; i++) co.stack[co.top++] = toLua(co, args[i], this.markers, `$[${i}]`, 0, [], false);
    } catch (e) {
      lua.lua_settop(co, 0);
      this.threadPool.push(co);
      if (isWireFailure(e)) throw marshalErrorFrom(e, 'arguments', this.errorContext(exportName));
      throw e;
    }
    const deadline = now() + this.req.limits.callTimeoutMs;
    this.callThreads.add(co);
    const r = this.resume(co, args.length, exportName, deadline);
    if (r.done) return r.value;
    const { promise, call } = this.pending.track(co, exportName, Math.max(0, deadline - now()), () => {
      this.callThreads.delete(co);
      this.broken = true;
      return new PluginTimeoutError(this.req.limits.callTimeoutMs, 'call', this.errorContext(exportName), 'the async call did not settle in time');
    });
    this.awaitHost(call);
    return promise;
  }

  /** Wait for the host promise thread `p.key` yielded on, then resume it. */
  private awaitHost(p: AsyncCall<LuaState>): void {
    const promise = this.waiting.get(p.key)!;
    this.waiting.delete(p.key);
    promise.then(
      (value) => this.continueAsync(p, { ok: true, value, label: '' }),
      (error) => this.continueAsync(p, { ok: false, error }),
    );
  }

  private continueAsync(p: AsyncCall<LuaState>, outcome: Outcome): void {
    if (this.disposed || !this.pending.has(p.key)) return;
    if (this.broken) {
      this.pending.reject(p.key, new PluginUnavailableError('was stopped during the call', this.errorContext(p.exportName), 'Retry the call'));
      return;
    }
    this.outcomes.set(p.key, outcome);
    let r: { done: boolean; value?: unknown };
    try {
      r = this.resume(p.key, 0, p.exportName, p.deadline);
    } catch (e) {
      this.pending.reject(p.key, e);
      return;
    }
    if (r.done) {
      this.pending.resolve(p.key, r.value);
      return;
    }
    this.awaitHost(p);
  }

  /**
   * Resume an export thread until it returns, fails, or yields on a host promise. Returns
   * {done:true, value} or {done:false} (waiting); throws the TerrariumError of a failure.
   */
  private resume(co: LuaState, nargs: number, exportName: string, deadline: number): { done: boolean; value?: unknown } {
    const savedDeadline = this.deadline;
    const savedExport = this.currentExport;
    this.deadline = deadline;
    this.currentExport = exportName;
    this.depth++;
    let st: number;
    try {
      st = lua.lua_resume(co, this.depth > 1 ? null : this.L, nargs);
    } catch (e) {
      // fengari itself threw outside its protected calls (e.g. a RangeError while unwinding).
      this.callThreads.delete(co);
      this.broken = true;
      if (e instanceof RangeError && !this.exceeded) this.exceeded = 'stack';
      if (this.exceeded) throw this.limitError(exportName);
      throw new PluginThrownError(`the interpreter failed: ${(e as Error)?.message ?? String(e)}`, { ...this.errorContext(exportName), cause: e });
    } finally {
      this.depth--;
      this.deadline = savedDeadline;
      this.currentExport = savedExport;
    }
    if (st === lua.LUA_OK) {
      if (this.exceeded) {
        this.callThreads.delete(co);
        throw this.limitError(exportName);
      }
      let value: unknown;
      try {
        value = co.top > 0 && lua.lua_gettop(co) > 0 ? toJS(co.stack[co.top - lua.lua_gettop(co)] as TValue, this.markers, '$', 0, []) : undefined;
      } catch (e) {
        lua.lua_settop(co, 0);
        this.release(co);
        if (isWireFailure(e)) throw marshalErrorFrom(e, `return value of ${exportName}`, this.errorContext(exportName));
        throw e;
      }
      lua.lua_settop(co, 0);
      this.release(co);
      return { done: true, value };
    }
    if (st === lua.LUA_YIELD) {
      if (this.exceeded) {
        this.callThreads.delete(co);
        throw this.limitError(exportName);
      }
      if (this.waiting.has(co)) return { done: false };
      this.callThreads.delete(co);
      throw new PluginThrownError('attempt to yield from outside a coroutine', this.errorContext(exportName));
    }
    this.callThreads.delete(co);
    throw this.failure(co, exportName);
  }

  private release(co: LuaState): void {
    this.callThreads.delete(co);
    if (this.threadPool.length < 4) this.threadPool.push(co);
  }

  private limitError(exportName: string | undefined): TerrariumError {
    this.broken = true;
    const stack = this.limitStack;
    const ctx: ErrorContext = { ...this.errorContext(exportName), ...(stack ? { ...guestFailure(stack, this.req.file, GLUE).where, pluginStack: stack } : {}) };
    const { limits } = this.req;
    if (this.exceeded === 'memory') return new PluginMemoryError(limits.memoryBytes, ctx);
    if (this.exceeded === 'stack') return new PluginStackError(limits.stackBytes, ctx);
    return new PluginTimeoutError(this.phase === 'load' ? limits.loadTimeoutMs : limits.callTimeoutMs, this.phase, ctx);
  }

  /** The error of a dead thread (value on its top) as a TerrariumError. */
  private failure(co: LuaState, exportName: string | undefined): TerrariumError {
    if (this.exceeded) return this.limitError(exportName);
    const ctx = this.errorContext(exportName);
    const errTv = co.stack[co.top - 1] ?? new TValueCtor(T.NIL, null);
    if (errTv.type === T.USERDATA) {
      const me = this.marshalErrors.get(errTv.value as object);
      if (me) return me instanceof MarshalError ? withExport(me, exportName) : me;
    }
    let message: string;
    let thrown: unknown;
    if (errTv.type === T.LNGSTR || errTv.type === T.SHRSTR) {
      message = jsText((errTv.value as TString).realstring);
      thrown = message;
    } else if (errTv.type === T.NUMINT || errTv.type === T.NUMFLT) {
      message = String(errTv.value);
      thrown = errTv.value;
    } else {
      try {
        thrown = toJS(errTv, this.markers, '$', 0, []);
      } catch {
        thrown = undefined;
      }
      message = guestFailure(thrown ?? `(a Lua ${lua.lua_typename(co, lua.lua_type(co, -1)) ? jsText(lua.lua_typename(co, lua.lua_type(co, -1))) : 'value'})`, this.req.file, GLUE).message;
    }
    // Traceback of the dead thread (its frames are still there).
    let traceback = '';
    try {
      lauxlib.luaL_traceback(this.L, co, null, 0);
      traceback = jsText(lua.lua_tolstring(this.L, -1) as Uint8Array);
      lua.lua_pop(this.L, 1);
    } catch {
      traceback = '';
    }
    // By what fengari did (the very error value it raised for a stack overflow), never by text:
    // a plugin's own error("stack overflow") is its error.
    if (errTv.value !== null && typeof errTv.value === 'object' && this.faultValues.has(errTv.value)) {
      this.broken = true;
      return new PluginStackError(this.req.limits.stackBytes, ctx);
    }
    const fromMsg = guestFailure(message, this.req.file, GLUE).where;
    const where = fromMsg.line !== undefined ? fromMsg : guestFailure(traceback, this.req.file, GLUE).where;
    const stack = traceback || undefined;
    if (this.phase === 'load' || exportName === undefined) return new PluginLoadError(message, { ...ctx, ...where, pluginStack: stack });
    return new PluginThrownError(message, { ...ctx, ...where, pluginStack: stack }, thrown);
  }

  extraRoots(): Iterable<TValue> {
    const roots: TValue[] = [];
    if (this.moduleTable) roots.push(this.moduleTable);
    for (const th of this.threadPool) roots.push(new TValueCtor(T.THREAD, th));
    for (const th of this.callThreads) roots.push(new TValueCtor(T.THREAD, th));
    return roots;
  }

  /**
   * A fresh measurement (a walk of the reachable Lua data, sizes estimated per object as in
   * guard.ts), taken when read: reading it costs O(live objects), calls never do.
   */
  memoryBytes(): number {
    if (this.disposed) return 0;
    return this.memory.walk();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.pending.rejectAll((p) => new PluginUnavailableError('was disposed during the call', this.errorContext(p.exportName), 'Retry the call'));
    this.waiting.clear();
    this.outcomes.clear();
    this.callThreads.clear();
    this.threadPool.length = 0;
    this.exportFns.clear();
    (this.L.l_G as { terrarium?: LuaInstance }).terrarium = undefined;
    // fengari has no lua_close resources to free: dropping the references frees the state.
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

function withExport(e: MarshalError, exportName: string | undefined): MarshalError {
  if (exportName === undefined || e.exportName !== undefined) return e;
  Object.defineProperty(e, 'exportName', { value: exportName });
  return e;
}

// The patched fengari reports here; states that are not Terrarium's are left alone.
guardHooks.alloc = (L, bytes) => {
  const inst = ((L as LuaState | null)?.l_G as { terrarium?: LuaInstance } | undefined)?.terrarium;
  if (inst) inst.onAlloc(L as LuaState, bytes);
};
guardHooks.matchSlice = (L) => {
  // Without a state (a byte comparison deep in fengari) the debt stays for the next site that has one.
  if (!L) return;
  guardHooks.steps = MATCH_SLICE;
  const inst = ((L as LuaState | null)?.l_G as { terrarium?: LuaInstance } | undefined)?.terrarium;
  if (inst) inst.onMatchSlice(L as LuaState);
};
guardHooks.steps = MATCH_SLICE;
guardHooks.codeSlice = (L) => {
  guardHooks.code = CODE_SLICE;
  instanceOf(L)?.onCodeSlice(L as LuaState);
};
guardHooks.code = CODE_SLICE;
guardHooks.compileReset = (L) => {
  guardHooks.code = CODE_SLICE;
  instanceOf(L)?.compileReset();
};
guardHooks.fault = (L) => instanceOf(L)?.onFault();
guardHooks.caught = (L, tv) => instanceOf(L)?.onCaught(tv as TValue | undefined);
guardHooks.growStack = (L, n) => instanceOf(L)?.onGrowStack(L as LuaState, n);

function instanceOf(L: unknown): LuaInstance | undefined {
  return ((L as LuaState | null)?.l_G as { terrarium?: LuaInstance } | undefined)?.terrarium;
}

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
