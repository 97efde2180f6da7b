// Gateway middleware: gives every request an id (keeps a well-formed one the client sent), passes
// it upstream in a header, and returns it on the response. The id travels from the request phase
// to the response phase in ctx.state.
export const meta = {
  name: 'request-id',
  version: '1.0.0',
  apiVersion: 1,
  description: 'Adds a request id header to the request and to the response',
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { header: { type: 'string', pattern: '^[a-z0-9-]+$', default: 'x-request-id' } },
  },
};

// Unique per instance: a restarted instance gets a new prefix, so ids never repeat.
const prefix = Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, '0');
let counter = 0;

export function onRequest(req, ctx) {
  const header = ctx.config.header;
  const sent = req.headers[header];
  const id = typeof sent === 'string' && /^[A-Za-z0-9._-]{1,128}$/.test(sent) ? sent : `${prefix}-${(++counter).toString(16).padStart(6, '0')}`;
  return { setHeaders: { [header]: id }, state: { id } };
}

export function onResponse(res, ctx) {
  return { setHeaders: { [ctx.config.header]: ctx.state.id } };
}
