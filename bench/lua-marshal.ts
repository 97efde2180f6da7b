/**
 * Scenario: where the microseconds of a Lua call go (the fengari side of issue 15's fast path).
 * Interleaved batches, medians, all in one process: the copy floors (V8 JSON round trips), the
 * copy into fengari alone (toLua of the request), the copy out alone (toJS of readAll's 10-header
 * result), and whole calls through a host (noop, onRequest, readAll of bench/plugins/bench.lua).
 * Whatever a whole call costs beyond noop + copy in + copy out is the fengari interpreter running
 * the plugin (pairs/next, '..', table stores), not marshalling. The last row runs readAll's loop
 * in a bare fengari state (same patched fengari, no Terrarium call, no copies, no guard instance)
 * over a 10-entry table already in Lua: the interpreter's own floor for that workload.
 *
 * BENCH_LUA_MARSHAL_BEFORE=path/to/old-marshal.ts adds rows for another marshal.ts (same fengari),
 * for before/after comparisons in the same run.
 *
 * Run alone:  npm run build && node --import tsx bench/lua-marshal.ts
 */
import { createHost } from 'terrarium-plugins';
import { LUA_PLUGIN, REQS, REQ_PASS, calibrate, fmt, isMain, ratio, sample, table, type Req } from './lib.js';
import * as now from '../dist/engines/lua/marshal.js';
import { fengari } from '../dist/engines/lua/fengari.js';

const BATCH_MS = Number(process.env.BENCH_BATCH_MS ?? 40);
const BATCHES = Number(process.env.BENCH_BATCHES ?? 15);

type Marshal = typeof now;

function readAll(req: Req): { setHeaders: Record<string, string> } {
  const out: Record<string, string> = {};
  for (const k in req.headers) out[`x-echo-${k}`] = req.headers[k]!;
  return { setHeaders: out };
}

/** readAll's loop over a table already in a bare fengari state, resumed on one thread. */
function bareFengari(): () => void {
  const { lua, lauxlib, lualib, to_luastring } = fengari;
  const L = lauxlib.luaL_newstate();
  lualib.luaL_openlibs(L);
  const src = `function readAll(req) local out = {} for k, v in pairs(req.headers) do out['x-echo-' .. k] = v end return { setHeaders = out } end
req = { headers = {} }`;
  if (lauxlib.luaL_dostring(L, to_luastring(src)) !== 0) throw new Error('bare fengari: setup failed');
  lua.lua_getglobal(L, to_luastring('req'));
  lua.lua_getfield(L, -1, to_luastring('headers'));
  for (const [k, v] of Object.entries(REQ_PASS.headers)) {
    lua.lua_pushstring(L, to_luastring(v));
    lua.lua_setfield(L, -2, to_luastring(k));
  }
  lua.lua_settop(L, 0);
  const co = lua.lua_newthread(L);
  const fn = to_luastring('readAll');
  const req = to_luastring('req');
  return () => {
    lua.lua_getglobal(co, fn);
    lua.lua_getglobal(co, req);
    if (lua.lua_resume(co, null, 1) !== 0) throw new Error('bare fengari: readAll failed');
    lua.lua_settop(co, 0);
  };
}

/** A fengari-shaped state and markers, enough for toLua/toJS outside a plugin. */
function fixture(mm: Marshal) {
  const L = { l_G: { id_counter: 0 }, stack: [], top: 0 } as unknown as Parameters<Marshal['toLua']>[0];
  const markers = { nullUd: {}, arrayMt: {}, objectMt: {}, bytes: new WeakMap(), fromBytes: new WeakSet(), copyBudget: 64 << 20 } as unknown as Parameters<Marshal['toLua']>[2];
  // readAll's result as the plugin builds it: keys are fresh strings made by '..' each call.
  const result = mm.toLua(L, readAll(REQ_PASS), markers, '$', 0, [], false);
  return {
    copyIn: (i: number) => mm.toLua(L, REQS[i & 1]!, markers, '$[0]', 0, [], false),
    copyOut: () => mm.toJS(result, markers, '$', 0, []),
  };
}

export async function runLuaMarshal(log: (line: string) => void = console.log): Promise<string> {
  const host = await createHost({ files: [LUA_PLUGIN] });
  const api = host.get<{ noop(): void; onRequest(r: Req): unknown; readAll(r: Req): unknown }>(host.plugins[0]!.name);
  const list: [string, (i: number) => unknown][] = [
    ['copy floor: JSON.parse(JSON.stringify(req))', (i) => JSON.parse(JSON.stringify(REQS[i & 1]!)) as unknown],
    ['readAll copy floor: JSON round trip of req in and of the result out', (i) => JSON.parse(JSON.stringify(readAll(JSON.parse(JSON.stringify(REQS[i & 1]!)) as Req))) as unknown],
  ];
  const cur = fixture(now);
  list.push(['copy in: toLua(req)', cur.copyIn], ['copy out: toJS(readAll result)', cur.copyOut]);
  const beforePath = process.env.BENCH_LUA_MARSHAL_BEFORE;
  if (beforePath) {
    const before = fixture((await import(beforePath)) as Marshal);
    list.push(['copy in: toLua(req), before', before.copyIn], ['copy out: toJS(readAll result), before', before.copyOut]);
  }
  list.push(['call: noop()', () => api.noop()], ['call: onRequest(req)', (i) => api.onRequest(REQS[i & 1]!)], ['call: readAll(req)', (i) => api.readAll(REQS[i & 1]!)], ['bare fengari: the readAll loop alone, no call, no copies', bareFengari()]);
  for (const [, fn] of list) for (let i = 0; i < 20000; i++) fn(i);
  const sizes = list.map(([, fn]) => calibrate(fn, BATCH_MS));
  const per: number[][] = list.map(() => []);
  for (let r = 0; r < BATCHES; r++) list.forEach(([, fn], k) => per[k]!.push(sample(fn, 1, sizes[k]!).us));
  await host.close();
  const med = per.map((xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!);
  const floor = med[0]!;
  const rows = list.map(([label], k) => [label, fmt(med[k]!), ratio(med[k]!, floor)]);
  const md = table(['measure', 'µs (median)', 'vs request copy floor'], rows);
  log(md);
  return md;
}

if (isMain(import.meta.url)) await runLuaMarshal();
