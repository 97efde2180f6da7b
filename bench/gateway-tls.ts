/**
 * HTTPS through the gateway against a bare node:https proxy, HTTP/1.1 and HTTP/2.
 * Run: `nice -n 19 node --import tsx bench/gateway-tls.ts` (after `npm run build`).
 * One process: an HTTP/1.1 upstream, the gateway (TLS entry point, one router, no middleware) and
 * the baseline (node:https + http.request piping to the same upstream, h1 only; for h2 the
 * baseline is node:http2's compat server doing the same). Load: autocannon (h1, 32 connections;
 * it does not speak h2) in a child process; for h2 a node:http2 loop in a child (one session per
 * 8 connections, 32 streams in flight each). Warm-up, then ROUNDS rounds in alternating order;
 * req/s medians and the ratio gateway/baseline taken within each round, median over rounds.
 * CPU per request: the servers (upstream, gateway, baselines) are the only work of this process
 * while a load child runs, so process.cpuUsage() over a measurement divided by the requests it
 * served is the serving side's CPU per request; the upstream's share is the same on both sides,
 * so the difference is the gateway's own cost. `npm run bench:gateway` runs this after bench/gateway.ts.
 */
import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createGateway } from '../dist/gateway/index.js';
import { median } from './lib.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-tls-'));
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${dir}/k.pem`, '-out', `${dir}/c.pem`, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
const pem = { key: readFileSync(`${dir}/k.pem`), cert: readFileSync(`${dir}/c.pem`) };

const upstream = http.createServer((_req, res) => res.end('{"ok":true}'));
// Longer than any pause between rounds: a keep-alive socket the upstream closes just as a proxy
// reuses it is a 502 that measures the race, not the proxy.
upstream.keepAliveTimeout = 120_000;
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
const upPort = (upstream.address() as AddressInfo).port;
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const pipe = (req: http.IncomingMessage, res: http.ServerResponse) => {
  const p = http.request({ host: '127.0.0.1', port: upPort, path: req.url, method: req.method, agent, headers: { 'x-forwarded-proto': 'https' } }, (u) => {
    res.writeHead(u.statusCode ?? 502, { 'content-type': u.headers['content-type'] ?? 'application/json', 'content-length': u.headers['content-length'] ?? '0' });
    u.pipe(res);
  });
  p.on('error', () => res.writeHead(502).end());
  req.pipe(p);
};
const bareH1 = https.createServer(pem, pipe);
const bareH2 = http2.createSecureServer({ ...pem, allowHTTP1: true }, pipe as never);
for (const s of [bareH1, bareH2]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
writeFileSync(`${dir}/cert.pem`, pem.cert);
writeFileSync(`${dir}/key.pem`, pem.key);
const gw = await createGateway({
  entryPoints: { websecure: { address: '127.0.0.1:0', http: { tls: {} } } },
  http: { routers: { all: { rule: 'PathPrefix(`/`)', service: 'up' } }, services: { up: { loadBalancer: { servers: [{ url: `http://127.0.0.1:${upPort}` }] } } } },
  tls: { certificates: [{ certFile: `${dir}/cert.pem`, keyFile: `${dir}/key.pem` }] },
  accessLog: false,
});
const port = (s: http.Server | http2.Http2SecureServer) => (s.address() as AddressInfo).port;

function run(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('exit', () => resolve(out));
  });
}
/** One measurement: req/s and the serving process's CPU µs per request. */
interface Sample {
  rps: number;
  cpuUs: number;
}
async function h1(p: number, seconds: number): Promise<Sample> {
  const cpu = process.cpuUsage();
  const out = await run([AUTOCANNON, '--json', '-c', '32', '-d', String(seconds), `https://localhost:${p}/x`]);
  const used = process.cpuUsage(cpu);
  const r = JSON.parse(out) as { requests: { total: number }; duration: number; non2xx: number; errors: number };
  if (r.non2xx || r.errors) throw new Error(`h1 errors: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.total / r.duration, cpuUs: (used.user + used.system) / r.requests.total };
}
// The h2 load loop, in a child so that it does not share the servers' event loop.
const H2_LOOP = `
const http2 = require('node:http2');
const [port, seconds] = process.argv.slice(1).map(Number);
let done = 0, errors = 0; const why = new Set(); const end = Date.now() + seconds * 1000;
function session() {
  const s = http2.connect('https://localhost:' + port, { rejectUnauthorized: false });
  s.on('error', (e) => { errors++; why.add('session: ' + e.code); });
  return new Promise((resolve) => {
    let live = 0;
    const one = () => {
      if (Date.now() > end) { if (--live === 0) { s.close(); resolve(); } return; }
      const r = s.request({ ':path': '/x' });
      r.on('response', (h) => { if (h[':status'] !== 200) { errors++; why.add('status ' + h[':status']); } });
      r.resume(); r.on('end', () => { done++; one(); }); r.on('error', (e) => { errors++; why.add('stream: ' + e.code); one(); }); r.end();
    };
    for (let i = 0; i < 32; i++) { live++; one(); }
  });
}
const t0 = Date.now();
Promise.all(Array.from({ length: 8 }, session)).then(() => console.log(JSON.stringify({ rps: done / ((Date.now() - t0) / 1000), done, errors, why: [...why] })));
`;
async function h2(p: number, seconds: number): Promise<Sample> {
  const cpu = process.cpuUsage();
  const r = JSON.parse(await run(['-e', H2_LOOP, String(p), String(seconds)])) as { rps: number; done: number; errors: number; why: string[] };
  const used = process.cpuUsage(cpu);
  if (r.errors) throw new Error(`h2 errors ${p === gwPort ? 'through the gateway' : 'through the bare proxy'}: ${r.errors} of ${r.done} requests (${r.why.join(', ')})`);
  return { rps: r.rps, cpuUs: (used.user + used.system) / r.done };
}

const gwPort = gw.entryPoints.websecure!.port;
const cases = [
  { name: 'HTTPS h1', gw: () => h1(gwPort, SECONDS), base: () => h1(port(bareH1), SECONDS) },
  { name: 'HTTPS h2', gw: () => h2(gwPort, SECONDS), base: () => h2(port(bareH2), SECONDS) },
];
console.log(`load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ${ROUNDS} rounds of ${SECONDS}s`);
for (const c of cases) {
  await c.gw();
  await c.base();
  const g: Sample[] = [];
  const b: Sample[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // Alternating order: neither side always runs first.
    if (i % 2 === 0) {
      g.push(await c.gw());
      b.push(await c.base());
    } else {
      b.push(await c.base());
      g.push(await c.gw());
    }
  }
  const m = (xs: Sample[], k: keyof Sample) => median(xs.map((x) => x[k]));
  const ratio = (k: keyof Sample) => median(g.map((x, i) => x[k] / b[i]![k]));
  console.log(
    `| ${c.name} | gateway ${m(g, 'rps').toFixed(0)} req/s, ${m(g, 'cpuUs').toFixed(0)} µs CPU/req | bare node ${m(b, 'rps').toFixed(0)} req/s, ${m(b, 'cpuUs').toFixed(0)} µs CPU/req | req/s ratio ${ratio('rps').toFixed(2)} | CPU/req ratio ${ratio('cpuUs').toFixed(2)} |`,
  );
}
await gw.close();
for (const s of [bareH1, bareH2, upstream]) s.close();
agent.destroy();
process.exit(0);
