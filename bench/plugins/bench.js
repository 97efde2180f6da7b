// Benchmark plugin (JavaScript / QuickJS): the workloads of bench/calls.ts.
// Keep it in step with bench/plugins/bench.lua: same exports, same results.
// No meta.name on purpose: bench/load.ts loads 100 copies of this file in one host, and each copy
// must keep its own name (the file name); a shared meta.name would make them duplicates.

export function noop() {}

export function two(a, b) {
  return a.length + b.length;
}

// Reads every header and returns a 10-header object (the read-everything workload).
export function readAll(req) {
  const out = {};
  for (const k in req.headers) out[`x-echo-${k}`] = req.headers[k];
  return { setHeaders: out };
}

// String building over every header (issue 28's workload, written by someone other than this bench's author):
// ten 'x-seen-<name>' headers whose values are '<value length>:<method>'.
export function readStr(req) {
  const out = {};
  for (const k in req.headers) out['x-seen-' + k] = String(req.headers[k].length) + ':' + req.method;
  return { setHeaders: out };
}

export function onRequest(req) {
  if (req.headers['x-block']) return { status: 403 };
  return { setHeader: { 'x-plugin': '1' } };
}
