/**
 * The exchange's per-request copies (issue 28's whole-chain cuts): the request-phase `ctx` of a
 * plugin middleware is one host object per middleware and router, shared by every request, so a
 * plugin must only ever get a copy of it. Regression guard for that sharing: what a plugin does to
 * its ctx (state, config, router) in one request is not seen by the next, in either engine.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { baseConfig, gateway, request, tempDir } from './fixtures/gateway/helpers.js';

const JS = `
export const meta = { name: 'ctxj', version: '1', apiVersion: 1 };
export function onRequest(req, ctx) {
  const seen = String(ctx.state.n ?? 0) + ':' + Object.keys(ctx.config).sort().join(',') + ':' + ctx.router + ':' + ctx.middleware;
  ctx.state.n = 1;
  ctx.config.added = true;
  ctx.router = 'changed';
  ctx.middleware = 'changed';
  return { setHeaders: { 'x-j': seen } };
}
`;
const LUA = `
local M = { meta = { name = 'ctxl', version = '1', apiVersion = 1 } }
function M.onRequest(req, ctx)
  local keys = {}
  for k in pairs(ctx.config) do keys[#keys + 1] = k end
  table.sort(keys)
  local seen = tostring(ctx.state.n or 0) .. ':' .. table.concat(keys, ',') .. ':' .. ctx.router .. ':' .. ctx.middleware
  ctx.state.n = 1
  ctx.config.added = true
  ctx.router = 'changed'
  ctx.middleware = 'changed'
  return { setHeaders = { ['x-l'] = seen } }
end
return M
`;

describe('gateway exchange: per-request copies', () => {
  it('gives every request a fresh ctx: changes a JS or Lua plugin makes to ctx are not seen by the next request', async (t) => {
    const files = await tempDir({ 'ctxj.js': JS, 'ctxl.lua': LUA });
    t.after(() => files.cleanup());
    const gw = await gateway(
      t,
      baseConfig(files.dir, {
        routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['j', 'l'], service: 'echo' } },
        middlewares: { j: { plugin: { ctxj: { limit: 1 } } }, l: { plugin: { ctxl: { limit: 1 } } } },
      }),
    );
    for (let i = 0; i < 3; i++) {
      const r = await request(`${gw.url}/x`);
      assert.equal(r.status, 200);
      const echoed = r.json<{ headers: Record<string, string> }>();
      assert.equal(echoed.headers['x-j'], '0:limit:r:j', `request ${i + 1}, JS`);
      assert.equal(echoed.headers['x-l'], '0:limit:r:l', `request ${i + 1}, Lua`);
    }
  });
});
