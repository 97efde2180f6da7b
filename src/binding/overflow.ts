/**
 * V8's own stack overflow, as every engine and the host recognise it. The one place where an
 * error is classified by its message: V8 raises a plain RangeError ("Maximum call stack size
 * exceeded") and has no other signal. A plugin cannot forge it: errors a plugin throws are copies
 * made inside its interpreter, never host RangeErrors.
 */
export function isHostStackOverflow(e: unknown): boolean {
  return e instanceof RangeError && /call stack/i.test(e.message);
}
