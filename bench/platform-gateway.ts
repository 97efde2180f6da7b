/**
 * Scenario: gateway throughput with the JWT middleware (scripts-examples/jwt-auth.js) against no
 * middleware, same run, over real sockets. Every server in its own process (bench/gateway-child.ts:
 * the upstream, then one gateway with three routers), autocannon in another:
 *   - none:   PathPrefix(`/none`) straight to the upstream;
 *   - hs256:  PathPrefix(`/hs`) through jwt-auth.js, a valid HS256 bearer token on every request;
 *   - es256:  PathPrefix(`/es`) through jwt-auth.js, a valid ES256 bearer token on every request.
 * Warm-up, then ROUNDS rounds in alternating order (ABC, CBA, ...); req/s and p99 are medians over
 * rounds, the ratio to `none` is taken within each round and its median reported (paired).
 *
 * Run:   npm run build && node --import tsx bench/platform-gateway.ts
 * Knobs: PG_BENCH_SECONDS (4), PG_BENCH_WARMUP (3), PG_BENCH_ROUNDS (5), PG_BENCH_CONNECTIONS (32).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SECONDS = Number(process.env.PG_BENCH_SECONDS ?? 4);
const WARMUP = Number(process.env.PG_BENCH_WARMUP ?? 3);
const ROUNDS = Number(process.env.PG_BENCH_ROUNDS ?? 5);
const CONNECTIONS = Number(process.env.PG_BENCH_CONNECTIONS ?? 32);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.join(HERE, 'gateway-child.ts');
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

const b64u = (v: Buffer | string) => Buffer.from(v).toString('base64url');
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const SECRET = 'a shared secret for the bench';
const claims = { sub: 'bench', aud: 'api', exp: Math.floor(Date.now() / 1000) + 3600 };
function jwt(alg: 'HS256' | 'ES256'): string {
  const input = `${b64u(JSON.stringify({ alg, typ: 'JWT' }))}.${b64u(JSON.stringify(claims))}`;
  const sig = alg === 'HS256' ? createHmac('sha256', SECRET).update(input).digest() : sign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64u(sig)}`;
}

function startChild(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /READY (\S+)/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.on('exit', (code) => reject(new Error(`${args[0]} child exited with ${code} before it was ready`)));
  });
}

interface Run { rps: number; p99: number; non2xx: number; errors: number }
function autocannon(url: string, seconds: number, headers: Record<string, string>): Promise<Run> {
  const args = [AUTOCANNON, '--json', '-n', '-c', String(CONNECTIONS), '-d', String(seconds)];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}=${v}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', () => {
      try {
        const r = JSON.parse(out) as { duration: number; errors: number; non2xx: number; requests: { total: number }; latency: { p99: number } };
        resolve({ rps: r.requests.total / r.duration, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors });
      } catch (e) {
        reject(new Error(`autocannon output was not JSON: ${out.slice(0, 200)} (${(e as Error).message})`));
      }
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'terrarium-bench-pg-'));
  const children: ChildProcess[] = [];
  try {
    await copyFile(path.join(HERE, '..', 'scripts-examples', 'jwt-auth.js'), path.join(dir, 'jwt-auth.js'));
    const up = await startChild(['upstream']);
    children.push(up.child);
    const jwtConfig = (alg: string) => ({ plugin: { 'jwt-auth': { audience: 'api', keys: alg === 'HS256' ? [{ alg, secret: SECRET }] : [{ alg, pem: ec.publicKey.export({ format: 'pem', type: 'spki' }) }] } } });
    const config = {
      entryPoints: { web: { address: '127.0.0.1:0' } },
      http: {
        routers: {
          none: { rule: 'PathPrefix(`/none`)', service: 'up' },
          hs: { rule: 'PathPrefix(`/hs`)', middlewares: ['hs'], service: 'up' },
          es: { rule: 'PathPrefix(`/es`)', middlewares: ['es'], service: 'up' },
        },
        middlewares: { hs: jwtConfig('HS256'), es: jwtConfig('ES256') },
        services: { up: { loadBalancer: { servers: [{ url: up.url }] } } },
      },
      plugins: { dir, limits: { callTimeoutMs: 5000, memoryBytes: 32 << 20 } },
      accessLog: false,
    };
    const file = path.join(dir, 'gateway.json');
    await writeFile(file, JSON.stringify(config));
    const gw = await startChild(['gateway', file]);
    children.push(gw.child);
    const scenarios = [
      { key: 'none', url: `${gw.url}/none`, headers: { authorization: `Bearer ${jwt('HS256')}` } },
      { key: 'hs256', url: `${gw.url}/hs`, headers: { authorization: `Bearer ${jwt('HS256')}` } },
      { key: 'es256', url: `${gw.url}/es`, headers: { authorization: `Bearer ${jwt('ES256')}` } },
    ];
    for (const s of scenarios) {
      const w = await autocannon(s.url, WARMUP, s.headers);
      if (w.non2xx > 0 || w.errors > 0) throw new Error(`${s.key}: ${w.non2xx} non-2xx, ${w.errors} errors in the warm-up (is the token accepted?)`);
    }
    const runs = new Map<string, Run[]>(scenarios.map((s) => [s.key, []]));
    const ratios = new Map<string, number[]>(scenarios.map((s) => [s.key, []]));
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? scenarios : [...scenarios].reverse();
      const round = new Map<string, Run>();
      for (const s of order) round.set(s.key, await autocannon(s.url, SECONDS, s.headers));
      for (const s of scenarios) {
        runs.get(s.key)!.push(round.get(s.key)!);
        ratios.get(s.key)!.push(round.get(s.key)!.rps / round.get('none')!.rps);
      }
    }
    console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; ${ROUNDS} rounds of ${SECONDS} s, ${CONNECTIONS} connections, medians`);
    console.log('| scenario | req/s | × none (paired) | p99 ms | non-2xx |');
    console.log('|---|---|---|---|---|');
    for (const s of scenarios) {
      const rs = runs.get(s.key)!;
      console.log(`| ${s.key} | ${median(rs.map((x) => x.rps)).toFixed(0)} | ${median(ratios.get(s.key)!).toFixed(2)} | ${median(rs.map((x) => x.p99)).toFixed(1)} | ${rs.reduce((a, x) => a + x.non2xx + x.errors, 0)} |`);
    }
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
