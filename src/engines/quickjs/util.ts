/** Small helpers of the QuickJS engine's error handling. */
import { TerrariumError } from '../../errors.js';

/** What describeThrown reports: the engine's own violation signal, and the thrown value copied. */
export interface Described {
  engine: '' | 'stack' | 'memory';
  value: unknown;
}

/** V8's own stack overflow (the WebAssembly interpreter or host code ran out of native stack). */
export function isHostStackOverflow(e: unknown): boolean {
  return e instanceof RangeError && /call stack/i.test(e.message);
}

/**
 * Format an error's stack now. Until `stack` is read, V8 keeps the frames' receivers (this
 * instance among them) reachable from the error: an application that keeps the error in a log
 * would keep the discarded instance and its whole WebAssembly memory alive.
 */
export function detached<E>(e: E): E {
  for (let x: unknown = e, n = 0; x instanceof Error && n < 4; x = (x as { cause?: unknown }).cause, n++) void x.stack;
  return e;
}

export function rebrand(e: TerrariumError, exportName: string): TerrariumError {
  if (e.exportName !== undefined) return e;
  Object.defineProperty(e, 'exportName', { value: exportName });
  return e;
}

export const now = () => performance.now();
