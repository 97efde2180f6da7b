// Gateway middleware (TypeScript): answers 403 (or the configured status) at once when a request carries a
// header (optionally only with one of the listed values). The rest of the chain and the upstream
// are skipped; the middlewares before it still see the response.
export const meta = {
  name: 'header-deny',
  version: '1.0.0',
  apiVersion: 1,
  description: 'Denies requests that carry a given header',
  configSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['header'],
    properties: {
      header: { type: 'string', minLength: 1 },
      values: { type: 'array', items: { type: 'string' } },
      status: { type: 'integer', minimum: 400, maximum: 499, default: 403 },
    },
  },
};

interface Config {
  header: string;
  values?: string[];
  status: number;
}
interface Req {
  headers: Record<string, string | string[] | undefined>;
}
type Decision = { respond: { status: number; body: { error: string; reason: string } } } | undefined;

export function onRequest(req: Req, ctx: { config: Config }): Decision {
  const { header, values, status } = ctx.config;
  const value = req.headers[header.toLowerCase()];
  if (value === undefined) return;
  if (values && !values.includes(String(value))) return;
  return { respond: { status, body: { error: 'denied', reason: `header ${header.toLowerCase()}` } } };
}
