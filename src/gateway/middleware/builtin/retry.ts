/**
 * `retry`: when the upstream cannot be reached (refused, reset, timeout before a response), send
 * the request again, up to `attempts` tries in all, waiting `initialInterval` (default 100ms) and
 * doubling. Only requests without a body, or whose body an earlier middleware buffered, are retried.
 * @example
 * retry: { attempts: 4, initialInterval: 100ms }
 */
import { traefikDuration, traefikDurationSchema } from '../../config/duration.js';
import { defineBuiltin, int, obj } from './types.js';

export default defineBuiltin<{ attempts: number; initialInterval?: number | string }>(
  'retry',
  obj({ attempts: int(1), initialInterval: traefikDurationSchema }, ['attempts']),
  (o, env) => {
    const interval = o.initialInterval === undefined ? 100 : traefikDuration(o.initialInterval);
    if (typeof interval === 'string') {
      env.issue(['initialInterval'], interval);
      return undefined;
    }
    return {
      onRequest(_req, ctx) {
        const ex = ctx.exchange;
        const cl = ex.req.headers['content-length'];
        const streamed = ex.body === undefined && ((cl !== undefined && cl !== '0') || ex.req.headers['transfer-encoding'] !== undefined);
        if (streamed || o.attempts <= 1) return undefined;
        let tries = 1;
        ex.onUpstreamFailure = () => {
          if (tries >= o.attempts) return false;
          const wait = interval * 2 ** (tries - 1);
          tries++;
          ex.upstreamError = undefined;
          setTimeout(() => {
            try {
              ex.forward();
            } catch {
              ex.res.destroy();
            }
          }, wait);
          return true;
        };
        return undefined;
      },
    };
  },
);
