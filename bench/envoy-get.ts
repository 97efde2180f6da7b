/**
 * Scenario: the cost of one `headers():get` in an Envoy Lua filter run by the gateway's adapter
 * (docs/envoy.md), to set beside Envoy's published figure for its LuaJIT filter (139 ns per call,
 * envoyproxy/envoy PR 46960). Two filters, loaded by the same host in the same run: one calls
 * `headers():get("x-block")` N times in envoy_on_request, the other runs the same loop reading a
 * local instead. Each is called through the middleware contract (onRequest with the core bench's
 * request); the difference of their medians over N is the cost of one get. Warmed up first; the
 * two alternate in rounds so that machine drift does not favour one.
 *
 * Then the whole call: the gateway bench's lua1 logic (403 on x-block, else set x-plugin) as an
 * Envoy filter (`one`) and as a plain Terrarium Lua middleware (`plain`), 200 calls each per round,
 * alternating; the ratio is taken within each round (median of the rounds' ratios), which holds
 * on a loaded machine where absolute times drift.
 *
 * Run:   npm run build && node --import tsx bench/envoy-get.ts
 * Knobs: ENVOY_BENCH_N (20000) gets per call, ENVOY_BENCH_ROUNDS (15).
 * Prints the figures; bench/results/envoy.md records a run.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHost } from '../dist/index.js';
import '../dist/gateway/index.js';
import { fmt, isMain, makeRequest, median } from './lib.js';

const N = Number(process.env.ENVOY_BENCH_N ?? 20000);
const ROUNDS = Number(process.env.ENVOY_BENCH_ROUNDS ?? 15);

const filter = (body: string) => `function envoy_on_request(handle)
  local hs = handle:headers()
  local n = ${N}
  local v
  for i = 1, n do ${body} end
  if v == nil then handle:headers():add("x-none", "1") end
end
`;

/** bench/gateway.ts's lua1 logic in Envoy's API (its envoy1 row) and as a plain Lua middleware (lua1). */
const ENVOY_ONE = `function envoy_on_request(request_handle)
  if request_handle:headers():get("x-block") then
    request_handle:respond({ [":status"] = "403" }, "")
  end
  request_handle:headers():add("x-plugin", "1")
end
`;
const PLAIN_ONE = `local M = { meta = { name = 'plain', version = '1.0.0', apiVersion = 1 } }
function M.onRequest(req)
  if req.headers['x-block'] then return { respond = { status = 403 } } end
  return { setHeaders = { ['x-plugin'] = '1' } }
end
return M
`;

export async function runEnvoyGet(): Promise<{ getNs: number; loopNs: number; callUs: number; plainUs: number; ratio: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'terrarium-envoy-bench-'));
  try {
    await writeFile(path.join(dir, 'gets.lua'), filter('v = hs:get("x-block")'));
    await writeFile(path.join(dir, 'loop.lua'), filter('v = hs'));
    await writeFile(path.join(dir, 'one.lua'), ENVOY_ONE);
    await writeFile(path.join(dir, 'plain.lua'), PLAIN_ONE);
    await using host = await createHost({ dir, limits: { callTimeoutMs: 60000 } });
    type Mw = { onRequest(req: unknown, ctx: unknown): unknown };
    const req = makeRequest(false);
    const input = { method: req.method, path: req.path, query: {}, headers: req.headers, client: { address: '127.0.0.1', port: 1 } };
    const ctx = { config: {}, state: {}, router: 'r', middleware: 'm' };
    const time = (name: string, times = 1): number => {
      const mw = host.get<Mw>(name);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < times; i++) mw.onRequest(input, ctx);
      return Number(process.hrtime.bigint() - t0) / times;
    };
    for (let i = 0; i < 3; i++) {
      time('gets');
      time('loop');
      time('one', 200);
      time('plain', 200);
    }
    const gets: number[] = [];
    const loops: number[] = [];
    const ones: number[] = [];
    const plains: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      if (r % 2 === 0) {
        gets.push(time('gets'));
        loops.push(time('loop'));
      } else {
        loops.push(time('loop'));
        gets.push(time('gets'));
      }
      let one: number;
      let plain: number;
      if (r % 2 === 0) {
        one = time('one', 200);
        plain = time('plain', 200);
      } else {
        plain = time('plain', 200);
        one = time('one', 200);
      }
      ones.push(one);
      plains.push(plain);
      ratios.push(one / plain);
    }
    const getNs = (median(gets) - median(loops)) / N;
    return { getNs, loopNs: median(loops) / N, callUs: median(ones) / 1000, plainUs: median(plains) / 1000, ratio: median(ratios) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) {
  const load = os.loadavg()[0]!;
  const r = await runEnvoyGet();
  console.log(`one headers():get: ${fmt(r.getNs)} ns (loop overhead ${fmt(r.loopNs)} ns per iteration, subtracted); Envoy's LuaJIT filter: 139 ns; ratio ${fmt(r.getNs / 139)}`);
  console.log(`one whole call, the lua1 logic (through the middleware contract, no HTTP): Envoy filter ${fmt(r.callUs)} µs, plain Lua middleware ${fmt(r.plainUs)} µs; Envoy / plain ${fmt(r.ratio)}x (per-round median)`);
  console.log(`load average at start: ${load.toFixed(2)}`);
}
