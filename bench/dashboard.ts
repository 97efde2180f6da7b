/**
 * The throughput cost of an open dashboard: the gateway (echo service, one plugin middleware)
 * under autocannon, with and without an SSE client on /api/events, in interleaved rounds; prints
 * the median requests/s of each and their ratio. Run: npm run build && nice -n 19 node --import tsx bench/dashboard.ts [rounds] [seconds]
 */
import http from 'node:http';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { createGateway } from '../dist/gateway/index.js';

const autocannon = createRequire(import.meta.url)('autocannon') as (o: object) => Promise<{ requests: { average: number } }>;
const rounds = Number(process.argv[2] ?? 5);
const seconds = Number(process.argv[3] ?? 3);
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

const dir = await mkdtemp(path.join(os.tmpdir(), 'terrarium-bench-dash-'));
await writeFile(path.join(dir, 'tag.js'), "export const meta = { name: 'tag', version: '1.0.0', apiVersion: 1 };\nexport function onRequest() { return { setHeaders: { 'x-tag': '1' } }; }\n");
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const gw = await createGateway(
  {
    entryPoints: { web: { address: '127.0.0.1:0' } },
    admin: { address: '127.0.0.1:0' },
    http: { routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['tag'], service: 'echo' } }, middlewares: { tag: { plugin: { tag: {} } } }, services: { echo: { echo: {} } } },
    plugins: { dir },
    accessLog: false,
  },
  { logger: silent, watchConfig: false },
);
const url = Object.values(gw.entryPoints)[0]!.url;

function openClient(): () => void {
  let bytes = 0;
  const req = http.get(`${gw.admin!.url}/api/events`, (res) => res.on('data', (c: Buffer) => (bytes += c.length)));
  req.on('error', () => undefined);
  return () => req.destroy();
}

const run = async () => (await autocannon({ url, connections: 20, duration: seconds })).requests.average;
await run(); // warm up
const without: number[] = [];
const withSse: number[] = [];
for (let i = 0; i < rounds; i++) {
  without.push(await run());
  const stop = openClient();
  withSse.push(await run());
  stop();
}
const a = median(without);
const b = median(withSse);
console.log(`load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ${rounds} rounds of ${seconds} s, 20 connections`);
console.log(`without SSE client: median ${a.toFixed(0)} req/s`);
console.log(`with SSE client:    median ${b.toFixed(0)} req/s`);
console.log(`ratio with/without: ${(b / a).toFixed(3)}`);
await gw.close();
await rm(dir, { recursive: true, force: true });
