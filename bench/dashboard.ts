/**
 * The cost of an open dashboard: a gateway (echo service, one JS plugin middleware) in a child
 * process under autocannon, with and without a client reading /api/events, in interleaved rounds
 * after a warm-up round. Prints the medians of requests/s and of the gateway process's CPU time
 * per request (utime + stime from /proc/PID/stat, which the load generator does not share, and
 * which is steadier than req/s on a shared machine), and their ratios with/without.
 * Then, in this process, the CPU time of one dashboard snapshot (localBackend's, the data every
 * SSE tick builds) of a gateway that served requests, against one request's: what a tick costs
 * in requests, a figure that does not move with the machine's load as req/s does.
 * Run: npm run build && nice -n 19 node --import tsx bench/dashboard.ts [rounds] [seconds] [--workers N]
 * With --workers N the gateway is `terrarium serve --workers N` and the CPU is the primary's and
 * its workers' together (the primary asks every worker for the dashboard's data each tick).
 */
import { spawn, execFileSync } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, readFile, writeFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { createGateway } from '../dist/gateway/index.js';
import { gatewayView } from '../dist/gateway/serve/server.js';
import { localBackend } from '../dist/gateway/admin/backend.js';

const autocannon = createRequire(import.meta.url)('autocannon') as (o: object) => Promise<{ requests: { average: number; total: number } }>;
const args = process.argv.slice(2);
const workersAt = args.indexOf('--workers');
const workers = workersAt >= 0 ? Number(args.splice(workersAt, 2)[1]) : 0;
const rounds = Number(args[0] ?? 5);
const seconds = Number(args[1] ?? 3);
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

const dir = await mkdtemp(path.join(os.tmpdir(), 'terrarium-bench-dash-'));
await writeFile(path.join(dir, 'tag.js'), "export const meta = { name: 'tag', version: '1.0.0', apiVersion: 1 };\nexport function onRequest() { return { setHeaders: { 'x-tag': '1' } }; }\n");
await writeFile(
  path.join(dir, 'gateway.yaml'),
  `entryPoints:\n  web:\n    address: 127.0.0.1:0\nadmin:\n  address: 127.0.0.1:0\nhttp:\n  routers:\n    r:\n      rule: "PathPrefix(\`/\`)"\n      middlewares: [tag]\n      service: echo\n  middlewares:\n    tag:\n      plugin:\n        tag: {}\n  services:\n    echo:\n      echo: {}\nplugins:\n  dir: ${JSON.stringify(dir)}\naccessLog: false\n`,
);
// The gateway as the CLI runs it, in its own process (group), so its CPU is its own.
const child = spawn(process.execPath, [CLI, '--log-level', 'error', 'serve', path.join(dir, 'gateway.yaml'), ...(workers ? ['--workers', String(workers)] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
const urls = await new Promise<Record<string, string>>((resolve, reject) => {
  let out = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c;
    const web = /web\s+(http:\S+)/.exec(out);
    const admin = /admin\s+(http:\S+)/.exec(out);
    if (web && admin && (!workers || /workers\s+\d/.test(out))) resolve({ web: web[1]!, admin: admin[1]! });
  });
  child.once('exit', (code) => reject(new Error(`the gateway exited (${code}): ${out}`)));
});

/** CPU ms of the gateway: its process and, with workers, their processes (children of the primary). */
async function cpuMs(): Promise<number> {
  const pids = [child.pid!];
  if (workers) {
    const kids = await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').catch(() => '');
    pids.push(...kids.trim().split(/\s+/).filter(Boolean).map(Number));
  }
  let ticks = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
  }
  return ticks * TICK_MS;
}

function openClient(): { stop(): void; events(): number } {
  let events = 0;
  const req = http.get(`${urls.admin}/api/events`, (res) => res.on('data', (c: Buffer) => (events += c.toString().split('event: snapshot').length - 1)));
  req.on('error', () => undefined);
  return { stop: () => req.destroy(), events: () => events };
}

async function run(): Promise<{ rps: number; cpuPerReqUs: number }> {
  const before = await cpuMs();
  const r = await autocannon({ url: urls.web, connections: 20, duration: seconds });
  const cpu = (await cpuMs()) - before;
  return { rps: r.requests.average, cpuPerReqUs: (cpu * 1000) / Math.max(1, r.requests.total) };
}

await run(); // warm up
const without: { rps: number; cpuPerReqUs: number }[] = [];
const withSse: { rps: number; cpuPerReqUs: number }[] = [];
let snapshots = 0;
for (let i = 0; i < rounds; i++) {
  without.push(await run());
  const client = openClient();
  withSse.push(await run());
  snapshots += client.events();
  client.stop();
}
const rpsA = median(without.map((x) => x.rps));
const rpsB = median(withSse.map((x) => x.rps));
const cpuA = median(without.map((x) => x.cpuPerReqUs));
const cpuB = median(withSse.map((x) => x.cpuPerReqUs));
console.log(`load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ${workers ? `--workers ${workers}; ` : ''}${rounds} rounds of ${seconds} s, 20 connections`);
console.log(`without SSE client: median ${rpsA.toFixed(0)} req/s, ${cpuA.toFixed(1)} µs CPU per request`);
console.log(`with SSE client:    median ${rpsB.toFixed(0)} req/s, ${cpuB.toFixed(1)} µs CPU per request (${(snapshots / (rounds * seconds)).toFixed(1)} snapshots/s received)`);
console.log(`ratio with/without: req/s ${(rpsB / rpsA).toFixed(3)}, CPU per request ${(cpuB / cpuA).toFixed(3)}`);

// One snapshot's CPU, measured in this process on a gateway like the child's, after requests.
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const gw = await createGateway(path.join(dir, 'gateway.yaml'), { logger: silent, watchConfig: false });
await autocannon({ url: Object.values(gw.entryPoints)[0]!.url, connections: 10, amount: 2000 });
const backend = localBackend(gatewayView(gw));
for (let i = 0; i < 50; i++) await backend.snapshot();
const perSnapshot: number[] = [];
for (let r = 0; r < 5; r++) {
  const t0 = process.cpuUsage();
  for (let i = 0; i < 200; i++) await backend.snapshot();
  const d = process.cpuUsage(t0);
  perSnapshot.push((d.user + d.system) / 200);
}
const snapUs = median(perSnapshot);
console.log(`one snapshot: ${snapUs.toFixed(0)} µs CPU (${(await backend.snapshot()).length} bytes) = ${(snapUs / cpuA).toFixed(2)} requests; at 2 snapshots/s ${((2 * snapUs) / 10_000).toFixed(3)}% of one core`);
backend.close();
await gw.close();
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
await rm(dir, { recursive: true, force: true });
