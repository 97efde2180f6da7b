// Benchmark plugin (JavaScript / QuickJS): the workloads of bench/calls.ts.
// Keep it in step with bench/plugins/bench.lua: same exports, same results.
export const meta = { name: 'bench', version: '1.0.0', apiVersion: 1, description: 'Call-overhead workloads' };

export function noop() {}

export function two(a, b) {
  return a.length + b.length;
}

export function onRequest(req) {
  if (req.headers['x-block']) return { status: 403 };
  return { setHeader: { 'x-plugin': '1' } };
}
