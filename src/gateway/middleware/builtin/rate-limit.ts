/**
 * `rateLimit`: a token bucket per source (`sourceCriterion`: the client address by default)
 * refilled at `average` requests per `period` (default 1s) holding up to `burst` (default 1), as
 * Traefik: a request that would wait up to half a token's time (at most 500 ms) is delayed, one
 * that would wait longer gets 429 with Retry-After and X-Retry-In. `average: 0` means no limit.
 * @example
 * rateLimit: { average: 100, burst: 50 }
 */
import { traefikDuration, traefikDurationSchema } from '../../config/duration.js';
import { excludedList, sourceCriterionSchema, sourceKey, type SourceCriterion } from './ip-strategy.js';
import { defineBuiltin, int, obj, textResponse } from './types.js';

/** Sources remembered at most (the least recently used are forgotten first). */
const MAX_SOURCES = 65_536;

interface Bucket {
  tokens: number;
  at: number;
}

export default defineBuiltin<{ average?: number; period?: number | string; burst?: number; sourceCriterion?: SourceCriterion }>(
  'rateLimit',
  obj({ average: int(0), period: traefikDurationSchema, burst: int(0), sourceCriterion: sourceCriterionSchema }),
  (o, env) => {
    const periodMs = o.period === undefined ? 1000 : traefikDuration(o.period);
    if (typeof periodMs === 'string' || periodMs <= 0) {
      env.issue(['period'], typeof periodMs === 'string' ? periodMs : 'must be a positive duration');
      return undefined;
    }
    if (criteria(o.sourceCriterion) > 1) env.issue(['sourceCriterion'], 'set only one of ipStrategy, requestHeaderName, requestHost');
    const average = o.average ?? 0;
    if (average === 0) return {};
    const perMs = average / periodMs;
    const burst = Math.max(1, o.burst ?? 1);
    const ratePerSec = perMs * 1000;
    const maxDelayMs = ratePerSec < 1 ? 500 : 1000 / (2 * ratePerSec);
    const key = sourceKey(o.sourceCriterion, excludedList(o.sourceCriterion?.ipStrategy, ['sourceCriterion', 'ipStrategy'], env));
    const buckets = new Map<string, Bucket>();
    return {
      onRequest(req) {
        const k = key(req);
        const now = performance.now();
        let b = buckets.get(k);
        if (b) buckets.delete(k); // re-inserted below: Map order is the LRU order
        else b = { tokens: burst, at: now };
        b.tokens = Math.min(burst, b.tokens + (now - b.at) * perMs);
        b.at = now;
        buckets.set(k, b);
        if (buckets.size > MAX_SOURCES) buckets.delete(buckets.keys().next().value!);
        if (b.tokens >= 1) {
          b.tokens -= 1;
          return undefined;
        }
        const delay = (1 - b.tokens) / perMs;
        if (delay > maxDelayMs) {
          return textResponse(429, 'Too Many Requests', { 'retry-after': String(Math.ceil(delay / 1000)), 'x-retry-in': `${Math.ceil(delay)}ms` });
        }
        b.tokens -= 1;
        return new Promise((resolve) => setTimeout(() => resolve(undefined), delay));
      },
    };
  },
);

export function criteria(c: SourceCriterion | undefined): number {
  return c ? Number(c.ipStrategy !== undefined) + Number(Boolean(c.requestHeaderName)) + Number(Boolean(c.requestHost)) : 0;
}
