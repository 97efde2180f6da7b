/**
 * Regressions for the Lua sandbox, one per attack class (issue 12): each case failed on the code
 * before the fix (the host died, a built-in ran past every limit, plugins shared state, or Lua
 * semantics were wrong). fengari implements its standard library in JavaScript, where the count
 * hook never runs, so these check that the patched built-ins report their work and allocations.
 *
 * Cases that failed only by running for seconds or minutes have a test timeout well above what the
 * fixed code needs on a loaded machine: the timeout is how they fail on the old code, never what
 * they assert.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { createHost, type Host } from 'terrarium-plugins';
import { expectCode, fixtureDir } from './engines/conformance.js';

type Api = Record<string, (...args: unknown[]) => unknown>;
const SLOW = { timeout: 30_000 };

const files: Record<string, string> = {
  'marshal.lua': `return {
  hugeIndex = function() return host.array({ [2147483647] = true }) end,
  hugeIndexArg = function() host.log.info(host.array({ [2147483647] = 1 })); return 'sent' end,
  sparseOk = function() local t = host.array({}); t[1] = 'a'; t[4] = 'd'; return t end,
  ok = function() return 'ok' end,
}`,
  'builtins.lua': `local M = {}
function M.plainFind()
  local s, p = ('a'):rep(1e6), ('a'):rep(5e5) .. 'b'
  while true do s:find(p, 1, true) end
end
function M.plainFindMiddle()
  local s, p = ('a'):rep(4e6), ('a'):rep(1e6) .. 'b' .. ('a'):rep(1e6)
  while true do s:find(p, 1, true) end
end
function M.noSpecialsFind()
  local s, p = ('a'):rep(1e6), ('a'):rep(5e5) .. 'b'
  while true do s:find(p) end
end
function M.balance() return string.find(('('):rep(200000), '%b()') end
function M.compareLong()
  local a = ('x'):rep(2e6)
  local i = 0
  while true do i = i + 1; local _ = (a .. i) < (a .. (i + 1)) end
end
function M.numeral()
  local s = ('1'):rep(8e6)
  while true do local _ = tonumber(s) end
end
function M.copies() local s = ('a'):rep(8e6) while true do local _ = s:sub(2) end end
function M.utf8len() local s = ('a'):rep(8e6) while true do utf8.len(s) end end
function M.equalLong() local a, b = ('x'):rep(8e6), ('x'):rep(8e6) while true do local _ = a == b end end
function M.lexSpaces() return load(function() return (' '):rep(1e6) end) end
function M.ok() return 'ok' end
return M`,
  'memory.lua': `local M = {}
function M.hashKeys()
  local t, base = {}, ('x'):rep(2e6)
  for i = 1, 400 do t[base .. i] = true end
  return 'survived'
end
function M.loadHuge()
  local f = load(string.rep('a=1 ', 4e6))
  return f and 'compiled' or 'refused'
end
function M.tableMove()
  local dst = {}
  table.move(setmetatable({}, { __index = rawlen }), 1, 1e8, 1, dst)
  return #dst
end
function M.unpackHuge() return select('#', table.unpack({}, 1, 999000)) end
function M.ok() return 'ok' end
return M`,
  'holder.lua': `local keep = {}
return {
  hold = function(n) for i = 1, n do keep[#keep + 1] = { i } end return #keep end,
  drop = function() keep = {} return 0 end,
}`,
  'awaiter.lua': `local lazy = setmetatable({}, { __index = function(_, k) return host.users.fetch(k) end })
return {
  viaMetamethod = function(id) return lazy[id] end,
  viaPcall = function(id) local ok, v = pcall(host.users.fetch, id) return ok and v end,
}`,
  'seeder.lua': `return {
  seed = function(n) math.randomseed(n); return true end,
  draw = function(n) local t = {} for i = 1, n do t[i] = math.random(1, 1000000) end return t end,
}`,
  'drawer.lua': `return {
  draw = function(n) local t = {} for i = 1, n do t[i] = math.random(1, 1000000) end return t end,
}`,
  'strings.lua': `local allow = { guest = true, admin = false }
local n = 0
return {
  allowed = function(name) return allow[name] == true end,
  less = function(a, b) return a < b end,
  count = function() n = n + 1; return n end,
  ownError = function(msg) error(msg) end,
  ownErrorTable = function(msg) error({ msg = msg }) end,
  cstack = function()
    local function f() return tostring(setmetatable({}, { __tostring = f })) end
    return f()
  end,
}`,
};

describe('lua sandbox regressions (issue 12)', () => {
  let dir: string;
  let host: Host;
  let slowHost: Host;
  before(async () => {
    dir = await fixtureDir(files);
    const users = { fetch: async (id: string) => ({ id, name: `user ${id}` }) };
    const base = { dir, quarantine: { maxViolations: Infinity }, capabilities: { log: { info: () => undefined }, users } };
    host = await createHost({ ...base, limits: { memoryBytes: 32 * 1024 * 1024, callTimeoutMs: 300, loadTimeoutMs: 2000 } });
    // Memory cases get a deadline they cannot reach first, so the memory guard must be what stops them.
    slowHost = await createHost({ ...base, limits: { memoryBytes: 32 * 1024 * 1024, callTimeoutMs: 20_000, loadTimeoutMs: 5000 } });
  });
  after(async () => {
    await host.close();
    await slowHost.close();
    await rm(dir, { recursive: true, force: true });
  });
  const p = (h: Host, name: string) => h.get(name) as unknown as Api;

  describe('marshalling sized by the data present', () => {
    it('refuses a returned host.array whose chosen length would not fit in memoryBytes (the host used to die)', async () => {
      const e = await expectCode(() => p(host, 'marshal').hugeIndex!(), 'ERR_MARSHAL');
      assert.match(e.message, /length 2147483647 holding 1 values/);
      assert.equal(p(host, 'marshal').ok!(), 'ok');
    });

    it('refuses the same array passed to a capability', async () => {
      await expectCode(() => p(host, 'marshal').hugeIndexArg!(), 'ERR_MARSHAL');
      assert.equal(p(host, 'marshal').ok!(), 'ok');
    });

    it('still copies sparse marked arrays with their holes as null', () => {
      assert.deepEqual(p(host, 'marshal').sparseOk!(), ['a', null, null, 'd']);
    });
  });

  describe('time limits inside built-ins', () => {
    for (const [fn, what] of [
      ['plainFind', 'plain string.find'],
      ['plainFindMiddle', 'plain string.find of a needle that is quadratic for a native search too'],
      ['noSpecialsFind', 'string.find of a pattern without specials'],
      ['balance', '%b patterns'],
      ['compareLong', '< on long fresh strings'],
      ['numeral', 'tonumber of a long numeral'],
    ] as const) {
      it(`stops ${what} at the call deadline`, SLOW, async () => {
        await expectCode(() => p(host, 'builtins')[fn]!(), 'ERR_PLUGIN_TIMEOUT');
        assert.equal(p(host, 'strings').count!() as number > 0, true, 'another plugin still serves');
      });
    }
  });

  // Each patched loop of fengari (README, Memory and long built-ins), stopped at the deadline. The
  // old code also ended these with ERR_PLUGIN_TIMEOUT, but only at the next count hook, seconds late.
  describe('every patched built-in loop checks the deadline', () => {
    for (const [fn, what] of [
      ['copies', 'string copies (luaS_new)'],
      ['utf8len', 'utf8.len'],
      ['equalLong', '== on long equal strings'],
      ['lexSpaces', 'the lexer reading an endless source'],
    ] as const) {
      it(`stops ${what}`, SLOW, async () => {
        await expectCode(() => p(host, 'builtins')[fn]!(), 'ERR_PLUGIN_TIMEOUT');
      });
    }
  });

  describe('memory limits inside built-ins', () => {
    it('counts long strings hashed as table keys against memoryBytes', SLOW, async () => {
      await expectCode(() => p(slowHost, 'memory').hashKeys!(), 'ERR_PLUGIN_MEMORY');
    });

    it('bounds the compiler of load() by memoryBytes', SLOW, async () => {
      await expectCode(() => p(slowHost, 'memory').loadHuge!(), 'ERR_PLUGIN_MEMORY');
    });

    it('counts a table filled by table.move against memoryBytes, not only the deadline', SLOW, async () => {
      await expectCode(() => p(slowHost, 'memory').tableMove!(), 'ERR_PLUGIN_MEMORY');
    });

    it('counts a huge table.unpack against memoryBytes before the stack grows', SLOW, async () => {
      await expectCode(() => p(slowHost, 'memory').unpackHuge!(), 'ERR_PLUGIN_MEMORY');
    });
  });

  describe('honest memory (issue 10, item 5)', () => {
    const memoryOf = (name: string) => slowHost.plugins.find((x) => x.name === name)!.memoryBytes;
    it('reports what a Lua plugin holds now, not at its last internal check', () => {
      const holder = p(slowHost, 'holder');
      const before = memoryOf('holder');
      holder.hold!(30_000);
      const held = memoryOf('holder');
      // 30k tables of one entry: each at least a table and an entry (guard.ts sizes)
      assert.ok(held - before > 30_000 * 400, `memoryBytes grew by ${held - before}`);
      holder.drop!();
      assert.ok(memoryOf('holder') < held, 'and falls when the data is dropped');
    });
  });

  describe('async capabilities (README: where an export may await)', () => {
    it('awaits an async capability inside a metamethod of the export (Lua 5.3 yields across __index)', async () => {
      assert.deepEqual(await p(host, 'awaiter').viaMetamethod!('7'), { id: '7', name: 'user 7' });
    });
    it('awaits one through pcall', async () => {
      assert.deepEqual(await p(host, 'awaiter').viaPcall!('8'), { id: '8', name: 'user 8' });
    });
  });

  describe('isolation: math.random', () => {
    it('gives each plugin its own generator: a seed in one plugin does not predict another', () => {
      const seeder = p(host, 'seeder');
      seeder.seed!(42);
      const drawn = p(host, 'drawer').draw!(8) as number[];
      seeder.seed!(42);
      const predicted = seeder.draw!(8) as number[];
      assert.notDeepEqual(drawn, predicted);
    });

    it('keeps a seeded sequence reproducible inside the plugin', () => {
      const seeder = p(host, 'seeder');
      seeder.seed!(7);
      const a = seeder.draw!(5);
      seeder.seed!(7);
      assert.deepEqual(seeder.draw!(5), a);
    });
  });

  describe('integrity: string keys and order', () => {
    it('does not find a different string under an allow-list key (fengari hash collision)', () => {
      const s = p(host, 'strings');
      assert.equal(s.allowed!('guest'), true);
      assert.equal(s.allowed!('\x06w\x05\x06W\x03\x07\x04'), false);
    });

    it('orders strings by their bytes', () => {
      const s = p(host, 'strings');
      assert.equal(s.less!('\x10', '\x02'), false);
      assert.equal(s.less!('\x02', '\x10'), true);
      assert.equal(s.less!('a', 'a\x00'), true);
      assert.equal(s.less!('b', 'ab'), false);
    });
  });

  describe('limit violations classified by what the engine did, not by message text', () => {
    for (const msg of ['stack overflow', 'not enough memory', 'error in error handling', 'x: C stack overflow']) {
      it(`keeps the instance when plugin code raises "${msg}" itself`, async () => {
        const s = p(host, 'strings');
        const before = s.count!() as number;
        const e = await expectCode(() => s.ownError!(msg), 'ERR_PLUGIN_THROWN');
        assert.match(e.message, new RegExp(msg));
        assert.equal(s.count!(), before + 1, 'the module state survived: same instance');
      });
    }

    it('still reports a real stack overflow of fengari as ERR_PLUGIN_STACK', async () => {
      await expectCode(() => p(host, 'strings').cstack!(), 'ERR_PLUGIN_STACK');
    });
  });
});
