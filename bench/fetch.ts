/**
 * Scenario: the cost of one fetch to a local upstream (127.0.0.1, port 0) from inside a QuickJS
 * plugin (async export awaiting fetch + text()), against plain Node's http.request to the same
 * upstream (the baseline), interleaved batch by batch in one run. Prints medians and the ratio.
 * Run: nice -n 19 node --import tsx bench/fetch.ts
 */
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHost } from '../src/index.js';

const server = http.createServer((_q, r) => r.end('ok'));
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const dir = await mkdtemp(path.join(tmpdir(), 'bench-fetch-'));
await writeFile(path.join(dir, 'f.js'), 'export async function get(u) { const r = await fetch(u); return await r.text(); }\n');
const host = await createHost({ dir, grants: { f: { fetch: { allow: [origin], maxInFlight: 64 } } } });
const f = host.get<{ get(u: string): Promise<string> }>('f');

const plain = () =>
  new Promise<string>((resolve, reject) => {
    http.get(`${origin}/`, { agent: false }, (res) => {
      let s = '';
      res.on('data', (c) => (s += c));
      res.on('end', () => resolve(s));
    }).on('error', reject);
  });
const plugin = () => f.get(`${origin}/`);

async function batch(fn: () => Promise<string>, n: number): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < n; i++) await fn();
  return (performance.now() - t) / n;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

await batch(plain, 50);
await batch(plugin, 50); // warm up
const a: number[] = [];
const b: number[] = [];
for (let r = 0; r < 15; r++) {
  a.push(await batch(plain, 40));
  b.push(await batch(plugin, 40));
}
const [pa, pb] = [median(a), median(b)];
console.log(`plain node http.get: ${(pa * 1000).toFixed(0)} us/request`);
console.log(`plugin fetch:        ${(pb * 1000).toFixed(0)} us/request (x${(pb / pa).toFixed(2)} of plain)`);
await host.close();
server.close();
await rm(dir, { recursive: true, force: true });
