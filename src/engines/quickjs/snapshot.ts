/**
 * A memory image of a glue-ready QuickJS instance, copied into each new instance (the Wizer idea),
 * so an instance does not parse the ~25 KB glue again (bench/results/load-js.md: ~65% of a load).
 *
 * How it stays sound:
 * - Made once per process by the host, from its own glue (guest.ts), before any plugin code runs
 *   in it; never from plugin input. Each instance gets its own `WebAssembly.Memory` and a copy.
 * - Every instance is built by the same deterministic steps up to the point where the glue would
 *   be evaluated (WebAssembly instance, emscripten init, runtime, interrupt handler, context:
 *   InstanceCore's constructor). So the template's memory at that point equals every instance's,
 *   and only the 4 KiB pages the glue's evaluation changed in the template are copied in (a few
 *   hundred KB, not the 16 MiB range). That equality is checked at startup: a second instance is
 *   built alongside the template and compared byte for byte; any difference other than Math.random's
 *   seed disables the snapshot (instances then parse the glue, as before).
 * - The JavaScript-side state of quickjs-emscripten (the runtime and context wrappers, the module's
 *   callback maps keyed by runtime/context pointer) is built by each instance's own constructor
 *   and refers to the same pointers as the template's, since those come from the same steps.
 *   The only pointer the copy adds is the glue object's JSValue, handed to the instance as a handle
 *   it owns (freed on dispose like an evaluated one). The WebAssembly stack pointer is at rest when
 *   the image is taken (no call is on the WebAssembly stack), as in a fresh instance.
 * - QuickJS seeds Math.random per context from the clock (millisecond resolution under
 *   emscripten), so copied pages would give every plugin the template's sequence: each copy gets a
 *   fresh seed from crypto.getRandomValues in the context's `random_state`, whose offset in the
 *   context is found at startup by calling Math.random and checking the xorshift64* step.
 * - A template that grew its memory needs as many pages in the instance: the engine creates the
 *   instance's memory with that size when it fits under the plugin's memoryBytes, and otherwise
 *   does not use the snapshot (the cap is never raised for it).
 */
import type { QuickJSContext } from 'quickjs-emscripten-core';
import { GLUE_FILE, GUEST_GLUE } from './guest.js';

/** Granularity of the copy (a Linux page: untouched pages of a fresh memory stay unmapped). */
const PAGE = 4096;
/** How far into the JSContext struct the Math.random seed is looked for (the struct is ~0.5 KB). */
const CONTEXT_SCAN = 2048;
const WASM_PAGE = 65536;

/**
 * Samples of every kind the direct path tells apart by class id (instance.ts probeClasses: plain
 * objects, arrays, and others that must not pass for either). The template evaluates it after the
 * glue, so copies do not parse it either.
 */
export const CLASS_PROBE = `(() => { class A {} return [{}, Object.create(null), { a: 1, b: [] }, new A(), [], [1, , 3], new Proxy({}, {}), new Proxy([], {}), () => 1, function () {}, new Uint8Array(1), new Map(), new Date(0), new Error('x')]; })()`;

/** A fresh instance stopped where its glue would be evaluated (InstanceCore's constructor done). */
export interface SnapshotSubject {
  memory: WebAssembly.Memory;
  ctx: QuickJSContext;
  ctxPtr: number;
  malloc(bytes: number): number;
}

export interface SnapshotOptions {
  /**
   * Tests only: allocate this many bytes more in the template after its glue (through emscripten's
   * own heap growth), so the image is larger than a fresh instance's memory.
   */
  extraBytes?: number;
}

export class GlueSnapshot {
  private seeds = new Uint32Array(0);
  private seedAt = 0;

  private constructor(
    /** WebAssembly pages the template's memory had (an instance needs at least as many). */
    readonly wasmPages: number,
    /** [memory offset, length, offset in `bytes`] per run of changed pages. */
    private readonly runs: Uint32Array,
    private readonly bytes: Uint8Array,
    /** The glue object's and the class-probe samples' JSValue pointers in every copy. */
    private readonly pointers: { glue: number; probe: number },
    /** The context pointer every instance has (checked on each copy). */
    private readonly ctxPtr: number,
    /** Offset of the context's Math.random state (uint64) from the context pointer. */
    private readonly randomOffset: number,
  ) {}

  /** Bytes copied into each instance. */
  get imageBytes(): number {
    return this.bytes.byteLength;
  }

  /**
   * Build the image: `open` builds a fresh instance (twice: the template and the instance it is
   * checked against). Throws an Error saying why the image cannot be used.
   */
  static take(open: () => SnapshotSubject, options: SnapshotOptions = {}): GlueSnapshot {
    const check = open();
    const template = open();
    if (check.ctxPtr !== template.ctxPtr) throw new Error('two fresh instances put their contexts at different addresses');
    const ctxPtr = template.ctxPtr;
    // Before the glue: the two must be equal but for the clock-seeded Math.random state.
    const before = differingWords(check.memory, template.memory, 64);
    if (before === undefined) throw new Error('two fresh instances differ in more than the Math.random seed');

    const evaluate = (code: string): number => {
      const r = template.ctx.evalCode(code, GLUE_FILE);
      if (r.error) {
        r.error.dispose();
        throw new Error('the glue did not evaluate in the template');
      }
      // Not disposed: every copy owns this value (as a handle the instance frees).
      return r.value.value as unknown as number;
    };
    const pointers = { glue: evaluate(GUEST_GLUE), probe: evaluate(CLASS_PROBE) };
    if (options.extraBytes) {
      const block = template.malloc(options.extraBytes);
      if (!block) throw new Error('the template could not allocate extraBytes');
      new Uint8Array(template.memory.buffer)[block + options.extraBytes - 1] = 1;
    }
    const { runs, bytes } = changedPages(check.memory, template.memory);

    const randomOffset = findRandomState(check);
    for (const at of before) {
      if (at !== ctxPtr + randomOffset) throw new Error(`two fresh instances differ at ${at}, not only in the Math.random seed`);
    }
    return new GlueSnapshot(template.memory.buffer.byteLength / WASM_PAGE, runs, bytes, pointers, ctxPtr, randomOffset);
  }

  /**
   * Copy the image into a fresh instance (built by the same steps, its memory at least `wasmPages`
   * large) and give its context a fresh Math.random seed. Returns the JSValue pointers the copy
   * holds (owned by the instance from now on).
   */
  apply(memory: WebAssembly.Memory, ctxPtr: number): { glue: number; probe: number } {
    if (ctxPtr !== this.ctxPtr) throw new Error('the instance did not put its context where the template did');
    if (memory.buffer.byteLength < this.wasmPages * WASM_PAGE) throw new Error('the instance memory is smaller than the snapshot');
    const heap = new Uint8Array(memory.buffer);
    const { runs, bytes } = this;
    for (let i = 0; i < runs.length; i += 3) heap.set(bytes.subarray(runs[i + 2]!, runs[i + 2]! + runs[i + 1]!), runs[i]!);
    this.reseed(memory, ctxPtr + this.randomOffset);
    return this.pointers;
  }

  /** A fresh, non-zero xorshift64* state (zero would stick at zero). */
  private reseed(memory: WebAssembly.Memory, at: number): void {
    if (this.seedAt + 2 > this.seeds.length) {
      this.seeds = crypto.getRandomValues(new Uint32Array(256));
      this.seedAt = 0;
    }
    const lo = this.seeds[this.seedAt++]!;
    const hi = this.seeds[this.seedAt++]!;
    const words = new Uint32Array(memory.buffer, at, 2);
    words[0] = lo === 0 && hi === 0 ? 1 : lo;
    words[1] = hi;
  }
}

/** Byte offsets of the 8-byte words that differ between two memories, or undefined past `max`. */
function differingWords(a: WebAssembly.Memory, b: WebAssembly.Memory, max: number): number[] | undefined {
  if (a.buffer.byteLength !== b.buffer.byteLength) return undefined;
  const x = Buffer.from(a.buffer);
  const y = Buffer.from(b.buffer);
  const out: number[] = [];
  for (let p = 0; p < x.length; p += PAGE) {
    if (Buffer.compare(x.subarray(p, p + PAGE), y.subarray(p, p + PAGE)) === 0) continue;
    for (let w = p; w < p + PAGE; w += 8) {
      if (x.readBigUInt64LE(w) !== y.readBigUInt64LE(w)) out.push(w);
      if (out.length > max) return undefined;
    }
  }
  return out;
}

/** The pages of `after` that differ from `before` (beyond its end: that are not zero), packed. */
function changedPages(before: WebAssembly.Memory, after: WebAssembly.Memory): { runs: Uint32Array; bytes: Uint8Array } {
  const x = Buffer.from(before.buffer);
  const y = Buffer.from(after.buffer);
  const zero = Buffer.alloc(PAGE);
  const pages: number[] = [];
  for (let p = 0; p < y.length; p += PAGE) {
    const old = p < x.length ? x.subarray(p, p + PAGE) : zero;
    if (Buffer.compare(old, y.subarray(p, p + PAGE)) !== 0) pages.push(p);
  }
  const runs: number[] = [];
  for (const p of pages) {
    const last = runs.length - 3;
    if (last >= 0 && runs[last]! + runs[last + 1]! === p) runs[last + 1]! += PAGE;
    else runs.push(p, PAGE, 0);
  }
  const bytes = new Uint8Array(pages.length * PAGE);
  let at = 0;
  for (let i = 0; i < runs.length; i += 3) {
    runs[i + 2] = at;
    bytes.set(y.subarray(runs[i]!, runs[i]! + runs[i + 1]!), at);
    at += runs[i + 1]!;
  }
  return { runs: Uint32Array.from(runs), bytes };
}

const MASK = (1n << 64n) - 1n;
/** QuickJS's Math.random step (quickjs.c xorshift64star) and the double it returns. */
function xorshift(state: bigint): { state: bigint; value: number } {
  let x = state;
  x ^= x >> 12n;
  x ^= (x << 25n) & MASK;
  x ^= x >> 27n;
  const v = (x * 0x2545f4914f6cdd1dn) & MASK;
  const bits = (0x3ffn << 52n) | (v >> 12n);
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, bits, true);
  return { state: x, value: view.getFloat64(0, true) - 1 };
}

/**
 * Where the context keeps Math.random's state: call Math.random twice and find the one 8-byte word
 * of the context struct that stepped as xorshift64* does, to the values returned. Throws when
 * there is not exactly one.
 */
function findRandomState(subject: SnapshotSubject): number {
  const { ctx, memory, ctxPtr } = subject;
  const math = ctx.getProp(ctx.global, 'Math');
  const random = ctx.getProp(math, 'random');
  try {
    const read = () => Buffer.from(new Uint8Array(memory.buffer, ctxPtr, CONTEXT_SCAN).slice());
    const draw = (): number => {
      const r = ctx.callFunction(random, ctx.undefined);
      if (r.error) {
        r.error.dispose();
        throw new Error('Math.random threw in the probe');
      }
      const n = ctx.getNumber(r.value);
      r.value.dispose();
      return n;
    };
    const s0 = read();
    const v1 = draw();
    const s1 = read();
    const v2 = draw();
    const s2 = read();
    const found: number[] = [];
    for (let o = 0; o + 8 <= CONTEXT_SCAN; o += 8) {
      const a = s0.readBigUInt64LE(o);
      const b = s1.readBigUInt64LE(o);
      const c = s2.readBigUInt64LE(o);
      const step1 = xorshift(a);
      const step2 = xorshift(b);
      if (step1.state === b && step1.value === v1 && step2.state === c && step2.value === v2) found.push(o);
    }
    if (found.length !== 1) throw new Error(`the Math.random state was found ${found.length} times in the context`);
    return found[0]!;
  } finally {
    random.dispose();
    math.dispose();
  }
}
