/**
 * What Lua instances share to start fast (src/engines/lua/libs.ts, chunks.ts) stays invisible to
 * plugins: the standard library is copied from a template into fresh tables per state, and a
 * source compiled once is handed to each later instance as its own copy of the prototypes. Each
 * case checks that one plugin's changes never reach another, and that a copied chunk is held to
 * the same limits as a compiled one.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createHost, type Host } from 'terrarium-plugins';
import { chunkStats } from '../dist/engines/lua/chunks.js';
import { LIMITS, expectCode, fixtureDir } from './engines/conformance.js';

type Api = Record<string, (...a: unknown[]) => unknown>;
const SLOW = { timeout: 120_000 };

/** Changes everything a plugin can reach of its standard library, at load and in a call. */
const MUTATOR = `
string.upper = function() return 'hacked' end
string.extra = function() return 1 end
table.insert = nil
math.pi = 3
math.floor = nil
utf8.char = nil
coroutine.wrap = nil
leaked = 'global'
setmetatable(_G, { __index = function() return 'from a metatable' end })
local M = {}
function M.more()
  table.concat = function() return 'mine' end
  string.format = nil
  rawset(_G, 'later', true)
  print = nil
  return ('x'):upper()
end
return M
`;

/** Reads the same names back: what plain fengari gives. */
const OBSERVER = `
local M = {}
function M.look()
  return {
    upper = string.upper('x'),
    method = ('x'):upper(),
    extra = string.extra == nil,
    insert = table.insert ~= nil,
    pi = math.pi > 3.14 and math.pi < 3.15,
    floor = math.floor(1.5),
    char = utf8.char(65),
    wrap = coroutine.wrap ~= nil,
    leaked = leaked == nil,
    later = later == nil,
    globalsMeta = getmetatable(_G) == nil,
    unknown = someUndefinedName == nil,
    concat = table.concat({ 'a', 'b' }, '-'),
    format = string.format('%d', 7),
    print = type(print),
    stringMeta = getmetatable(''),
  }
end
return M
`;

const PLAIN = {
  upper: 'X',
  method: 'X',
  extra: true,
  insert: true,
  pi: true,
  floor: 1,
  char: 'A',
  wrap: true,
  leaked: true,
  later: true,
  globalsMeta: true,
  unknown: true,
  concat: 'a-b',
  format: '7',
  print: 'function',
  stringMeta: 'string',
};

/** One source loaded under several file names: module state, closures and errors per instance. */
const TWIN = `
local count = 0
local M = { store = {} }
function M.bump() count = count + 1 return count end
function M.put(k) M.store[k] = true end
function M.has(k) return M.store[k] == true end
function M.mutate() string.upper = function() return 'mine' end end
function M.upper(s) return s:upper() end
function M.fail() error('boom') end
return M
`;

describe('lua isolation of shared start-up state', () => {
  let host: Host;
  const api = (name: string) => host.get<Api>(name) as unknown as Api;
  before(async () => {
    const twin = `-- ${randomUUID()}\n${TWIN}`;
    const dir = await fixtureDir({ 'a-mutator.lua': MUTATOR, 'b-observer.lua': OBSERVER, 'twin1.lua': twin, 'twin2.lua': twin, 'twin3.lua': twin });
    host = await createHost({ dir, limits: LIMITS });
  });
  after(() => host.close());

  it("keeps one plugin's changes to string, table, math, utf8, coroutine and the globals out of another", () => {
    assert.equal(api('a-mutator').more!(), 'hacked');
    assert.deepEqual(api('b-observer').look!(), PLAIN);
  });

  it('gives each plugin its own string metatable target (a method call sees only its own string table)', () => {
    api('twin1').mutate!();
    assert.equal(api('twin1').upper!('a'), 'mine');
    assert.equal(api('twin2').upper!('a'), 'A');
  });

  it('keeps module state apart between plugins loaded from the same source', () => {
    const one = api('twin1');
    const two = api('twin2');
    const before = two.bump!() as number;
    one.bump!();
    one.bump!();
    assert.equal(two.bump!(), before + 1);
    one.put!('k');
    assert.equal(one.has!('k'), true);
    assert.equal(two.has!('k'), false);
  });

  it("names each plugin's own file in its errors, though the source was compiled once", async () => {
    const e = await expectCode(() => api('twin3').fail!(), 'ERR_PLUGIN_THROWN');
    assert.equal(e.file, 'twin3.lua');
    assert.match(e.message, /twin3\.lua:10/);
  });
});

describe('lua compile cache', () => {
  it('compiles a source once for every plugin and standby loaded from it', async () => {
    const src = `-- ${randomUUID()}\nreturn { f = function(x) return x * 2 end }`;
    const before = chunkStats();
    const dir = await fixtureDir({ 'c1.lua': src, 'c2.lua': src, 'c3.lua': src });
    const host = await createHost({ dir, limits: LIMITS });
    try {
      for (const name of ['c1', 'c2', 'c3']) assert.equal((host.get<Api>(name) as unknown as Api).f!(21), 42);
      const after = chunkStats();
      assert.equal(after.compiled - before.compiled, 1);
      assert.ok(after.hits - before.hits >= 2, `copies handed out: ${after.hits - before.hits}`);
    } finally {
      await host.close();
    }
  });

  it("does not keep what a plugin's own load() compiles", async () => {
    const dir = await fixtureDir({
      'loader.lua': `return { run = function(s) local f = assert(load(s)) return f() end }`,
    });
    const host = await createHost({ dir, limits: LIMITS });
    try {
      const before = chunkStats();
      assert.equal((host.get<Api>('loader') as unknown as Api).run!(`return '${randomUUID()}'`)!.toString().length, 36);
      const after = chunkStats();
      assert.equal(after.entries, before.entries);
      assert.equal(after.compiled, before.compiled);
    } finally {
      await host.close();
    }
  });

  it('does not keep a source that fails to compile: each load reports the syntax error', async () => {
    const src = `-- ${randomUUID()}\nreturn {\n  f = function( end\n}`;
    const before = chunkStats();
    for (const name of ['s1.lua', 's2.lua']) {
      const host = await createHost({ dir: await fixtureDir({ [name]: src }), limits: LIMITS });
      try {
        const p = host.plugins[0]!;
        assert.equal(p.status, 'failed');
        assert.equal(p.error?.code, 'ERR_PLUGIN_LOAD');
        assert.match(p.error!.message, new RegExp(`${name.replace('.', '\\.')}:3`));
      } finally {
        await host.close();
      }
    }
    assert.equal(chunkStats().compiled, before.compiled);
  });

  it('holds a copied chunk to memoryBytes as compiling it would be (the compiler charges its code)', SLOW, async () => {
    // 40k instructions (160 KB of source) in a function never called: ~8 MB charged while
    // compiling, little held after.
    const src = `-- ${randomUUID()}\nlocal function never()\nlocal x\n${'x=1\n'.repeat(40_000)}end\nreturn { ok = function() return true end }`;
    const roomy = await createHost({ dir: await fixtureDir({ 'big.lua': src }), limits: { ...LIMITS, memoryBytes: 64 * 1024 * 1024, loadTimeoutMs: 60_000 }, standby: false });
    try {
      assert.equal(roomy.plugins[0]!.status, 'ready', roomy.plugins[0]!.error?.message);
    } finally {
      await roomy.close();
    }
    const hits = chunkStats().hits;
    const tight = await createHost({ dir: await fixtureDir({ 'big.lua': src }), limits: { ...LIMITS, memoryBytes: 4 * 1024 * 1024, loadTimeoutMs: 60_000 }, standby: false });
    try {
      const p = tight.plugins[0]!;
      assert.ok(chunkStats().hits > hits, 'the chunk came from the cache');
      assert.equal(p.status, 'failed');
      assert.equal(p.error?.code, 'ERR_PLUGIN_LOAD');
      assert.match(p.error!.message, /not enough memory/);
    } finally {
      await tight.close();
    }
  });
});
