/**
 * Health probes: a plugin that exports `health()` is asked periodically (and before it leaves
 * quarantine) whether it is well. Healthy is anything but `false`, `{ ok: false }`, a throw, or no
 * answer within the probe's budget.
 */

/** Whether a health() result says healthy: anything but false, `{ ok: false }`, or a throw. */
export function healthy(r: unknown): boolean {
  if (r === false) return false;
  if (r !== null && typeof r === 'object' && (r as { ok?: unknown }).ok === false) return false;
  return true;
}

/**
 * Run one probe: `call` invokes health(); an async answer must come within `timeoutMs`.
 * @example await probeHealth(() => plugin.call('health', []), 1000) // true or false, never throws
 */
export async function probeHealth(call: () => unknown, timeoutMs: number): Promise<boolean> {
  try {
    const r = call();
    if (!(r instanceof Promise)) return healthy(r);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return healthy(await Promise.race([r, timeout]));
    } finally {
      clearTimeout(timer);
    }
  } catch {
    return false;
  }
}
