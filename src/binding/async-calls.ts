/**
 * Bookkeeping of the async calls an engine instance has in flight: each one is a Promise handed
 * to the host, a wall-clock deadline (the call's whole budget, including the host work it
 * awaits), and a timer that fails it when the deadline passes first. Both engines use it; what a
 * key is (a QuickJS call id, a Lua coroutine) is theirs.
 */

/** One call in flight. */
export interface AsyncCall<K> {
  readonly key: K;
  readonly exportName: string;
  /** performance.now() time by which the call must have settled. */
  readonly deadline: number;
}

interface Entry<K> extends AsyncCall<K> {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout;
}

export class AsyncCalls<K> {
  private readonly calls = new Map<K, Entry<K>>();

  /**
   * Track a call; the returned Promise settles through `resolve`/`reject` below, or with the
   * error `onTimeout` returns (the engine marks itself broken there) when the deadline passes.
   * @example const done = calls.track(id, 'greet', limits.callTimeoutMs, () => this.breakWith(timeoutError))
   */
  track(key: K, exportName: string, limitMs: number, onTimeout: () => unknown): { promise: Promise<unknown>; call: AsyncCall<K> } {
    let entry!: Entry<K>;
    const promise = new Promise<unknown>((resolve, reject) => {
      entry = {
        key,
        exportName,
        deadline: performance.now() + limitMs,
        resolve,
        reject,
        timer: setTimeout(() => {
          if (this.calls.get(key) !== entry) return;
          this.calls.delete(key);
          reject(onTimeout());
        }, limitMs),
      };
    });
    this.calls.set(key, entry);
    return { promise, call: entry };
  }

  has(key: K): boolean {
    return this.calls.has(key);
  }

  get size(): number {
    return this.calls.size;
  }

  /** The calls in flight, oldest first (a copy: settling while iterating is fine). */
  list(): AsyncCall<K>[] {
    return [...this.calls.values()];
  }

  /** The earliest deadline among the calls in flight, or Infinity. */
  earliestDeadline(): number {
    let earliest = Infinity;
    for (const c of this.calls.values()) earliest = Math.min(earliest, c.deadline);
    return earliest;
  }

  /** Settle a call with its value; false when it was no longer in flight. */
  resolve(key: K, value: unknown): boolean {
    const e = this.take(key);
    e?.resolve(value);
    return e !== undefined;
  }

  /** Fail a call; false when it was no longer in flight. */
  reject(key: K, error: unknown): boolean {
    const e = this.take(key);
    e?.reject(error);
    return e !== undefined;
  }

  /** Fail every call in flight with the error `make` builds for it. */
  rejectAll(make: (call: AsyncCall<K>) => unknown): void {
    for (const c of this.list()) this.reject(c.key, make(c));
  }

  private take(key: K): Entry<K> | undefined {
    const e = this.calls.get(key);
    if (!e) return undefined;
    clearTimeout(e.timer);
    this.calls.delete(key);
    return e;
  }
}
