/**
 * `buffering`: reads the whole request body before forwarding it (413 past
 * `maxRequestBodyBytes`), and the whole response before sending it (500 past
 * `maxResponseBodyBytes`). 0 means no limit. Bodies are held in memory (no spill to disk).
 * @example
 * buffering: { maxRequestBodyBytes: 2000000 }
 */
import { defineBuiltin, int, obj, str } from './types.js';

/** Largest body held when no limit is set. */
const UNLIMITED = 1024 * 1024 * 1024;

export default defineBuiltin<{ maxRequestBodyBytes?: number; memRequestBodyBytes?: number; maxResponseBodyBytes?: number; memResponseBodyBytes?: number; retryExpression?: string }>(
  'buffering',
  obj({ maxRequestBodyBytes: int(0), memRequestBodyBytes: int(0), maxResponseBodyBytes: int(0), memResponseBodyBytes: int(0), retryExpression: str }),
  (o, env) => {
    if (o.retryExpression !== undefined) env.issue(['retryExpression'], 'retryExpression is not supported; use the retry middleware');
    const maxRes = o.maxResponseBodyBytes ?? 0;
    return {
      requestBodyMax: o.maxRequestBodyBytes || UNLIMITED,
      responseBodyMax: maxRes,
      onRequest() {
        return undefined;
      },
      ...(maxRes > 0
        ? {
            onResponse(_res, ctx) {
              // The gateway buffered the body unless it was larger than the limit: then it streams.
              if (ctx.exchange.resStream) return { status: 500, setHeaders: { 'content-type': 'text/plain; charset=utf-8' }, body: 'Internal Server Error' };
              return undefined;
            },
          }
        : {}),
    };
  },
);
