/**
 * Health probes: a plugin that exports `health()` is asked periodically (and before it leaves
 * quarantine) whether it is well. Healthy is anything but `false`, `{ ok: false }`, a throw, or no
 * answer within the probe's budget.
 */
import { type DeadlineTimer, clearDeadline, setDeadline } from './deadline-timer.js';

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
    // A deadline timer: time another plugin held the host thread is not charged to this probe
    // (an answer that arrived meanwhile wins the race: it settles before the timer's turn).
    let timer: DeadlineTimer | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setDeadline(() => resolve(false), timeoutMs);
    });
    try {
      return healthy(await Promise.race([r, timeout]));
    } finally {
      clearDeadline(timer);
    }
  } catch {
    return false;
  }
}
