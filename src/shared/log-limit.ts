/**
 * Per-plugin rate limit on log output: at most `lines` per `intervalMs` window. Lines over the
 * limit are dropped and counted; the count is reported once the window ends, so a plugin that
 * floods its log cannot flood the host's, and the operator still learns how much was lost.
 */
export interface LogRate {
  lines: number;
  intervalMs: number;
}

export class LogLimiter {
  private windowStart = 0;
  private used = 0;
  private dropped = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly rate: LogRate,
    private readonly report: (dropped: number) => void,
  ) {}

  /** True when one more line may be written now. */
  allow(): boolean {
    const now = Date.now();
    if (now - this.windowStart >= this.rate.intervalMs) {
      this.flush();
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used < this.rate.lines) {
      this.used++;
      return true;
    }
    if (this.dropped++ === 0) {
      this.timer = setTimeout(() => this.flush(), this.windowStart + this.rate.intervalMs - now);
      this.timer.unref();
    }
    return false;
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.dropped === 0) return;
    const n = this.dropped;
    this.dropped = 0;
    this.report(n);
  }

  /** Report what is still pending and stop the timer. */
  close(): void {
    this.flush();
  }
}
