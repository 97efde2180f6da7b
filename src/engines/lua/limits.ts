/**
 * The limits of one Lua state: the deadline of the running load or call, the stack bound, and
 * the memory guard, checked from the places fengari lets us run code. Kept apart from the
 * instance because this is the part that must hold against a hostile plugin; it knows nothing of
 * exports, promises or marshalling.
 *
 * - time: a count hook (every HOOK_EVERY VM instructions, inherited by every coroutine) checks
 *   the deadline; fengari's built-ins, where the hook never runs, count their work through the
 *   patches of patches.ts and report every MATCH_SLICE units (onMatchSlice);
 * - stack: the hook bounds the Lua stack of each thread (stackBytes / BYTES_PER_SLOT slots);
 *   fengari bounds nested C calls itself (200), reporting its own overflows (onFault/onCaught:
 *   classified by the error value, never its text);
 * - memory: see memory.ts, plus the compiler's output (onCodeSlice) and large stack growth
 *   (onGrowStack).
 * Once a limit trips, `exceeded` is set and nothing the plugin does can carry on past it:
 * - every place where plugin code catches an error (pcall, xpcall, load, coroutine.resume and
 *   wrap: patches.ts, `caughtByPlugin`) raises it again, up to the export's thread;
 * - no message handler runs for it (`handlerMayRun`): a handler would be plugin code running after
 *   the limit, and for a limit raised by the count hook it would even run with hooks off;
 * - the thread that tripped it checks at every instruction from then on, and every other check
 *   (hook, work slices, host calls, large allocations) re-raises it.
 * Re-raising in the hook alone was not enough: the hook count restarts at each hook, so in
 * `while true do pcall(spin) end` the hook always fired inside `spin`, pcall caught it, and the
 * loop never ended. The patched fengari reports to the process-wide guardHooks, wired at the end
 * of this file to the Budget of the state (`L.l_G.terrarium`).
 */
import type { GuestGate } from '../../engine.js';
import type { Limits } from '../../types.js';
import { type ErrorContext, PluginMemoryError, PluginStackError, PluginTimeoutError, type TerrariumError } from '../../errors.js';
import { guestFailure } from '../../binding/failures.js';
import { chunkKey, findChunk, keepChunk, pushChunk } from './chunks.js';
import { fengari, guardHooks } from './fengari.js';
import type { LoadBuffer } from './hooks.js';
import { type GuardOwner, MemoryGuard, SLOT_BYTES } from './memory.js';
import type { LuaState, TValue } from './marshal.js';
import { GLUE, ls, raise, tracebackOf } from './text.js';

const { lua } = fengari;

/** VM instructions between two budget checks (time, stack, memory). */
const HOOK_EVERY = 1000;
/** Units of built-in work (pattern steps, table-loop steps, bytes/16 hashed...) between two deadline checks. */
const MATCH_SLICE = 1 << 16;
/** Allocations below this many bytes do not read the clock (onAlloc). */
const SMALL_ALLOC = 4096;
/** Compiled instructions between two checks of the compiler's deadline and memory. */
const CODE_SLICE = 1 << 12;
/** Bytes a compiled instruction holds with its share of line info, constants and lexer strings (measured, see README). */
const CODE_BYTES = 200;
/** Lua stack slots allowed per stackBytes byte (a slot is a TValue, ~16-32 bytes in V8). */
const BYTES_PER_SLOT = 16;

export const now = () => performance.now();

/** fengari's per-thread count-hook fields (ldebug.js): the window and what is left of it. */
interface Counted extends LuaState {
  basehookcount: number;
  hookcount: number;
}

/** Which limit stopped the instance. */
export type Exceeded = 'timeout' | 'memory' | 'stack';

const MESSAGES: Record<Exceeded, string> = {
  timeout: 'terrarium: time budget exceeded',
  memory: 'terrarium: not enough memory',
  stack: 'terrarium: stack overflow',
};

export class Budget implements GuardOwner {
  /** When the running load or call must stop (performance.now() time): the guest gate's. */
  get deadline(): number {
    return this.gate.deadline;
  }
  phase: 'call' | 'load' = 'load';
  exceeded: Exceeded | null = null;
  readonly memory: MemoryGuard;
  /** Where the limit tripped (a traceback taken before unwinding), for the error's file:line. */
  private limitStack: string | undefined;
  private readonly maxSlots: number;
  /** Estimated bytes of the chunk being compiled (the compiler's data is not reachable by the walk). */
  private compileBytes = 0;
  /** fengari raised a stack overflow of its own; the next error a protected call catches is it. */
  private faultPending = false;
  /** Error values fengari itself raised for a stack overflow (identity, never message text). */
  private readonly faultValues = new WeakSet<object>();
  /** Inside raiseExceeded (its traceback may grow the stack). */
  private raising = false;
  private readonly hook = (L1: LuaState) => this.onHook(L1);
  /**
   * VM instructions run so far (the engine's work units, `terrarium cost`): every hook adds the
   * window it closes, and `countFrom`/`countTo` add the part of a window an export thread ran.
   */
  work = 0;

  /** Where `co`'s hook countdown stands before it resumes (see `work`). */
  countFrom(co: LuaState): number {
    return (co as Counted).hookcount;
  }
  /** `co` stopped: add the instructions it ran since `countFrom` that no hook counted. */
  countTo(co: LuaState, from: number): void {
    this.work += from - (co as Counted).hookcount;
  }

  constructor(
    readonly L: LuaState,
    private readonly limits: Limits,
    private readonly roots: () => Iterable<TValue>,
    private readonly gate: GuestGate,
  ) {
    this.maxSlots = Math.max(1024, Math.floor(limits.stackBytes / BYTES_PER_SLOT));
    attachBudget(L, this);
    // Before any plugin code: hooks are per thread and new threads copy their creator's hook.
    lua.lua_sethook(L, this.hook, lua.LUA_MASKCOUNT, HOOK_EVERY);
    // Before the libraries: the patched fengari may report to it while they are opened.
    this.memory = new MemoryGuard(this, limits.memoryBytes);
  }

  extraRoots(): Iterable<TValue> {
    return this.roots();
  }

  /** Raise the current limit error inside Lua (a string, so it also reads well if printed). */
  raiseExceeded(L: LuaState, why: Exceeded): never {
    if (!this.exceeded) {
      // Where it happened, for the error's file:line (the thread is unwound before we see it).
      // Taken before setting `exceeded`, which makes every string allocation fail.
      this.raising = true;
      try {
        this.limitStack = tracebackOf(L, L);
      } finally {
        this.raising = false;
      }
      this.exceeded = why;
      // From now on this thread stops at its next instruction, whatever catches this error.
      lua.lua_sethook(L, this.hook, lua.LUA_MASKCOUNT, 1);
    }
    // No luaL_error: its message formatting allocates through the guarded paths again.
    lua.lua_pushstring(L, ls(MESSAGES[this.exceeded]));
    return raise(L);
  }

  /** Re-raise a limit that already tripped (pcall must not get past it). */
  recheck(L: LuaState): void {
    if (this.exceeded) this.raiseExceeded(L, this.exceeded);
  }

  /** A JS stack overflow was seen outside Lua's view: the instance stops for the stack limit. */
  markStack(): void {
    if (!this.exceeded) this.exceeded = 'stack';
  }

  /** The limit error for the limit that tripped, with where it happened. */
  error(ctx: ErrorContext, file: string): TerrariumError {
    const stack = this.limitStack;
    const full: ErrorContext = { ...ctx, ...(stack ? { ...guestFailure(stack, file, GLUE).where, pluginStack: stack } : {}) };
    const { limits } = this;
    if (this.exceeded === 'memory') return new PluginMemoryError(limits.memoryBytes, full);
    if (this.exceeded === 'stack') return new PluginStackError(limits.stackBytes, full);
    return new PluginTimeoutError(this.phase === 'load' ? limits.loadTimeoutMs : limits.callTimeoutMs, this.phase, full);
  }

  /** The value is the error fengari raised for a stack overflow of its own. */
  isFault(value: unknown): boolean {
    return value !== null && typeof value === 'object' && this.faultValues.has(value);
  }

  private checkTime(L: LuaState): void {
    this.recheck(L);
    if (now() > this.deadline) this.raiseExceeded(L, 'timeout');
  }

  onHook(L: LuaState): void {
    this.work += (L as Counted).basehookcount;
    this.checkTime(L);
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
    // Small strings (every `..` of a plugin's loop) leave that to the count hook and the work
    // slices: reading the clock was a tenth of such a loop.
    if (bytes >= SMALL_ALLOC && now() > this.deadline) this.raiseExceeded(L, 'timeout');
  }

  /**
   * fengari calls this every MATCH_SLICE units of built-in work (pattern steps, table-loop steps,
   * bytes hashed/compared/searched, characters lexed): the deadline, and the memory guard, since a
   * table loop (table.move with a lying __len) fills memory without running a VM instruction.
   */
  onMatchSlice(L: LuaState): void {
    this.checkTime(L);
    if (!this.raising) this.memory.check(L, this.compileBytes);
  }

  compileReset(): void {
    this.compileBytes = 0;
  }

  /** The compiler emitted CODE_SLICE more instructions: what they hold counts against memoryBytes. */
  onCodeSlice(L: LuaState): void {
    this.compileBytes += CODE_SLICE * CODE_BYTES;
    this.checkTime(L);
    this.memory.check(L, this.compileBytes);
  }

  /**
   * A Lua stack grows: string.byte, table.unpack, string.char's callers push up to a million
   * values (~40 MB) inside one built-in, before any hook runs. A large growth is checked against
   * memoryBytes first (plain Lua allows it, so it is a memory question, not a stack one).
   */
  onGrowStack(L: LuaState, n: number): void {
    if (this.exceeded || this.raising || n < 4096) return;
    this.memory.check(L, n * SLOT_BYTES);
  }

  /**
   * luaL_loadbufferx on this state. The source an instance loads at its start (text, on the main
   * thread, while loading: plugin code never runs on the main thread) is compiled once per process
   * (chunks.ts); a copy of a chunk compiled before is charged what its compile charged against
   * memoryBytes (replayCompile), so the limit holds whichever way the chunk arrives.
   */
  onLoadChunk(L: LuaState, buff: Uint8Array, name: Uint8Array | null, mode: Uint8Array | null, compile: LoadBuffer): number {
    const textOnly = mode !== null && mode.length === 1 && mode[0] === 0x74;
    const key = textOnly && this.phase === 'load' && L === (L.l_G as { mainthread: unknown }).mainthread ? chunkKey(buff) : undefined;
    if (key === undefined) return compile(L, buff, null, name, mode);
    const kept = findChunk(key);
    if (!kept) {
      const status = compile(L, buff, null, name, mode);
      if (status === lua.LUA_OK) keepChunk(L, key);
      return status;
    }
    if (kept.instructions > CODE_SLICE) {
      const status = this.replayCompile(L, kept.instructions);
      if (status !== lua.LUA_OK) return status;
    }
    pushChunk(L, kept, name ?? ls('?'));
    return lua.LUA_OK;
  }

  /** The compiler's checks for a chunk of `instructions` (onCodeSlice, every CODE_SLICE), in a protected call. */
  private replayCompile(L: LuaState, instructions: number): number {
    lua.lua_pushcfunction(L, (L1: LuaState) => {
      this.compileReset();
      for (let n = instructions; n > CODE_SLICE; n -= CODE_SLICE) this.onCodeSlice(L1);
      this.compileReset();
      return 0;
    });
    return lua.lua_pcall(L, 0, 0, 0) as number;
  }

  onFault(): void {
    this.faultPending = true;
  }

  onCaught(tv: TValue | undefined): void {
    if (!this.faultPending) return;
    this.faultPending = false;
    if (tv && tv.value !== null && typeof tv.value === 'object') this.faultValues.add(tv.value);
  }
}

/** The Budget of a Terrarium state; undefined for states that are not Terrarium's (left alone). */
function budgetOf(L: unknown): Budget | undefined {
  return ((L as LuaState | null)?.l_G as { terrarium?: Budget } | undefined)?.terrarium;
}

/** Make L's state report to `budget` (undefined: stop reporting, at dispose; the constructor attaches it). */
export function attachBudget(L: LuaState, budget: Budget | undefined): void {
  (L.l_G as { terrarium?: Budget }).terrarium = budget;
}

guardHooks.alloc = (L, bytes) => budgetOf(L)?.onAlloc(L as LuaState, bytes);
guardHooks.matchSlice = (L) => {
  // Without a state (a byte comparison deep in fengari) the debt stays for the next site that has one.
  if (!L) return;
  guardHooks.steps = MATCH_SLICE;
  budgetOf(L)?.onMatchSlice(L as LuaState);
};
guardHooks.steps = MATCH_SLICE;
guardHooks.codeSlice = (L) => {
  guardHooks.code = CODE_SLICE;
  budgetOf(L)?.onCodeSlice(L as LuaState);
};
guardHooks.code = CODE_SLICE;
guardHooks.compileReset = (L) => {
  guardHooks.code = CODE_SLICE;
  budgetOf(L)?.compileReset();
};
guardHooks.fault = (L) => budgetOf(L)?.onFault();
guardHooks.caught = (L, tv) => budgetOf(L)?.onCaught(tv as TValue | undefined);
guardHooks.caughtByPlugin = (L) => budgetOf(L)?.recheck(L as LuaState);
guardHooks.handlerMayRun = (L) => !budgetOf(L)?.exceeded;
guardHooks.growStack = (L, n) => budgetOf(L)?.onGrowStack(L as LuaState, n);
guardHooks.loadChunk = (L, buff, name, mode, compile) => {
  const budget = budgetOf(L);
  return budget ? budget.onLoadChunk(L as LuaState, buff, name, mode, compile) : compile(L, buff, null, name, mode);
};
