// Gateway middleware: a fixed-window rate limit per client address (or per value of a header),
// with its counters in the gateway's key-value store (host.kv, granted by
// `plugins.capabilities.kv: true`). Over the limit it answers 429 with Retry-After.
export const meta = {
  name: 'rate-limit',
  version: '1.0.0',
  apiVersion: 1,
  description: 'Fixed-window rate limit per client or per header value, counters in host.kv',
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      limit: { type: 'integer', minimum: 1, default: 10 },
      windowSeconds: { type: 'integer', minimum: 1, default: 10 },
      keyHeader: { type: 'string', description: 'count per value of this header; requests without it count per client address' },
    },
  },
};

export function onRequest(req, ctx) {
  const { limit, windowSeconds, keyHeader } = ctx.config;
  const key = (keyHeader && req.headers[keyHeader.toLowerCase()]) || req.client.address;
  const windowMs = windowSeconds * 1000;
  const now = Date.now();
  const window = Math.floor(now / windowMs);
  // incr is synchronous and the key expires with its window, so the store never grows without bound.
  const count = host.kv.incr(`rate-limit:${ctx.middleware}:${key}:${window}`, 1, windowMs);
  const reset = Math.ceil(((window + 1) * windowMs - now) / 1000);
  const headers = { 'x-ratelimit-limit': limit, 'x-ratelimit-remaining': Math.max(0, limit - count), 'x-ratelimit-reset': reset };
  if (count > limit) {
    return { respond: { status: 429, headers: { ...headers, 'retry-after': reset }, body: { error: 'too many requests', limit, windowSeconds } } };
  }
  return { state: headers };
}

export function onResponse(res, ctx) {
  return { setHeaders: ctx.state };
}
