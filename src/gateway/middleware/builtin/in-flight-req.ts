/**
 * `inFlightReq`: at most `amount` requests in flight per source (`sourceCriterion`: the client
 * address by default); past it, 429. A request counts until its response is finished or its client
 * goes away.
 * @example
 * inFlightReq: { amount: 10 }
 */
import { excludedList, sourceCriterionSchema, sourceKey, type SourceCriterion } from './ip-strategy.js';
import { criteria } from './rate-limit.js';
import { defineBuiltin, int, obj, textResponse } from './types.js';

export default defineBuiltin<{ amount: number; sourceCriterion?: SourceCriterion }>(
  'inFlightReq',
  obj({ amount: int(1), sourceCriterion: sourceCriterionSchema }, ['amount']),
  (o, env) => {
    if (criteria(o.sourceCriterion) > 1) env.issue(['sourceCriterion'], 'set only one of ipStrategy, requestHeaderName, requestHost');
    const key = sourceKey(o.sourceCriterion, excludedList(o.sourceCriterion?.ipStrategy, ['sourceCriterion', 'ipStrategy'], env));
    const counts = new Map<string, number>();
    return {
      onRequest(req, ctx) {
        const k = key(req);
        const n = counts.get(k) ?? 0;
        if (n >= o.amount) return textResponse(429, 'Too Many Requests');
        counts.set(k, n + 1);
        ctx.exchange.res.once('close', () => {
          const left = (counts.get(k) ?? 1) - 1;
          if (left <= 0) counts.delete(k);
          else counts.set(k, left);
        });
        return undefined;
      },
    };
  },
);
