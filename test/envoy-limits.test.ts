/**
 * Envoy Lua filters under Terrarium's rules (issue 25): an unsupported handle method fails with
 * ERR_ENVOY_UNSUPPORTED naming the method and the file:line; a looping filter hits
 * ERR_PLUGIN_TIMEOUT and the next request is served; `require` loads sibling modules only.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { baseConfig, gateway, memoryLogger, request, tempDir, upstream } from './fixtures/gateway/helpers.js';
import { createHost } from '../dist/index.js';

type T = { after(fn: () => unknown): void };

async function withFilter(t: T, files: Record<string, string>, upUrl: string, extraDirs: Record<string, string> = {}, prepare?: (dir: string) => Promise<void>) {
  const d = await tempDir(files);
  t.after(() => d.cleanup());
  await prepare?.(d.dir);
  for (const [rel, text] of Object.entries(extraDirs)) {
    await mkdir(path.dirname(path.join(d.dir, rel)), { recursive: true });
    await writeFile(path.join(d.dir, rel), text);
  }
  const logger = memoryLogger();
  const config = baseConfig(d.dir, {
      routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['f'], service: 'app' } },
      middlewares: { f: { plugin: { filter: {} } } } as never,
      services: { app: { loadBalancer: { servers: [{ url: upUrl }] } } } as never,
  });
  // A safety net on a loaded machine; the loop case still hits it.
  config.plugins!.limits = { ...config.plugins!.limits, callTimeoutMs: 2000 };
  const gw = await gateway(t, config, { logger });
  return Object.assign(gw, { logger, dir: d.dir });
}

const warned = (lines: { level: string; obj: object; msg?: string }[]) => lines.filter((l) => l.level === 'warn').map((l) => `${JSON.stringify(l.obj)} ${l.msg ?? ''}`);

describe('Envoy filters: same limits, same errors', () => {
  it('an unsupported handle method fails with ERR_ENVOY_UNSUPPORTED naming the method and file:line', async (t) => {
    const up = await upstream((_req, res) => res.end('ok'));
    t.after(() => up.close());
    const filter = ['function envoy_on_request(h)', '  local x = 1', '  h:clearRouteCache()', 'end', ''].join('\n');
    const gw = await withFilter(t, { 'filter.lua': filter }, up.url);
    const r = await request(`${gw.url}/`);
    assert.equal(r.status, 502);
    assert.equal(r.json().code, 'ERR_ENVOY_UNSUPPORTED');
    const log = warned(gw.logger.lines).join('\n');
    assert.match(log, /handle:clearRouteCache\(\)/);
    assert.match(log, /filter\.lua:3/);
    assert.equal(up.seen.length, 0);
  });

  it('a looping envoy_on_request hits ERR_PLUGIN_TIMEOUT and the next request is served', async (t) => {
    const up = await upstream((_req, res) => res.end('ok'));
    t.after(() => up.close());
    const filter = `
function envoy_on_request(h)
  if h:headers():get("x-loop") then
    while true do end
  end
  h:headers():add("x-served", "yes")
end
`;
    const gw = await withFilter(t, { 'filter.lua': filter }, up.url);
    const r = await request(`${gw.url}/`, { headers: { 'x-loop': '1' } });
    assert.equal(r.status, 502);
    assert.equal(r.json().code, 'ERR_PLUGIN_TIMEOUT');
    const next = await request(`${gw.url}/`);
    assert.equal(next.status, 200);
    assert.equal(up.seen[0]!.headers['x-served'], 'yes');
  });

  it('pairs() iterates pseudo-headers first, then one entry per value', async (t) => {
    const up = await upstream((_req, res) => res.end('ok'));
    t.after(() => up.close());
    const filter = `
function envoy_on_request(h)
  local seen = {}
  for k, v in pairs(h:headers()) do seen[#seen + 1] = k .. "=" .. v end
  h:headers():add("x-first", seen[1]:sub(1, 1))
  local cookies = 0
  for _, e in ipairs(seen) do if e:find("^set%-cookie=") then cookies = cookies + 1 end end
  h:headers():add("x-cookies", cookies)
  h:headers():add("x-has-path", table.concat(seen, "|"):find(":path=/p", 1, true) and "yes" or "no")
end
`;
    const gw = await withFilter(t, { 'filter.lua': filter }, up.url);
    await request(`${gw.url}/p`, { headers: { 'set-cookie': ['a=1', 'b=2'] as never } });
    assert.equal(up.seen[0]!.headers['x-first'], ':');
    assert.equal(up.seen[0]!.headers['x-cookies'], '2');
    assert.equal(up.seen[0]!.headers['x-has-path'], 'yes');
  });
});

describe('Envoy filters: require of sibling modules', () => {
  it('loads a module file next to the filter (dotted names are subfolders), once', async (t) => {
    const up = await upstream((_req, res) => res.end('ok'));
    t.after(() => up.close());
    const filter = `
local lib = require("lib.mylib")
local again = require("lib.mylib")
function envoy_on_request(h)
  h:headers():add("x-lib", lib.greet("envoy"))
  h:headers():add("x-same", tostring(lib == again))
end
`;
    const gw = await withFilter(t, { 'filter.lua': filter }, up.url, { 'lib/mylib.lua': 'local M = {}\nfunction M.greet(n) return "hello " .. n end\nreturn M\n' });
    const r = await request(`${gw.url}/`);
    assert.equal(r.status, 200);
    assert.equal(up.seen[0]!.headers['x-lib'], 'hello envoy');
    assert.equal(up.seen[0]!.headers['x-same'], 'true');
  });

  it('refuses paths, traversal and files outside the plugin directory (a symlink out included)', async (t) => {
    const outside = await tempDir({ 'secret.lua': 'return { s = "leaked" }' });
    t.after(() => outside.cleanup());
    const up = await upstream((_req, res) => res.end('ok'));
    t.after(() => up.close());
    const filter = `
local names = { "../secret", "/etc/passwd", "a/b", "..secret", "lib..x", "link.secret", "missing" }
local results = {}
for i, name in ipairs(names) do
  local ok, err = pcall(require, name)
  results[i] = (ok and "loaded" or "refused") .. ":" .. tostring(err):gsub("%c", " ")
end
function envoy_on_request(h)
  for i, r in ipairs(results) do h:headers():add("x-r" .. i, r) end
end
`;
    const gw = await withFilter(t, { 'filter.lua': filter }, up.url, {}, (dir) => symlink(outside.dir, path.join(dir, 'link')));
    const r = await request(`${gw.url}/`);
    assert.equal(r.status, 200);
    const h = up.seen[0]!.headers;
    assert.match(String(h['x-r6']), /^refused:.*outside the plugin directory/);
    for (let i = 1; i <= 5; i++) assert.match(String(h[`x-r${i}`]), /^refused:.*dotted identifiers/, `x-r${i}`);
    assert.match(String(h['x-r7']), /^refused:.*no file missing\.lua/);
  });

  it('an ordinary plugin gets no require, and a chunk returning nothing without Envoy globals still fails to load', async (t) => {
    const d = await tempDir({ 'plain.lua': 'local ok = pcall(require, "x")\nreturn { f = function() return type(require) end }', 'nothing.lua': 'function helper() end' });
    t.after(() => d.cleanup());
    await using host = await createHost({ dir: d.dir });
    assert.equal(await host.get<{ f(): string }>('plain').f(), 'nil');
    const nothing = host.plugins.find((p) => p.name === 'nothing')!;
    assert.equal(nothing.status, 'failed');
    assert.equal(nothing.error?.code, 'ERR_PLUGIN_LOAD');
  });
});
