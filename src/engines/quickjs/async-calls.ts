/**
 * The async calls a QuickJS instance has in flight, by call id: the Promise handed to the host
 * and the call's deadline (the host's; it fails a call that has not settled by then, see
 * host/guard.ts). The engine uses the deadline to bound the promise jobs and polls it runs for
 * the call when host work settles.
 */

/** One call in flight. */
export interface AsyncCall {
  /** The call's id in the guest glue's table of pending promises. */
  readonly key: number;
  readonly exportName: string;
  /** performance.now() time by which the call must have settled. */
  readonly deadline: number;
}

interface Entry extends AsyncCall {
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

export class AsyncCalls {
  private readonly calls = new Map<number, Entry>();

  /**
   * Track a call; the returned Promise settles through `resolve`/`reject` below.
   * @example const { promise, call } = calls.track(id, 'greet', deadline)
   */
  track(key: number, exportName: string, deadline: number): { promise: Promise<unknown>; call: AsyncCall } {
    let entry!: Entry;
    const promise = new Promise<unknown>((resolve, reject) => {
      entry = { key, exportName, deadline, resolve, reject };
    });
    this.calls.set(key, entry);
    return { promise, call: entry };
  }

  /** The calls in flight, oldest first (a copy: settling while iterating is fine). */
  list(): AsyncCall[] {
    return [...this.calls.values()];
  }

  /** The earliest deadline among the calls in flight, or Infinity. */
  earliestDeadline(): number {
    let earliest = Infinity;
    for (const c of this.calls.values()) earliest = Math.min(earliest, c.deadline);
    return earliest;
  }

  /** Settle a call with its value; false when it was no longer in flight. */
  resolve(key: number, value: unknown): boolean {
    const e = this.take(key);
    e?.resolve(value);
    return e !== undefined;
  }

  /** Fail a call; false when it was no longer in flight. */
  reject(key: number, error: unknown): boolean {
    const e = this.take(key);
    e?.reject(error);
    return e !== undefined;
  }

  /** Fail every call in flight with `error`. */
  rejectAll(error: unknown): void {
    for (const c of this.list()) this.reject(c.key, error);
  }

  /** Forget every call (the instance is gone: the host fails the callers). */
  clear(): void {
    this.calls.clear();
  }

  private take(key: number): Entry | undefined {
    const e = this.calls.get(key);
    if (e) this.calls.delete(key);
    return e;
  }
}
