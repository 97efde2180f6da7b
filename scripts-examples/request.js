// The request workload of the benchmark, as a gateway middleware would see it.
export const meta = { name: 'request', version: '1.0.0', apiVersion: 1, description: 'blocks requests carrying x-block' };

export function onRequest(req) {
  if (req.headers['x-block']) return { respond: { status: 403 } };
  return { setHeaders: { 'x-plugin': '1' } };
}
