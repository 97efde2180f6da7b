/**
 * The circuit breaker of one plugin: limit violations counted in a sliding window (too many
 * quarantine the plugin), and the re-probe schedule of a quarantined plugin, with a backoff that
 * doubles from `backoffMs` up to `maxBackoffMs`.
 */
import type { LifecyclePolicy } from './plugin-types.js';

export class Breaker {
  private violations: number[] = [];
  private backoff = 0;
  private timer: NodeJS.Timeout | undefined;
  /** When the next probe runs (Date.now() ms). */
  nextProbeAt = 0;

  constructor(private readonly policy: LifecyclePolicy) {}

  /** Record a limit violation now; true when it trips the breaker (maxViolations within windowMs). */
  violation(): boolean {
    const { maxViolations, windowMs } = this.policy;
    const now = Date.now();
    this.violations = this.violations.filter((t) => t > now - windowMs);
    this.violations.push(now);
    return this.violations.length >= maxViolations;
  }

  /** Violations in the window (for the quarantine's reason). */
  get count(): number {
    return this.violations.length;
  }

  /** Open: probe after the first backoff. */
  open(probe: () => void): void {
    this.backoff = this.policy.backoffMs;
    this.schedule(probe);
  }

  /** A probe failed: probe again after a doubled backoff, returned. */
  retry(probe: () => void): number {
    this.backoff = Math.min(this.backoff * 2, this.policy.maxBackoffMs);
    this.schedule(probe);
    return this.backoff;
  }

  /** Closed again (the plugin recovered): violations start from zero. */
  reset(): void {
    this.violations = [];
  }

  /** No more probes (the plugin stops, or a probe is running). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(probe: () => void): void {
    this.stop();
    this.nextProbeAt = Date.now() + this.backoff;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      probe();
    }, this.backoff);
    this.timer.unref();
  }
}
