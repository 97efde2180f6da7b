/**
 * Child process of bench/gateway.ts: one server per process, so the load generator, the upstream
 * and the proxy under test never share an event loop. Prints `READY <url>` once listening.
 *
 *   node --import tsx bench/gateway-child.ts upstream            the upstream: a tiny JSON answer
 *   node --import tsx bench/gateway-child.ts bare <upstreamUrl> [spinUs]
 *                                                      the floor: a bare node:http reverse proxy; with spinUs,
 *                                                      it also spins that many µs of plain JS per request
 *   node --import tsx bench/gateway-child.ts gateway <config>    terrarium's gateway on a JSON config file
 *   node --import tsx bench/gateway-child.ts rate <url> <req/s> <seconds> <headers JSON>
 *                                                      the fixed-rate load generator: autocannon at --overallRate,
 *                                                      every response's latency kept in µs (autocannon's own
 *                                                      histogram has whole milliseconds); prints one JSON line
 *
 * GW_CHILD_DIST=<dir>: the gateway mode runs <dir>/gateway/index.js (a copy of an earlier build) instead of ./dist.
 *
 * Run alone (e.g. to profile): npm run build && node --cpu-prof --import tsx bench/gateway-child.ts gateway /tmp/x.json
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { GatewayConfig } from 'terrarium-plugins/gateway';

/**
 * GW_CHILD_DIST: a build directory to run the gateway from instead of the package's ./dist (a copy
 * of the build before a change, inside the repository so that its imports resolve), so that
 * before and after are measured in one run.
 */
const GATEWAY_MODULE = process.env.GW_CHILD_DIST ? pathToFileURL(path.join(process.env.GW_CHILD_DIST, 'gateway', 'index.js')).href : 'terrarium-plugins/gateway';

const [mode, arg, extra] = process.argv.slice(2);
const BODY = Buffer.from('{"ok":true,"service":"upstream"}\n');

function ready(server: http.Server): void {
  const a = server.address() as AddressInfo;
  process.stdout.write(`READY http://127.0.0.1:${a.port}\n`);
}

async function main(): Promise<void> {
  // Exit cleanly on SIGTERM, so that --cpu-prof writes its profile.
  if (mode !== 'gateway') process.on('SIGTERM', () => process.exit(0));
  if (mode === 'upstream') {
    const server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length });
      res.end(BODY);
    });
    server.keepAliveTimeout = 60_000;
    server.listen(0, '127.0.0.1', () => ready(server));
    return;
  }
  if (mode === 'bare') {
    // What a developer would write by hand: keep-alive agent, headers passed through, bodies piped.
    const target = new URL(arg!);
    const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 256 });
    const spinMs = Number(extra ?? 0) / 1000;
    const server = http.createServer((req, res) => {
      if (spinMs > 0) {
        const end = performance.now() + spinMs;
        while (performance.now() < end);
      }
      const up = http.request({ agent, hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      req.pipe(up);
    });
    server.listen(0, '127.0.0.1', () => ready(server));
    return;
  }
  if (mode === 'gateway') {
    const config = JSON.parse(readFileSync(arg!, 'utf8')) as GatewayConfig;
    const { createGateway } = (await import(GATEWAY_MODULE)) as typeof import('terrarium-plugins/gateway');
    const gw = await createGateway(config);
    process.stdout.write(`READY ${Object.values(gw.entryPoints)[0]!.url}${gw.admin ? ` ADMIN ${gw.admin.url}` : ''}\n`);
    process.on('SIGTERM', () => void gw.close().then(() => process.exit(0)));
    return;
  }
  if (mode === 'rate') {
    const [, , rate, seconds, headers] = process.argv.slice(2);
    const autocannon = createRequire(import.meta.url)('autocannon') as (o: object) => import('node:events').EventEmitter & { stop(): void };
    const us: number[] = [];
    let non2xx = 0;
    // Coordinated omission: autocannon at a fixed rate sends on its own clock; the latency is
    // measured from each request's send, so a stall shows up as the requests that waited behind it.
    const run = autocannon({ url: arg, connections: 8, overallRate: Number(rate), duration: Number(seconds), headers: JSON.parse(headers!) as Record<string, string> });
    run.on('response', (_c: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 200 && status < 300) us.push(ms * 1000);
      else non2xx++;
    });
    run.on('done', () => {
      us.sort((a, b) => a - b);
      const q = (p: number) => us[Math.min(us.length - 1, Math.floor(p * us.length))] ?? NaN;
      process.stdout.write(`${JSON.stringify({ count: us.length, non2xx, p50: q(0.5), p90: q(0.9), p99: q(0.99) })}\n`);
    });
    return;
  }
  throw new Error(`unknown mode ${mode}; expected upstream, bare, gateway or rate`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error)?.message ?? String(e)}\n`);
  process.exit(1);
});
