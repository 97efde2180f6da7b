/**
 * Deadline timers that do not charge one plugin for the time another one held the host thread.
 * Plugins share the host's event loop: while one runs synchronously (a loop in its top level or
 * in a call, until its own limit stops it), nothing else runs, and when it ends every timer that
 * came due meanwhile fires in the event loop's timers phase, before the I/O that also completed
 * meanwhile (the poll phase) is delivered. A plain setTimeout would then fail a call whose host
 * work had in fact finished in time, only because its answer was read later.
 *
 * A deadline timer, once due, waits one turn of the event loop (setImmediate runs after the poll
 * phase) so every event that had already arrived is handled first; the caller's `fire` must then
 * check whether the thing it bounds has settled meanwhile (they all do: `take(call)`, a settled
 * flag). Work that still needs host time after the block is not helped: the deadline stays a
 * wall-clock bound on the plugin's whole call.
 */

/** A pending deadline timer; `clearDeadline` cancels it at either stage. */
export interface DeadlineTimer {
  timeout: NodeJS.Timeout | undefined;
  immediate: NodeJS.Immediate | undefined;
}

/**
 * Call `fire` once `ms` have passed and every event that arrived by then has been handled.
 * @example const t = setDeadline(() => { if (!settled) fail() }, 1000); ...; clearDeadline(t)
 */
export function setDeadline(fire: () => void, ms: number): DeadlineTimer {
  const t: DeadlineTimer = { timeout: undefined, immediate: undefined };
  t.timeout = setTimeout(() => {
    t.timeout = undefined;
    t.immediate = setImmediate(() => {
      t.immediate = undefined;
      fire();
    });
  }, ms);
  return t;
}

/** Cancel a deadline timer (no-op when it has fired or was never set). */
export function clearDeadline(t: DeadlineTimer | undefined): void {
  if (!t) return;
  clearTimeout(t.timeout);
  if (t.immediate) clearImmediate(t.immediate);
  t.timeout = undefined;
  t.immediate = undefined;
}
