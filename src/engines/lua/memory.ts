/**
 * Memory containment for a fengari state, which has no allocator of its own (its objects are
 * ordinary V8 objects and its strings Uint8Arrays outside the V8 heap). Two parts:
 *
 * 1. Single allocations: the patched `..` and string buffers report each string size before it is
 *    allocated (`alloc`); one string may not exceed half of memoryBytes, and every memoryBytes/8
 *    of string allocation forces a `check`, so `s = s .. s` cannot run ahead of the checks.
 * 2. Growth: `check` (from the count hook and from `alloc`) reads the process heap (V8 used heap +
 *    external memory, ~1.6 µs) and only when it grew by more than the headroom left since the last
 *    walk does it walk this state's reachable Lua data (`walk`) to estimate what the plugin holds.
 *    Over memoryBytes -> ERR_PLUGIN_MEMORY. Garbage and other plugins' growth only cost a walk,
 *    never a false violation; the walk (O(live objects)) happens at most once per quarter of
 *    memoryBytes of process heap growth. The first check after the load always walks (the load
 *    itself measures nothing: an idle standby never pays for a walk).
 *
 * Sizes are estimates calibrated against V8 on Node 20 (see the README, "Memory and long built-ins"): a table entry
 * (Map slot + entry record + two TValues) costs ~170 bytes, a
 * table ~450 bytes, a string ~240 bytes + its length (measured with forced GCs, 200k objects).
 */
import v8 from 'node:v8';
import { type LuaState, T, type TString, type TValue, type Table } from './marshal.js';

const STRING_OVERHEAD = 240;
const TABLE_OVERHEAD = 450;
const ENTRY_BYTES = 170;
const CLOSURE_OVERHEAD = 120;
const UPVALUE_BYTES = 40;
const INSTR_BYTES = 96;
const THREAD_OVERHEAD = 600;
/** Bytes of one Lua stack slot (a TValue and its array cell). */
export const SLOT_BYTES = 40;
const USERDATA_BYTES = 150;

export function heapNow(): number {
  const h = v8.getHeapStatistics();
  return h.used_heap_size + h.external_memory;
}

/** What the guard needs from its instance. */
export interface GuardOwner {
  readonly L: LuaState;
  /** Values the engine holds outside the registry: the module table, pooled and running threads. */
  extraRoots(): Iterable<TValue>;
  raiseExceeded(L: LuaState, why: 'memory'): never;
}

interface Proto {
  code: unknown[];
  k: TValue[];
  p: Proto[];
  lineinfo: unknown[];
}
interface LuaStateFull extends LuaState {
  stack: TValue[];
}

export class MemoryGuard {
  /** Estimated bytes of Lua data at the last walk. */
  private live = 0;
  /** Process heap at the last walk. */
  private baseHeap = 0;
  private allocated = 0;
  /** `live` is not known yet (after load, until the first check walks). */
  private stale = false;
  readonly maxString: number;
  private readonly allocCheckEvery: number;

  constructor(
    private readonly owner: GuardOwner,
    private readonly limit: number,
  ) {
    this.maxString = Math.floor(limit / 2);
    this.allocCheckEvery = Math.floor(limit / 8);
    this.baseHeap = heapNow();
  }

  /**
   * The load is over: what the plugin holds is measured at the first check, not now. Most
   * instances are idle standbys that never run a check, and a walk was ~10% of creating one.
   */
  afterLoad(): void {
    this.stale = true;
  }

  estimate(): number {
    if (this.stale) {
      this.stale = false;
      this.live = this.walk();
      this.baseHeap = heapNow();
    }
    return this.live;
  }

  /** A string of `bytes` is about to be allocated. */
  alloc(L: LuaState, bytes: number): void {
    if (bytes > this.maxString) this.owner.raiseExceeded(L, 'memory');
    this.allocated += bytes;
    if (this.allocated > this.allocCheckEvery) {
      this.allocated = 0;
      this.check(L, bytes);
    }
  }

  /** Cheap heap read; walks the state only when the heap grew past the headroom. */
  check(L: LuaState, extra = 0): void {
    const now = heapNow();
    const h = now + extra;
    // A heap that shrank since the last walk (a GC) must not offset `extra`: only growth counts.
    if (!this.stale && Math.max(0, now - this.baseHeap) + extra + this.live <= this.limit) return;
    this.stale = false;
    const live = this.walk() + extra;
    this.baseHeap = h;
    if (live > this.limit) {
      this.live = live;
      this.owner.raiseExceeded(L, 'memory');
    }
    // Leave at least a quarter of the limit as headroom so a plugin close to its limit does not
    // make every check walk (it may then hold up to 1.25x memoryBytes before the next walk).
    this.live = Math.min(live, this.limit * 0.75);
  }

  /** Estimated bytes held by everything reachable from the state's registry and threads. */
  walk(): number {
    const L = this.owner.L as LuaStateFull;
    const g = L.l_G as { l_registry: TValue; mt: (Table | null)[]; mainthread: LuaState };
    const seen = new Set<unknown>();
    const todo: TValue[] = [];
    let bytes = 0;
    const push = (tv: TValue | undefined): void => {
      if (!tv) return;
      const t = tv.type;
      if (t === T.NIL || t === T.BOOLEAN || t === T.NUMINT || t === T.NUMFLT || t === T.LCF || t === T.LIGHTUSERDATA) return;
      if (seen.has(tv.value)) return;
      seen.add(tv.value);
      todo.push(tv);
    };
    const pushTable = (t: Table | null): void => {
      if (t) push({ type: T.TABLE, value: t });
    };
    push(g.l_registry);
    for (const mt of g.mt) pushTable(mt ?? null);
    push({ type: T.THREAD, value: g.mainthread });
    for (const tv of this.owner.extraRoots()) push(tv);
    const protoBytes = (p: Proto): number => {
      if (seen.has(p)) return 0;
      seen.add(p);
      let n = CLOSURE_OVERHEAD + p.code.length * INSTR_BYTES + p.lineinfo.length * 8;
      for (const k of p.k) {
        if (k.type === T.LNGSTR || k.type === T.SHRSTR) n += STRING_OVERHEAD + (k.value as TString).realstring.length;
        else n += 16;
      }
      for (const sub of p.p) n += protoBytes(sub);
      return n;
    };
    while (todo.length) {
      const tv = todo.pop()!;
      switch (tv.type) {
        case T.SHRSTR:
        case T.LNGSTR: {
          const ts = tv.value as TString;
          // a string used as a table key also caches its key: Latin-1 up to 4 KiB, a digest above (fengari.ts)
          bytes += STRING_OVERHEAD + ts.realstring.length + (typeof ts.hash === 'string' ? 40 + ts.hash.length : 0);
          break;
        }
        case T.TABLE: {
          const t = tv.value as Table;
          bytes += TABLE_OVERHEAD + t.strong.size * ENTRY_BYTES;
          for (let e = t.f; e; e = e.n) {
            push(e.key);
            push(e.value);
          }
          pushTable(t.metatable);
          break;
        }
        case T.LCL: {
          const cl = tv.value as { p: Proto; upvals: TValue[] };
          bytes += CLOSURE_OVERHEAD + cl.upvals.length * UPVALUE_BYTES + protoBytes(cl.p);
          for (const u of cl.upvals) push(u);
          break;
        }
        case T.CCL: {
          const cl = tv.value as { upvalue: TValue[] };
          bytes += CLOSURE_OVERHEAD + cl.upvalue.length * UPVALUE_BYTES;
          for (const u of cl.upvalue) push(u);
          break;
        }
        case T.USERDATA: {
          const u = tv.value as { metatable: Table | null; uservalue: TValue };
          bytes += USERDATA_BYTES;
          pushTable(u.metatable);
          push(u.uservalue);
          break;
        }
        case T.THREAD: {
          const th = tv.value as LuaStateFull;
          const stack = th.stack ?? [];
          bytes += THREAD_OVERHEAD + stack.length * SLOT_BYTES;
          const top = Math.min(th.top, stack.length);
          for (let i = 0; i < top; i++) push(stack[i]);
          break;
        }
        default:
          bytes += 64;
      }
    }
    return bytes;
  }
}
