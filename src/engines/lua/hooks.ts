/**
 * What the patched fengari (patches.ts) calls back into, and the native replacements it uses for
 * its string primitives. One object per process: fengari's modules reach it as
 * `module.__terrarium`; the Lua engine (limits.ts) dispatches each call to the Budget that owns
 * the state (`L.l_G.terrarium`).
 */
import { createHash } from 'node:crypto';
import { T } from './tags.js';

/** What the patched fengari calls back into; one per process, dispatching on the state's `l_G.terrarium`. */
export interface GuardHooks {
  /** A string or buffer of `bytes` is about to be allocated by `..`, a string buffer or the lexer. May throw a Lua error. */
  alloc(L: unknown, bytes: number): void;
  /**
   * A built-in used up its work slice (pattern steps, table-loop steps, bytes compared or hashed,
   * lexer characters): check the deadline and the memory guard, refill `steps`. May throw a Lua
   * error. Called with `null` where fengari has no state at hand: the debt stays for the next site.
   */
  matchSlice(L: unknown): void;
  /** Remaining units of built-in work before `matchSlice` is called. */
  steps: number;
  /** The compiler emitted `codeEvery` instructions: charge their memory, check the deadline. */
  codeSlice(L: unknown): void;
  code: number;
  /** The compiler starts or ends a chunk (load, or a plugin's own source): its accounting restarts at 0. */
  compileReset(L: unknown): void;
  /** fengari itself raised a stack overflow ("stack overflow", "JS stack overflow", "error in error handling"). */
  fault(L: unknown): void;
  /** The error value a protected call just caught (after `fault`, it is the engine's own). */
  caught(L: unknown, tv: unknown): void;
  /**
   * The plugin's code caught an error (pcall, xpcall, load, coroutine.resume or wrap): a limit that
   * tripped is raised again, so no plugin code runs after it. May throw a Lua error.
   */
  caughtByPlugin(L: unknown): void;
  /** A message handler (xpcall's) is about to run for an error: false once a limit tripped. */
  handlerMayRun(L: unknown): boolean;
  /** A Lua stack is about to grow to hold `n` more slots. May throw a Lua error. */
  growStack(L: unknown, n: number): void;
  /**
   * luaL_loadbufferx was called: compile with `compile` (fengari's own), or push a copy of a chunk
   * compiled before (chunks.ts). Returns the status, as luaL_loadbufferx does.
   */
  loadChunk(L: unknown, buff: Uint8Array, name: Uint8Array | null, mode: Uint8Array | null, compile: LoadBuffer): number;
  /** The metamethod names (TStrings, immutable) made by the first state, shared by the later ones. */
  tmnames?: unknown[];
  /** fengari's `next` (lbaselib's luaB_next): a generic for over it is run inline (nextInline). */
  next?: unknown;
}

/** fengari's luaL_loadbufferx (its size argument is unused: the whole buffer is read). */
export type LoadBuffer = (L: unknown, buff: Uint8Array, size: number | null, name: Uint8Array | null, mode: Uint8Array | null) => number;

export const guardHooks: GuardHooks = {
  alloc() {},
  matchSlice(L) {
    if (L) guardHooks.steps = 1 << 16;
  },
  steps: 1 << 16,
  codeSlice() {
    guardHooks.code = 1 << 10;
  },
  code: 1 << 10,
  compileReset() {},
  fault() {},
  caught() {},
  caughtByPlugin() {},
  handlerMayRun: () => true,
  growStack() {},
  loadChunk: (L, buff, name, mode, compile) => compile(L, buff, null, name, mode),
};

/**
 * The key fengari's tables use for a string, and its compiler for constants. fengari's own is "|"
 * then the unpadded hex of each byte, so different strings collide ("\6w" and "gu" are both
 * "|677") and it costs a rope of 2 characters per byte. Here it is injective: the bytes as Latin-1
 * characters for strings up to 4 KiB, and for longer ones (where V8 hashes a string by its length
 * alone, which would turn a Map lookup into a chain walk) a SHA-256 digest plus the length, so
 * hashing is one native pass and a cached key is at most ~60 characters. "&" is a prefix fengari
 * uses for nothing else ("*", "#", "?" mark light userdata).
 */
function luaHash(s: Uint8Array): string {
  const n = s.length;
  // One flat string (a `+=` loop left a rope of one node per byte, kept as long as the key lives).
  if (n <= 32) return '|' + String.fromCharCode.apply(null, s as unknown as number[]);
  guardHooks.steps -= n >> 4;
  if (n <= 4096) return '|' + Buffer.from(s.buffer, s.byteOffset, n).toString('latin1');
  return '&' + n + ':' + createHash('sha256').update(s).digest('base64');
}

const view = (s: Uint8Array) => Buffer.from(s.buffer, s.byteOffset, s.length);

/** Byte order of two Lua strings (C Lua: strcoll in the "C" locale), charged as work. */
function luaCompare(a: Uint8Array, b: Uint8Array): number {
  if (a === b) return 0;
  guardHooks.steps -= Math.min(a.length, b.length) >> 8;
  return Buffer.compare(view(a), view(b));
}

/** Equality of byte strings, native for long ones, charged as work. */
function luaEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  const n = a.length;
  if (n !== b.length) return false;
  if (n < 64) {
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  guardHooks.steps -= n >> 8;
  return view(a).equals(view(b));
}

/** Charges a block of search work and settles the debt now (a deadline or memory check). */
function searchWork(L: unknown, units: number): void {
  guardHooks.steps -= units;
  if (guardHooks.steps < 0) guardHooks.matchSlice(L);
}

/**
 * Plain find. fengari's is a naive scan (quadratic, no check), and so is Node's native
 * Buffer.indexOf in its worst case ("a"x1e6 .. "b" .. "a"x1e6 in "a"x4e6 ran for minutes), so a
 * needle over 8 bytes is searched with Knuth-Morris-Pratt: at most 2n + m steps, checking the
 * deadline every 64 KiB, with its 4-byte-per-needle-byte table reported as an allocation. Short
 * needles (at most 8 x n compares in the worst case) use the native search, window by window.
 */
function luaIndexOf(s: Uint8Array, p: Uint8Array, L: unknown): number {
  const n = s.length;
  const m = p.length;
  if (m === 0) return 0;
  if (m > n) return -1;
  if (m <= 8) {
    // native, in 1 MiB windows (at most 8 M compares each), checking between windows
    const sv = view(s);
    const pv = view(p);
    for (let start = 0; start < n; start += 1 << 20) {
      const r = sv.subarray(start, Math.min(n, start + (1 << 20) + m - 1)).indexOf(pv);
      if (r !== -1) return start + r;
      searchWork(L, 1 << 16);
    }
    return -1;
  }
  if (m > 1024) guardHooks.alloc(L, 4 * m);
  const fail = new Int32Array(m);
  for (let i = 1, k = 0; i < m; i++) {
    if ((i & 0xffff) === 0) searchWork(L, 1 << 14);
    while (k > 0 && p[i] !== p[k]) k = fail[k - 1]!;
    if (p[i] === p[k]) k++;
    fail[i] = k;
  }
  for (let i = 0, k = 0; i < n; i++) {
    if ((i & 0xffff) === 0) searchWork(L, 1 << 14);
    const c = s[i];
    while (k > 0 && c !== p[k]) k = fail[k - 1]!;
    if (c === p[k]) k++;
    if (k === m) return i - m + 1;
  }
  return -1;
}

/** Longest string that converts to a number (tonumber, arithmetic on strings, numerals in source). */
const MAX_NUMERAL = 4096;
function numeralText(s: Uint8Array): string {
  return view(s).toString('latin1');
}

const encoder = new TextEncoder();

/**
 * UTF-8 bytes of a JS string without lone surrogates (fengari's to_luastring, for those strings:
 * it built a JS array of boxed bytes first); ASCII without TextEncoder's call overhead.
 */
export function utf8(s: string): Uint8Array {
  const n = s.length;
  if (n < 256) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 127) return encoder.encode(s);
      out[i] = c;
    }
    return out;
  }
  return encoder.encode(s);
}

interface Cell {
  type: number;
  value: unknown;
  setfrom(o: Cell): void;
  setnilvalue(): void;
}
interface Entry {
  key: Cell;
  value: Cell;
  n: Entry | undefined;
}
interface NextTable {
  f: Entry | undefined;
  strong: Map<unknown, Entry>;
}

/**
 * One step of `for k, v in pairs(t)` (OP_TFORCALL with fengari's own `next` on a table), without
 * the C call: what luaH_next would leave in the loop's `nres` variables at stack[cb..]. fengari's
 * call protocol (frame, argument copies, popping and re-creating stack slots) was a third of such
 * a loop. Returns false, having changed nothing, whenever the step is not the plain case (a key
 * deleted during the traversal, a key that is not in the table, a float or unhashed key, a
 * missing slot, a stack whose top is not the frame's): the real call then runs, with its errors.
 */
function nextInline(L: { stack: (Cell | undefined)[]; top: number }, ra: number, cb: number, nres: number, top: number): boolean {
  const stack = L.stack;
  if (L.top !== top) return false;
  for (let j = 0; j < top - cb; j++) if (stack[cb + j] === undefined) return false;
  const t = stack[ra + 1]!.value as NextTable;
  const key = stack[ra + 2]!;
  let entry: Entry | undefined;
  if (key.type === T.NIL) entry = t.f;
  else {
    let hash: unknown;
    if (key.type === T.NUMINT) hash = key.value;
    else if (key.type === T.SHRSTR || key.type === T.LNGSTR) hash = (key.value as { hash: unknown }).hash;
    else return false;
    if (hash === null) return false;
    const at = t.strong.get(hash);
    if (!at) return false;
    entry = at.n;
  }
  // The registers above the loop variables are cleared as the call left them (no local of the
  // loop body is live here, and a captured one was closed at the end of the iteration), so the
  // memory guard sees what it saw with the call.
  let j = 0;
  if (entry) {
    stack[cb]!.setfrom(entry.key);
    j = 1;
    if (nres > 1) {
      stack[cb + 1]!.setfrom(entry.value);
      j = 2;
    }
  }
  for (; cb + j < top; j++) stack[cb + j]!.setnilvalue();
  return true;
}

export const helpers = { nextInline, luaHash, luaCompare, luaEqual, luaIndexOf, numeralText, utf8, MAX_NUMERAL };
