import { readFileSync } from 'node:fs';
const p = JSON.parse(readFileSync(process.argv[2], 'utf8')); const n = Number(process.argv[3]);
const byId = new Map(p.nodes.map((x) => [x.id, x])); const self = new Map();
for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
const fns = new Map();
for (const [id, us] of self) { const c = byId.get(id).callFrame; const k = `${c.functionName || '(anon)'} ${c.url.replace(/^.*\/(src|dist|node_modules)\//, '$1/')}:${c.lineNumber + 1}`; fns.set(k, (fns.get(k) ?? 0) + us); }
const tot = [...fns.values()].reduce((a, b) => a + b, 0);
console.log('total µs/req', (tot / n).toFixed(2));
for (const [k, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[4] ?? 25))) console.log((us / n).toFixed(2).padStart(7), k);
