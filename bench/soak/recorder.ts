/**
 * What the soak saw: every request's outcome, classified (served; a hostile route's own failure;
 * in flight on the worker the soak killed; anything else, by status and code), latencies, the
 * reload lag per generation, RSS samples per process and the timeline of injected events.
 * Only aggregates and a capped list of failures are kept, so a long run stays small.
 */

export interface Outcome {
  /** `js`, `lua`, or `hostile/<attack>`. */
  route: string;
  /** ms since the soak started: when the request was due (the open-loop schedule), sent, done. */
  due: number;
  sent: number;
  done: number;
  status?: number;
  /** The gateway's code (a 502 body's `code`) or the client's error code (ECONNRESET, timeout, ...). */
  code?: string;
  /** Generation of the hot-reloaded plugin that served it (x-soak-gen). */
  gen?: number;
  /** x-soak-kv: the counter, or `down` while the kv store is unreachable. */
  kv?: string;
  /** When the connection it went out on was first used. */
  socketSince?: number;
}

export interface SoakEvent {
  t: number;
  what: string;
}

interface Window {
  t: number;
  requests: number;
  failures: number;
  latencies: number[];
}

export interface WindowStats {
  t: number;
  requests: number;
  failures: number;
  p50: number;
  p99: number;
}

export interface RssSeries {
  label: string;
  pid: number;
  samples: [t: number, rssBytes: number][];
}

/** Causes a failure is put under; `other:*` breaks the target, the rest are expected. */
export type Cause = `hostile:${string}` | 'killed-worker-in-flight' | `other:${string}`;

/** How long after a kill the client may take to see the worker's connections close (a loaded machine's event-loop lag, generously). */
export const KILL_NOTICE_MS = 5_000;

/** A hostile request's answer when it died with the worker the soak killed. */
export const KILLED = 'in flight on the killed worker';

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Growable store of numbers (latencies of a long run) without per-element objects. */
class Numbers {
  private buf = new Float64Array(1 << 16);
  length = 0;
  push(x: number): void {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = x;
  }
  sorted(): Float64Array {
    return this.buf.slice(0, this.length).sort();
  }
}

export interface RecorderOptions {
  windowMs: number;
  maxFailuresKept: number;
}

export class Recorder {
  readonly events: SoakEvent[] = [];
  readonly failures: (Outcome & { cause: Cause })[] = [];
  readonly causes = new Map<Cause, number>();
  readonly hostile = new Map<string, Map<string, number>>();
  readonly rss = new Map<number, RssSeries>();
  readonly windows: Window[] = [];
  readonly kills: number[] = [];
  /** When each generation was written, per engine, and when a response of it was first seen. */
  readonly written = new Map<string, Map<number, number>>();
  readonly firstSeen = new Map<string, Map<number, number>>();
  requests = 0;
  served = 0;
  /** Served without the kv counter (the store was down), per route. */
  kvDown = new Map<string, number>();
  /** When the last response served without kv came back (the store's recovery, seen by the plugins). */
  lastKvDown: number | undefined;
  private failuresDropped = 0;
  private readonly latencies = new Numbers();
  private readonly hostileLatencies = new Numbers();

  constructor(private readonly options: RecorderOptions) {}

  event(t: number, what: string): void {
    this.events.push({ t, what });
  }

  workerKilled(t: number, pid: number): void {
    this.kills.push(t);
    this.event(t, `SIGKILL worker ${pid}`);
  }

  wrote(engine: string, gen: number, t: number): void {
    let m = this.written.get(engine);
    if (!m) this.written.set(engine, (m = new Map()));
    m.set(gen, t);
  }

  private window(t: number): Window {
    const start = Math.floor(t / this.options.windowMs) * this.options.windowMs;
    let w = this.windows.at(-1);
    while (!w || w.t < start) {
      w = { t: w ? w.t + this.options.windowMs : start, requests: 0, failures: 0, latencies: [] };
      this.windows.push(w);
    }
    return this.windows.find((x) => x.t === start) ?? w;
  }

  /** Classify one finished request. */
  record(o: Outcome): void {
    this.requests++;
    const latency = o.done - o.due;
    const w = this.window(o.done);
    if (o.route.startsWith('hostile/')) {
      const attack = o.route.slice('hostile/'.length);
      let m = this.hostile.get(attack);
      if (!m) this.hostile.set(attack, (m = new Map()));
      const key = this.diedWithKilledWorker(o) ? KILLED : o.status !== undefined ? `${o.status} ${o.code ?? ''}`.trim() : (o.code ?? 'error');
      m.set(key, (m.get(key) ?? 0) + 1);
      this.hostileLatencies.push(o.done - o.sent);
      this.fail(o, `hostile:${attack}`);
      return;
    }
    w.requests++;
    if (o.status === 200) {
      this.served++;
      this.latencies.push(latency);
      w.latencies.push(latency);
      if (o.gen !== undefined) this.seen(o.route, o.gen, o.sent);
      if (o.kv === 'down') {
        this.kvDown.set(o.route, (this.kvDown.get(o.route) ?? 0) + 1);
        this.lastKvDown = Math.max(this.lastKvDown ?? 0, o.done);
      }
      else if (o.kv?.startsWith('error:')) this.fail(o, `other:kv ${o.kv}`);
      return;
    }
    w.failures++;
    if (this.diedWithKilledWorker(o)) {
      this.fail(o, 'killed-worker-in-flight');
      return;
    }
    this.fail(o, `other:${o.status ?? ''} ${o.code ?? ''}`.replace(/\s+$/, '') as Cause);
  }

  /**
   * The kernel closes every connection of a SIGKILLed worker: a request that died with no answer,
   * soon after a kill, on a connection opened before it, was on that worker (sent before the
   * client could see the connection close; on a loaded machine that can be after the kill).
   */
  private diedWithKilledWorker(o: Outcome): boolean {
    return o.status === undefined && o.socketSince !== undefined && this.kills.some((k) => o.socketSince! <= k && o.done >= k && o.done <= k + KILL_NOTICE_MS);
  }

  private seen(engine: string, gen: number, t: number): void {
    let m = this.firstSeen.get(engine);
    if (!m) this.firstSeen.set(engine, (m = new Map()));
    if (!m.has(gen)) m.set(gen, t);
  }

  private fail(o: Outcome, cause: Cause): void {
    this.causes.set(cause, (this.causes.get(cause) ?? 0) + 1);
    if (cause.startsWith('hostile:')) return;
    if (this.failures.length < this.options.maxFailuresKept) this.failures.push({ ...o, cause });
    else this.failuresDropped++;
  }

  sampleRss(label: string, pid: number, t: number, bytes: number): void {
    let s = this.rss.get(pid);
    if (!s) this.rss.set(pid, (s = { label, pid, samples: [] }));
    s.samples.push([t, bytes]);
  }

  /** Failures that break the target: neither a hostile route's own nor in flight on the killed worker. */
  get unexpected(): number {
    let n = 0;
    for (const [cause, count] of this.causes) if (cause.startsWith('other:')) n += count;
    return n;
  }

  summary() {
    const all = this.latencies.sorted();
    const hostile = this.hostileLatencies.sorted();
    const windows: WindowStats[] = this.windows.map((w) => {
      const l = w.latencies.sort((a, b) => a - b);
      return { t: w.t, requests: w.requests, failures: w.failures, p50: percentile(l, 50), p99: percentile(l, 99) };
    });
    const reload: Record<string, { written: number; seen: number; lagP50: number; lagMax: number }> = {};
    for (const [engine, writes] of this.written) {
      const seen = this.firstSeen.get(engine) ?? new Map<number, number>();
      const lags: number[] = [];
      for (const [gen, t] of writes) {
        const s = seen.get(gen);
        if (s !== undefined) lags.push(Math.max(0, s - t));
      }
      lags.sort((a, b) => a - b);
      reload[engine] = { written: writes.size, seen: lags.length, lagP50: percentile(lags, 50), lagMax: lags.at(-1) ?? NaN };
    }
    return {
      requests: this.requests,
      served: this.served,
      causes: Object.fromEntries([...this.causes].sort()),
      unexpected: this.unexpected,
      hostile: Object.fromEntries([...this.hostile].map(([k, m]) => [k, Object.fromEntries(m)])),
      hostileLatencyMs: { p50: percentile(hostile, 50), max: hostile.at(-1) ?? NaN },
      latencyMs: { p50: percentile(all, 50), p99: percentile(all, 99), max: all.at(-1) ?? NaN },
      kvDown: Object.fromEntries(this.kvDown),
      reload,
      windows,
      failuresDropped: this.failuresDropped,
    };
  }
}

export type Summary = ReturnType<Recorder['summary']>;
