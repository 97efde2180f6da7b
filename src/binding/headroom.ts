/**
 * Stack headroom for host code called by a plugin. A plugin's interpreter runs on V8's own
 * stack (QuickJS's WebAssembly frames, fengari's JS frames), so a plugin that recursed nearly to
 * V8's limit and then calls a capability would make the capability's host code overflow halfway
 * through (a write done, the next one not: the vm2 attack "exhaust the stack so that code you do
 * not control fails"). Every engine asks `hasHostHeadroom()` before any host code of a capability,
 * config read or log line runs, and refuses the call with ERR_PLUGIN_STACK when it says no.
 *
 * JavaScript cannot read the stack pointer, so the check makes V8 prove the room exists: calling a
 * function with HOST_STACK_RESERVE_BYTES / 8 arguments makes V8 check, before it pushes them,
 * that that many bytes fit below the current frame, and throw its RangeError if they do not. The
 * arguments are really pushed (a copy of ~RESERVE bytes, the check's cost: see
 * bench/results/stack-headroom.md), and no optimizing tier can remove them, unlike a large frame
 * of unused locals.
 */
import { isHostStackOverflow } from './overflow.js';

/**
 * Native stack that must be free when host code called by a plugin starts: the host's own
 * marshalling of the arguments and the result (wire values nest up to MAX_DEPTH), the built-in
 * capabilities, building an error for the plugin, and the application's capability function.
 * Measured by bench/stack-headroom.ts (bench/results/stack-headroom.md): encoding a result at the
 * deepest allowed nesting needs ~16 KiB on Node 20, so an application's capability starts with
 * at least ~112 KiB of its own (test/stack-headroom.test.ts checks it). A capability that needs
 * more can still overflow: that is ERR_PLUGIN_STACK too, but it may have run part way.
 */
export const HOST_STACK_RESERVE_BYTES = 128 * 1024;

const SLOTS: readonly number[] = new Array<number>(HOST_STACK_RESERVE_BYTES / 8).fill(0);
const nothing = (): number => 0;

/**
 * True when at least HOST_STACK_RESERVE_BYTES of V8 stack are free below the caller. Throws only
 * V8's own RangeError when not even this function's frame fits (callers treat both as "no").
 * @example if (!hasHostHeadroom()) throw new PluginStackError(limits.stackBytes, ctx)
 */
export function hasHostHeadroom(): boolean {
  try {
    Reflect.apply(nothing, undefined, SLOTS);
    return true;
  } catch (e) {
    if (isHostStackOverflow(e)) return false;
    throw e;
  }
}

/**
 * Bytes of V8 stack free below the caller, to 8 bytes: the largest argument list that still fits,
 * found by bisection with the same proof as hasHostHeadroom. For measuring what host code needs
 * (bench/stack-headroom.ts, test/stack-headroom.test.ts), never on a call path: it costs ~18 tries.
 */
export function freeStackBytes(): number {
  let lo = 0;
  let hi = 1 << 18;
  while (lo < hi) {
    const m = (lo + hi + 1) >> 1;
    try {
      Reflect.apply(nothing, undefined, new Array(m));
      lo = m;
    } catch {
      hi = m - 1;
    }
  }
  return lo * 8;
}
