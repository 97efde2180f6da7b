import { readFileSync } from 'node:fs';
function groupOf(url, fn) {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)') return 'idle';
  if (fn === '(program)') return '(program)';
  if (url.includes('/gateway/exchange/')) return 'exchange';
  if (url.includes('/gateway/middleware/')) return 'middleware adapter';
  if (url.includes('/gateway/')) return 'gateway other';
  if (/marshal|guest-codec|\/binding\//.test(url)) return 'marshal';
  if (url.includes('/engines/') || url.includes('/host/') || url.includes('/platform/') || url.includes('/shared/') || /chunk-/.test(url)) return 'engine + host gate';
  if (url.includes('fengari')) return 'fengari';
  if (url.includes('quickjs') || url.includes('@jitl') || fn.startsWith('wasm') || url.startsWith('wasm://')) return 'QuickJS WASM + glue';
  if (url.startsWith('node:')) return 'node';
  if (url === '') return 'native (' + fn + ')';
  return 'other';
}
const p = JSON.parse(readFileSync(process.argv[2], 'utf8')); const measured = Number(process.argv[3]);
const byId = new Map(p.nodes.map((x) => [x.id, x])); const g = new Map(); let tot = 0;
for (let i = 0; i < p.samples.length; i++) { const c = byId.get(p.samples[i]).callFrame; const k = groupOf(c.url, c.functionName); const d = p.timeDeltas[i] ?? 0; if (k === 'idle' || k === 'native (dispatch)' || k === 'native (cpuUsage)') continue; g.set(k, (g.get(k) ?? 0) + d); tot += d; }
// scaled to the measured µs/request (the profiler's own overhead spread evenly)
const out = [...g].sort((a, b) => b[1] - a[1]).filter(([, v]) => v / tot > 0.01).map(([k, v]) => `${k} ${(measured * v / tot).toFixed(2)} (${(100 * v / tot).toFixed(0)}%)`);
console.log(out.join('; '));
