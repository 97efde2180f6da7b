/**
 * The soak's clock and its one stop switch: waits that end early when the run is aborted
 * (Ctrl-C), and starts that give up at once then (the child being started stays registered with
 * the supervisor, which kills it).
 */
export interface Clock {
  /** ms since the soak started. */
  now(): number;
}

export class Schedule implements Clock {
  private readonly t0 = performance.now();
  private readonly controller = new AbortController();

  now(): number {
    return performance.now() - this.t0;
  }

  get aborted(): boolean {
    return this.controller.signal.aborted;
  }

  abort(reason: string): void {
    this.controller.abort(new Error(reason));
  }

  /** Resolves at `t` on the soak's clock, or at once when aborted. */
  at(t: number): Promise<void> {
    const signal = this.controller.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, Math.max(0, t - this.now()));
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done);
    });
  }

  /** `p`, or a rejection as soon as the run is aborted. */
  abortable<T>(p: Promise<T>): Promise<T> {
    const signal = this.controller.signal;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new Error('interrupted while starting'));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /** Poll `check` every 100 ms until it holds; throws on timeout or abort. */
  async until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const end = this.now() + timeoutMs;
    for (;;) {
      if (this.aborted) throw new Error(`interrupted while waiting for ${what}`);
      if (await check().catch(() => false)) return;
      if (this.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
