/**
 * `circuitBreaker`: watches the responses of the last 10 seconds (network errors, status codes,
 * latencies) and, every `checkPeriod` (default 100ms), evaluates `expression`. When it holds, the
 * circuit opens: requests get `responseCode` (default 503) without reaching the upstream for
 * `fallbackDuration` (default 10s); then it recovers over `recoveryDuration` (default 10s),
 * letting a growing share of requests through, and closes, or opens again if the expression holds.
 * @example
 * circuitBreaker: { expression: 'NetworkErrorRatio() > 0.5' }
 */
import { traefikDuration, traefikDurationSchema } from '../../config/duration.js';
import { CbExpressionError, compileCbExpression, type CbMetrics } from './cb-expression.js';
import { STATUS_TEXT } from './util.js';
import { defineBuiltin, obj, str, textResponse } from './types.js';

const BUCKETS = 10;
const BUCKET_MS = 1000;
/** Latency samples kept per bucket (a quantile over a bounded sample). */
const SAMPLES = 1000;

interface Bucket {
  start: number;
  total: number;
  netErrors: number;
  codes: Map<number, number>;
  latencies: number[];
}

/** Rolling counts over the last BUCKETS seconds. */
export class RollingMetrics implements CbMetrics {
  private buckets: Bucket[] = [];

  private current(now: number): Bucket {
    const start = now - (now % BUCKET_MS);
    let b = this.buckets[this.buckets.length - 1];
    if (!b || b.start !== start) {
      b = { start, total: 0, netErrors: 0, codes: new Map(), latencies: [] };
      this.buckets.push(b);
    }
    this.trim(now);
    return b;
  }

  private trim(now: number): void {
    const oldest = now - BUCKETS * BUCKET_MS;
    while (this.buckets.length && this.buckets[0]!.start <= oldest) this.buckets.shift();
  }

  record(now: number, status: number, networkError: boolean, latencyMs: number): void {
    const b = this.current(now);
    b.total++;
    if (networkError) b.netErrors++;
    else b.codes.set(status, (b.codes.get(status) ?? 0) + 1);
    if (b.latencies.length < SAMPLES) b.latencies.push(latencyMs);
  }

  reset(): void {
    this.buckets = [];
  }

  networkErrorRatio(): number {
    this.trim(Date.now());
    let t = 0;
    let e = 0;
    for (const b of this.buckets) {
      t += b.total;
      e += b.netErrors;
    }
    return t === 0 ? 0 : e / t;
  }

  responseCodeRatio(from: number, to: number, divFrom: number, divTo: number): number {
    this.trim(Date.now());
    let n = 0;
    let d = 0;
    for (const b of this.buckets) {
      for (const [code, c] of b.codes) {
        if (code >= from && code < to) n += c;
        if (code >= divFrom && code < divTo) d += c;
      }
    }
    return d === 0 ? 0 : n / d;
  }

  latencyAtQuantileMs(q: number): number {
    this.trim(Date.now());
    const all: number[] = [];
    for (const b of this.buckets) all.push(...b.latencies);
    if (all.length === 0) return 0;
    all.sort((a, b) => a - b);
    return all[Math.min(all.length - 1, Math.max(0, Math.ceil((q / 100) * all.length) - 1))]!;
  }
}

export default defineBuiltin<{ expression: string; checkPeriod?: number | string; fallbackDuration?: number | string; recoveryDuration?: number | string; responseCode?: number }>(
  'circuitBreaker',
  obj({ expression: str, checkPeriod: traefikDurationSchema, fallbackDuration: traefikDurationSchema, recoveryDuration: traefikDurationSchema, responseCode: { type: 'integer', minimum: 200, maximum: 599 } }, ['expression']),
  (o, env) => {
    let predicate: ((m: CbMetrics) => boolean) | undefined;
    try {
      predicate = compileCbExpression(o.expression);
    } catch (e) {
      if (!(e instanceof CbExpressionError)) throw e;
      env.issue(['expression'], `${e.message} of "${o.expression}"`);
    }
    const dur = (key: 'checkPeriod' | 'fallbackDuration' | 'recoveryDuration', dflt: number) => {
      const v = o[key];
      if (v === undefined) return dflt;
      const n = traefikDuration(v);
      if (typeof n === 'string' || n <= 0) {
        env.issue([key], typeof n === 'string' ? n : 'must be a positive duration');
        return dflt;
      }
      return n;
    };
    const checkMs = dur('checkPeriod', 100);
    const fallbackMs = dur('fallbackDuration', 10_000);
    const recoveryMs = dur('recoveryDuration', 10_000);
    const code = o.responseCode ?? 503;
    if (!predicate) return undefined;
    const holds = predicate;
    const metrics = new RollingMetrics();
    let state: 'standby' | 'tripped' | 'recovering' = 'standby';
    let until = 0;
    let lastCheck = -Infinity;
    const trip = (now: number) => {
      state = 'tripped';
      until = now + fallbackMs;
    };
    return {
      onRequest() {
        const now = Date.now();
        if (state === 'tripped' && now >= until) {
          state = 'recovering';
          until = now + recoveryMs;
          metrics.reset();
        }
        if (state === 'recovering' && now >= until) {
          state = 'standby';
          metrics.reset();
        }
        const tick = performance.now();
        if (tick - lastCheck >= checkMs) {
          lastCheck = tick;
          if (state !== 'tripped' && holds(metrics)) trip(now);
        }
        if (state === 'tripped') return textResponse(code, STATUS_TEXT[code] ?? 'Service Unavailable');
        // Recovering: let through a share of requests growing linearly to all of them.
        if (state === 'recovering' && Math.random() > 1 - (until - now) / recoveryMs) return textResponse(code, STATUS_TEXT[code] ?? 'Service Unavailable');
        return { state: { t0: performance.now() } };
      },
      onResponse(res, ctx) {
        const t0 = ctx.state.t0;
        if (typeof t0 !== 'number') return undefined;
        metrics.record(Date.now(), res.status, ctx.exchange.upstreamError !== undefined, performance.now() - t0);
        return undefined;
      },
    };
  },
);
