/**
 * How often QuickJS asks the interrupt handler, steered from the host.
 *
 * QuickJS counts "ticks" (loop back-edges, calls) down from 10,000 in `JSContext.interrupt_counter`
 * and calls the handler when it reaches zero; `__js_poll_interrupts` resets the field to 10,000
 * *before* calling the handler, so a value the handler writes there is the length of the next
 * window. Operations written as syntax (`[...a]`, `{...o}`, rest destructuring, comparing two
 * 16 MiB strings, BigInt arithmetic) run as one C loop inside one tick, so 10,000 of them in a
 * loop held the host for minutes. This file shrinks the window when ticks are slow and lets it
 * grow back (at most GROWTH times per window, up to MAX_WINDOW) when they are fast, so a loop of slow
 * operations reaches the handler every one or two of them.
 *
 * Every guest entry arms a short first window (`ENTRY_TICKS`): the counter otherwise carries over
 * from earlier calls, and a call that starts straight into a loop of slow operations would get
 * up to 10,000 of them before the first poll. Calls shorter than that never poll, which keeps the
 * call fast path at one memory store.
 *
 * The field's offset is not a public contract: `findCounterOffset` finds it at startup (the only
 * word of the JSContext that reads 10,000 inside the handler) and proves it by writing 1 there and
 * watching every tick poll; the engine refuses to start when that fails (see ffi.ts `probe`).
 */

/** QuickJS's JS_INTERRUPT_COUNTER_INIT: the window it restores at every poll. */
export const COUNTER_INIT = 10_000;
/**
 * Ticks of the first window after a guest entry (see the header): 2, so that a call that runs one
 * tick (an export that loops or calls nothing) never polls, and one that loops polls at once.
 */
export const ENTRY_TICKS = 2;
/**
 * The longest window this file lets QuickJS run, below its own 10,000: a plugin can alternate a
 * fast stretch (the window grows back) with a burst of slow operations, and the burst is bounded
 * by this many of them. A poll costs 0.25-1 us (more on a loaded machine): one per 2,000 ticks
 * (60-100 us of a tight loop) is a few percent of that loop (bench/js-counter-cost.ts).
 */
export const MAX_WINDOW = 2000;
/** The wall time one window aims at: a window slower than this is shortened in proportion. */
export const TARGET_MS = 2;
/**
 * How much a fast window lets the next one grow: 4x reaches MAX_WINDOW in 6 polls after an entry,
 * and a loop that mixes fast ticks with slow operations still polls within about 4 of the slow ones.
 */
export const GROWTH = 4;
/** How far into the JSContext to look for the field (its offset was 232 in 0.32.0's release build). */
const SEARCH_BYTES = 1024;

/**
 * Off only to measure what the policy costs (bench/js-counter-cost.ts): with `enabled` false,
 * arm and poll do nothing and QuickJS keeps its own 10,000-tick windows. Not for production.
 */
export const counterPolicy = { enabled: true };

/** Where a context's interrupt_counter lives, as a word index into the WebAssembly memory. */
export interface CounterSlot {
  words(): Uint32Array;
  index: number;
}

/** The window policy of one context: called on every poll, and armed on every guest entry. */
export class InterruptCounter {
  /** Ticks of the window that just ended. */
  private window = MAX_WINDOW;
  /** performance.now() of the last poll, or NaN right after an entry (the window's start is unknown). */
  private last = NaN;
  /** Ticks of the windows closed so far (by a poll or a re-arm): the engine's work units. */
  private done = 0;
  /** False until the first arm: before it, `window` does not describe the field (counting starts there). */
  private counting = false;

  constructor(private readonly slot: CounterSlot) {}

  /** A guest entry (or exit): start a short window, so slow operations cannot run 10,000 deep first. */
  arm(): void {
    if (!counterPolicy.enabled) return;
    if (this.counting) this.done += this.window - this.remaining();
    this.counting = true;
    // Always exactly ENTRY_TICKS: keeping a shorter value left by the last call would let the
    // counter creep down call after call until every short call polls.
    this.slot.words()[this.slot.index] = ENTRY_TICKS;
    this.window = ENTRY_TICKS;
    this.last = NaN;
  }

  /**
   * Called by the interrupt handler with the current time, after QuickJS reset the counter to
   * COUNTER_INIT: writes the next window's length when it should be shorter.
   */
  poll(t: number): void {
    if (!counterPolicy.enabled) return;
    if (this.counting) this.done += this.window; // QuickJS polls when the window's countdown reached 0
    const elapsed = t - this.last;
    this.last = t;
    let next: number;
    if (!(elapsed >= 0)) next = 1; // first poll of an entry: measure one tick before trusting a long window
    else if (elapsed > TARGET_MS) next = Math.max(1, Math.floor((this.window * TARGET_MS) / elapsed));
    else next = Math.min(MAX_WINDOW, this.window * GROWTH);
    this.window = next;
    this.slot.words()[this.slot.index] = next;
  }

  /**
   * Ticks QuickJS ran in this context since the first arm: exact, whatever the window lengths,
   * since every window is either polled out whole or cut by an arm that reads what is left of it.
   */
  ticks(): number {
    return this.counting ? this.done + this.window - this.remaining() : 0;
  }

  private remaining(): number {
    return this.slot.words()[this.slot.index]! | 0;
  }
}

/**
 * Find the byte offset of `interrupt_counter` in a JSContext. `run(src)` evaluates `src` in the
 * context, while `onPoll` (set by the caller's interrupt handler) is called at every poll.
 * Returns the offset, or a reason it was not found.
 */
export function findCounterOffset(
  ctxPtr: number,
  words: () => Uint32Array,
  hooks: { onPoll: (() => void) | undefined },
  run: (src: string) => void,
): number | string {
  // 1. Inside the handler the field has just been reset: it holds exactly COUNTER_INIT.
  let candidates: number[] | undefined;
  hooks.onPoll = () => {
    if (candidates) return;
    const w = words();
    candidates = [];
    for (let off = 0; off < SEARCH_BYTES; off += 4) if (w[(ctxPtr + off) >> 2] === COUNTER_INIT) candidates.push(off);
  };
  try {
    run(`for (let i = 0; i < ${3 * COUNTER_INIT}; i++) {}`);
    // More than one match: writing into a field that is not the counter could corrupt the context.
    if (candidates?.length !== 1) return `${candidates?.length ?? 0} words of the JSContext could be the interrupt counter (1 expected)`;
    const off = candidates[0]!;
    // 2. Proof: with 1 written there at every poll, a loop of N iterations polls at least N times.
    const N = 500;
    let polls = 0;
    hooks.onPoll = () => {
      polls++;
      words()[(ctxPtr + off) >> 2] = 1;
    };
    words()[(ctxPtr + off) >> 2] = 1;
    run(`for (let i = 0; i < ${N}; i++) {}`);
    // Leave the field as QuickJS would (the next window is a full one).
    words()[(ctxPtr + off) >> 2] = COUNTER_INIT;
    return polls >= N ? off : 'writing the interrupt counter did not make QuickJS poll sooner';
  } finally {
    hooks.onPoll = undefined;
  }
}

/** The offset found in the release build (every release instance shares the build): probed once. */
let releaseOffset: number | string | undefined;

/**
 * The interrupt counter of a fresh context (no code run in it yet), or why there is none. Release
 * builds are searched once; every later context is still checked to hold 0 at that offset, as
 * JS_NewContext leaves it (its first tick then polls and sets the field to COUNTER_INIT).
 */
export function counterOf(
  release: boolean,
  ctxPtr: number,
  words: () => Uint32Array,
  hooks: { onPoll: (() => void) | undefined },
  run: (src: string) => void,
  restored = false,
): InterruptCounter | string {
  let off = release ? releaseOffset : undefined;
  if (off === undefined) {
    off = findCounterOffset(ctxPtr, words, hooks, run);
    if (release) releaseOffset = off;
  } else if (typeof off === 'number' && restored) {
    // A context copied from the glue-ready image (snapshot.ts) holds the template's counter, not
    // JS_NewContext's 0: put it back to 0, so its first tick polls as in a fresh context.
    words()[(ctxPtr + off) >> 2] = 0;
  } else if (typeof off === 'number' && words()[(ctxPtr + off) >> 2] !== 0) {
    return 'a new JSContext does not hold the interrupt counter where the probe found it';
  }
  if (typeof off === 'string') return off;
  return new InterruptCounter({ words, index: (ctxPtr + off) >> 2 });
}
