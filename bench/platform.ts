/**
 * Scenario: platform APIs inside a plugin against the same work in plain Node, in one run.
 *   sha256-1k     crypto.subtle.digest('SHA-256', 1 KiB)         (JS plugin; Lua: crypto.digest)
 *   hmac-verify   crypto.subtle.verify('HMAC', key, sig, 1 KiB)  (JS plugin; Lua: crypto.hmac + compare)
 *   url-parse     new URL('https://user@example.com:8080/a/b/../c?x=1&y=2#h').pathname
 *   textenc-1k    new TextEncoder().encode(1 KiB of mixed text)
 *   es256-verify  crypto.subtle.verify ECDSA P-256/SHA-256 of 1 KiB (JS plugin; Lua: crypto.verify('ES256', pem, ...))
 *   json-lua      json.decode(json.encode(t)) of a 10-field table (Lua) vs JSON.parse(JSON.stringify) in Node
 *   fetch-local   fetch(url) + text() of a local upstream (127.0.0.1, port 0; Lua: http.request) vs Node's http.request
 * Each export runs the operation N times in a loop, so the figure is the cost of the operation
 * inside the guest (the call's own overhead divided by N). Method: warm up WARMUP_MS, then BATCHES
 * rounds, each contender once per round (interleaved); median µs per operation, ratio to Node.
 *
 * Run:  npm run build && node --import tsx bench/platform.ts
 * (fetch-local does FETCH_N requests per call instead of N, keep-alive on the Node side.)
 */
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync, sign as nodeSign, webcrypto } from 'node:crypto';
import { createHost } from 'terrarium-plugins';

const N = 200;
const FETCH_N = 20;
const EC = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const EC_SPKI = [...(EC.publicKey.export({ format: 'der', type: 'spki' }) as Buffer)];
const EC_PEM = EC.publicKey.export({ format: 'pem', type: 'spki' }) as string;
const DATA = new Uint8Array(1024).map((_, i) => i);
const EC_SIG = [...nodeSign('sha256', DATA, { key: EC.privateKey, dsaEncoding: 'ieee-p1363' })];
const BATCHES = 15;
const WARMUP_MS = 1500;
const TEXT = 'héllo wörld € 😀 '.repeat(64).slice(0, 1024);
const URL_TEXT = 'https://user@example.com:8080/a/b/../c?x=1&y=2#h';

const JS = `
const data = new Uint8Array(1024).map((_, i) => i);
const text = ${JSON.stringify(TEXT)};
let key, sig;
export async function sha(n) { let x = 0; for (let i = 0; i < n; i++) x += new Uint8Array(await crypto.subtle.digest('SHA-256', data))[0]; return x; }
export async function hmacVerify(n) {
  key ??= await crypto.subtle.importKey('raw', new Uint8Array(32).fill(7), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  sig ??= await crypto.subtle.sign('HMAC', key, data);
  let ok = 0; for (let i = 0; i < n; i++) ok += (await crypto.subtle.verify('HMAC', key, sig, data)) ? 1 : 0; return ok;
}
const ecSig = new Uint8Array(${JSON.stringify(EC_SIG)});
let ecKey;
export async function es256(n) {
  ecKey ??= await crypto.subtle.importKey('spki', new Uint8Array(${JSON.stringify(EC_SPKI)}), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  let ok = 0; for (let i = 0; i < n; i++) ok += (await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, ecKey, ecSig, data)) ? 1 : 0; return ok;
}
export async function get(n, u) { let x = 0; for (let i = 0; i < n; i++) x += (await (await fetch(u)).text()).length; return x; }
export function url(n) { let x = 0; for (let i = 0; i < n; i++) x += new URL(${JSON.stringify(URL_TEXT)}).pathname.length; return x; }
export function enc(n) { let x = 0; const e = new TextEncoder(); for (let i = 0; i < n; i++) x += e.encode(text).length; return x; }
`;
const LUA = `
local M = {}
local data = string.rep('x', 1024)
local key = string.rep('\\7', 32)
function M.sha(n) local x = 0 for i = 1, n do x = x + #crypto.digest('sha256', data) end return x end
function M.hmacVerify(n) local sig = crypto.hmac('sha256', key, data) local ok = 0 for i = 1, n do if crypto.hmac('sha256', key, data) == sig then ok = ok + 1 end end return ok end
local bytes = {} for i = 0, 1023 do bytes[#bytes + 1] = string.char(i % 256) end
local data1k = table.concat(bytes)
local pem = ${JSON.stringify(EC_PEM)}
local ecsig = hex.decode(${JSON.stringify(Buffer.from(EC_SIG).toString('hex'))})
function M.es256(n) local ok = 0 for i = 1, n do if crypto.verify('ES256', pem, data1k, ecsig) then ok = ok + 1 end end return ok end
function M.get(n, u) local x = 0 for i = 1, n do x = x + #http.request(u).body end return x end
local t = { id = 42, name = 'widget', price = 9.5, tags = { 'a', 'b', 'c' }, ok = true, owner = 'x', a = 1, b = 2, c = 3, d = 'four' }
function M.json(n) local x = 0 for i = 1, n do x = x + #json.encode(json.decode(json.encode(t))) end return x end
return M
`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'terrarium-bench-platform-'));
  writeFileSync(join(dir, 'web.js'), JS);
  writeFileSync(join(dir, 'web2.lua'), LUA);
  const server = http.createServer((_q, r) => r.end('ok'));
  server.keepAliveTimeout = 600_000; // the Node contender's keep-alive sockets idle between batches
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const host = await createHost({ dir, limits: { callTimeoutMs: 60_000 }, grants: { web: { fetch: { allow: [origin], maxInFlight: 64 } }, web2: { fetch: { allow: [origin], maxInFlight: 64 } } } });
  const js = host.get<Record<string, (n: number, u?: string) => Promise<number>>>('web');
  const lua = host.get<Record<string, (n: number, u?: string) => Promise<number>>>('web2');
  const data = new Uint8Array(1024).map((_, i) => i);
  const key = await webcrypto.subtle.importKey('raw', new Uint8Array(32).fill(7), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  const sig = await webcrypto.subtle.sign('HMAC', key, data);
  const ecKey = await webcrypto.subtle.importKey('spki', new Uint8Array(EC_SPKI), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  const ecSig = new Uint8Array(EC_SIG);
  const agent = new http.Agent({ keepAlive: true });
  const nodeGet = () => new Promise<number>((resolve, reject) => {
    http.get(`${origin}/`, { agent }, (res) => { let n = 0; res.on('data', (c: Buffer) => (n += c.length)); res.on('end', () => resolve(n)); res.on('error', reject); }).on('error', reject);
  });
  const jsonT = { id: 42, name: 'widget', price: 9.5, tags: ['a', 'b', 'c'], ok: true, owner: 'x', a: 1, b: 2, c: 3, d: 'four' };
  const node: Record<string, (n: number) => Promise<number>> = {
    sha: async (n) => { let x = 0; for (let i = 0; i < n; i++) x += new Uint8Array(await webcrypto.subtle.digest('SHA-256', data))[0]!; return x; },
    hmacVerify: async (n) => { let ok = 0; for (let i = 0; i < n; i++) ok += (await webcrypto.subtle.verify('HMAC', key, sig, data)) ? 1 : 0; return ok; },
    es256: async (n) => { let ok = 0; for (let i = 0; i < n; i++) ok += (await webcrypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, ecKey, ecSig, data)) ? 1 : 0; return ok; },
    get: async (n) => { let x = 0; for (let i = 0; i < n; i++) x += await nodeGet(); return x; },
    url: async (n) => { let x = 0; for (let i = 0; i < n; i++) x += new URL(URL_TEXT).pathname.length; return x; },
    enc: async (n) => { let x = 0; const e = new TextEncoder(); for (let i = 0; i < n; i++) x += e.encode(TEXT).length; return x; },
    json: async (n) => { let x = 0; for (let i = 0; i < n; i++) x += JSON.stringify(JSON.parse(JSON.stringify(jsonT))).length; return x; },
  };
  const u = `${origin}/`;
  const rows: [string, string, (n: number) => Promise<number>][] = [
    ['sha256-1k', 'node', node.sha!], ['sha256-1k', 'quickjs', js.sha!], ['sha256-1k', 'lua', lua.sha!],
    ['hmac-verify', 'node', node.hmacVerify!], ['hmac-verify', 'quickjs', js.hmacVerify!], ['hmac-verify', 'lua', lua.hmacVerify!],
    ['es256-verify', 'node', node.es256!], ['es256-verify', 'quickjs', js.es256!], ['es256-verify', 'lua', lua.es256!],
    ['url-parse', 'node', node.url!], ['url-parse', 'quickjs', js.url!],
    ['textenc-1k', 'node', node.enc!], ['textenc-1k', 'quickjs', js.enc!],
    ['json-lua', 'node', node.json!], ['json-lua', 'lua', lua.json!],
    ['fetch-local', 'node', node.get!], ['fetch-local', 'quickjs', (n) => js.get!(n, u)], ['fetch-local', 'lua', (n) => lua.get!(n, u)],
  ];
  const count = (op: string) => (op === 'fetch-local' ? FETCH_N : N);
  const end = performance.now() + WARMUP_MS;
  while (performance.now() < end) for (const [, , f] of rows) await f(5);
  const times = rows.map(() => [] as number[]);
  for (let b = 0; b < BATCHES; b++) {
    for (let i = 0; i < rows.length; i++) {
      const t0 = performance.now();
      await rows[i]![2](count(rows[i]![0]));
      times[i]!.push(((performance.now() - t0) * 1000) / count(rows[i]![0]));
    }
  }
  console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; N=${N} per call, ${BATCHES} batches, median µs per operation`);
  console.log('| operation | contender | µs/op | × node |');
  console.log('|---|---|---|---|');
  const base = new Map<string, number>();
  rows.forEach(([op, who], i) => {
    const m = median(times[i]!);
    if (who === 'node') base.set(op, m);
    console.log(`| ${op} | ${who} | ${m.toFixed(2)} | ${who === 'node' ? '1' : (m / base.get(op)!).toFixed(1)} |`);
  });
  await host.close();
  agent.destroy();
  server.close();
  rmSync(dir, { recursive: true, force: true });
}

await main();
