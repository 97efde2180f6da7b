import { runConformance } from './engines/conformance.js';

/** The conformance fixtures in Lua (see test/engines/conformance.ts for the contract). */
export const luaFixtures = {
  basic: `local n = 0
local M = { meta = { name = 'basic', version = '1.2.3', apiVersion = 1, description = 'conformance' } }
function M.echo(x) return x end
function M.add(a, b) return a + b end
function M.concat(a, b) return a .. b end
function M.counter() n = n + 1; return n end
function M.fail(msg)
  error(msg)
end
function M.returnFunction() return function() return 1 end end
function M.noop() end
function M.throwTable() error({ code = 42 }) end
return M
`,
  caps: `local M = {}
function M.readKv(k) return host.kv.get(k) end
function M.readConfig() return host.config end
function M.logIt(msg) host.log.info(msg); return true end
function M.printIt(msg) print(msg); return true end
function M.fetchUser(id) return host.users.fetch(id) end
function M.hostThrows() return host.fail() end
function M.passFunction() return host.kv.set('k', function() return 1 end) end
function M.mutateHost()
  local ok, err = pcall(function() host.kv = nil; host.x = 1 end)
  if ok then return 'mutated' end
  return 'refused: ' .. tostring(err)
end
return M
`,
  spin: `local ticks = 0
return {
  spin = function() while true do end end,
  ok = function() return 'ok' end,
  tick = function() ticks = ticks + 1; return ticks end,
}
`,
  recurse: `local function f(n) return f(n + 1) + 1 end
return {
  recurse = function(n) return f(n) end,
  viaHost = function(n)
    local ok, r = pcall(host.reenter, n + 1)
    if ok then return r end
    return 'caught'
  end,
  ok = function() return 'ok' end,
}
`,
  hog: `local keep = {}
local chunk = string.rep('x', 65536)
return {
  hog = function() local i = 0 while true do i = i + 1; keep[#keep + 1] = chunk .. i end end,
  ok = function() return 'ok' end,
}
`,
  loadspin: `while true do end
return { ok = function() return 'ok' end }
`,
  syntax: `local M = {}

local x = = 1
return M
`,
  badname: `return { meta = { name = 'has spaces!' }, ok = function() return 'ok' end }\n`,
  fnmeta: `return { meta = { name = 'fnmeta', hook = function() end }, ok = function() return 'ok' end }\n`,
  swallow: `return {
  swallow = function()
    local ok = pcall(function() while true do end end)
    return 'escaped'
  end,
}
`,
};

runConformance({ engine: 'lua', ext: '.lua', fixtures: luaFixtures, lines: { fail: 8, syntax: 3 } });

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { createHost, TerrariumError, type Host } from 'terrarium-plugins';
import { LIMITS, expectCode, fixtureDir, recordingLogger } from './engines/conformance.js';

type Fn = (...args: never[]) => unknown;
type Api = Record<string, Fn>;
const call = (host: Host, plugin: string, fn: string, ...args: unknown[]): unknown =>
  (host.get<Api>(plugin) as unknown as Record<string, (...a: unknown[]) => unknown>)[fn]!(...args);

describe('lua sandbox', () => {
  let dir: string;
  let host: Host;
  const log = recordingLogger();
  before(async () => {
    dir = await fixtureDir({
      'probe.lua': `
local M = {}
function M.globals()
  local found = {}
  for _, n in ipairs({ 'dofile', 'loadfile', 'require', 'collectgarbage', 'io', 'package', 'debug', 'module', 'fengari', 'js' }) do
    if _G[n] ~= nil then found[#found + 1] = n end
  end
  return host.array(found)
end
function M.tryDofile() return dofile('/etc/passwd') end
function M.tryLoadfile() return loadfile('/etc/passwd') end
function M.tryRequire() return require('os') end
function M.tryOsGetenv() return os.getenv('HOME') end
function M.tryOsExit() return os.exit(7) end
function M.tryOsExecute() return os.execute('echo hi') end
function M.tryIo() return io.open('/etc/passwd') end
function M.tryPackage() return package.loadlib end
function M.tryDebug() return debug.sethook(function() end, '', 0) end
function M.tryDump() return string.dump(function() end) end
function M.binaryLoad()
  local f, err = load('\\27Lua', 'x', 'b')
  return f == nil and err or 'loaded'
end
function M.binaryAsText()
  local f, err = load('\\27LuaS\\0', 'x', 't')
  return f == nil and 'refused' or 'loaded'
end
function M.textLoad() return load('return 1 + 1')() end
function M.loadWithEnv() return load('return x', 'chunk', 't', { x = 5 })() end
function M.loadSeesSandbox() return load('return type(io) .. type(os.execute)')() end
function M.stringMeta()
  local mt = getmetatable('')
  local ok = pcall(setmetatable, '', {})
  return { mt = mt, set = ok }
end
function M.stringIndexIntact() return ('abc'):upper() end
function M.hostMeta()
  local ok1 = pcall(rawset, host, 'x', 1)
  local ok2 = pcall(setmetatable, host, nil)
  return { meta = getmetatable(host), rawset = ok1, setmetatable = ok2, kind = type(host) }
end
function M.reachJs()
  local found = {}
  local function probe(v, name)
    local ok, r = pcall(function() return v.constructor end)
    if ok and r ~= nil then found[#found + 1] = name end
  end
  probe(host, 'host'); probe(host.kv, 'host.kv'); probe(print, 'print'); probe(host.null, 'null')
  local ok, r = pcall(function() return host.kv.get.constructor end)
  if ok and r ~= nil then found[#found + 1] = 'function' end
  return host.array(found)
end
function M.coroutinesWork()
  local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1); return b * 2 end)
  return { co(1), co(10) }
end
function M.hookProbe() return type(debug) end
return M
`,
    });
    // No case here is about time: a generous deadline keeps a starved test process from failing them.
    host = await createHost({ dir, limits: { ...LIMITS, callTimeoutMs: 5000 }, quarantine: { maxViolations: Infinity }, logger: log, capabilities: { kv: { get: (k: string) => k } } });
  });
  after(async () => {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('opens only the safe standard library', () => {
    assert.deepEqual(call(host, 'probe', 'globals'), []);
  });

  for (const fn of ['tryDofile', 'tryLoadfile', 'tryRequire', 'tryOsGetenv', 'tryOsExit', 'tryOsExecute', 'tryIo', 'tryPackage', 'tryDebug', 'tryDump']) {
    it(`refuses ${fn.slice(3)} with ERR_PLUGIN_THROWN (the function does not exist)`, async () => {
      const e = await expectCode(() => call(host, 'probe', fn), 'ERR_PLUGIN_THROWN');
      assert.match(e.message, /attempt to (call|index) a nil value/);
    });
  }

  it('refuses binary chunks in load, even when passed as text', () => {
    assert.match(String(call(host, 'probe', 'binaryLoad')), /binary/);
    assert.equal(call(host, 'probe', 'binaryAsText'), 'refused');
  });

  it('keeps load for text chunks, with the sandboxed globals or the env given', () => {
    assert.equal(call(host, 'probe', 'textLoad'), 2);
    assert.equal(call(host, 'probe', 'loadWithEnv'), 5);
    assert.equal(call(host, 'probe', 'loadSeesSandbox'), 'nilnil');
  });

  it('locks the string metatable', () => {
    assert.deepEqual(call(host, 'probe', 'stringMeta'), { mt: 'string', set: false });
    assert.equal(call(host, 'probe', 'stringIndexIntact'), 'ABC');
  });

  it('makes host a read-only userdata', () => {
    assert.deepEqual(call(host, 'probe', 'hostMeta'), { meta: 'host (read-only)', rawset: false, setmetatable: false, kind: 'userdata' });
  });

  it('exposes no JavaScript object to Lua', () => {
    assert.deepEqual(call(host, 'probe', 'reachJs'), []);
  });

  it('keeps plugin coroutines working', () => {
    assert.deepEqual(call(host, 'probe', 'coroutinesWork'), [2, 20]);
  });
});

describe('lua marshalling', () => {
  let dir: string;
  let host: Host;
  before(async () => {
    dir = await fixtureDir({
      'm.lua': `
local M = {}
function M.echo(x) return x end
function M.mathType(x) return math.type(x) end
function M.plusOne(x) return x + 1 end
function M.intWrap() return 2147483647 + 1 end
function M.emptyTable() return {} end
function M.emptyObject() return host.object({}) end
function M.emptyArray() return host.array({}) end
function M.holes() local t = {}; t[1] = 'a'; t[3] = 'c'; return t end
function M.markedHoles() local t = host.array({}); t[1] = 'a'; t[3] = 'c'; return t end
function M.mixed() return { 1, 2, x = 'y' } end
function M.sequence() return { 'a', 'b', 'c' } end
function M.numberKeys() return { [10] = 'ten', [20] = 'twenty' } end
function M.invalidUtf8() return '\\255\\254abc' end
function M.validBytes() return 'h\\195\\169' end
function M.forceBytes() return host.bytes('hi') end
function M.len(s) return #s end
function M.byteAt(s, i) return s:byte(i) end
function M.nullInside() return { a = host.null, list = { 1, host.null, 3 } } end
function M.isNull(x) return x == host.null end
function M.isNil(x) return x == nil end
function M.cycle() local t = {}; t.self = t; return t end
function M.booleanKey() return { [true] = 1 } end
function M.deep() local t = 'leaf'; for i = 1, 70 do t = { t } end; return t end
function M.coroutineValue() return coroutine.create(function() end) end
function M.two() return 1, 2 end
function M.specials() return { nan = 0/0, inf = 1/0, ninf = -1/0, negz = -0.0 } end
return M
`,
    });
    host = await createHost({ dir, limits: LIMITS, quarantine: { maxViolations: Infinity } });
  });
  after(async () => {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  });
  const m = (fn: string, ...args: unknown[]) => call(host, 'm', fn, ...args);

  it('passes 32-bit integers as Lua integers and larger numbers as floats (no silent wrap)', () => {
    assert.equal(m('mathType', 2147483647), 'integer');
    assert.equal(m('mathType', -2147483648), 'integer');
    assert.equal(m('mathType', 2147483648), 'float');
    assert.equal(m('mathType', 2 ** 40), 'float');
    assert.equal(m('mathType', 1.5), 'float');
    assert.equal(m('plusOne', 2147483648), 2147483649);
    assert.equal(m('plusOne', 2 ** 53 - 2), 2 ** 53 - 1);
  });

  it('documents that integer arithmetic inside Lua wraps at 32 bits (fengari)', () => {
    assert.equal(m('intWrap'), -2147483648);
  });

  it('preserves NaN, Infinity and -0 both ways', () => {
    const out = m('specials') as Record<string, number>;
    assert.ok(Number.isNaN(out.nan));
    assert.equal(out.inf, Infinity);
    assert.equal(out.ninf, -Infinity);
    assert.ok(Object.is(out.negz, -0));
    assert.ok(Object.is(m('echo', -0), -0));
  });

  it('maps tables to arrays and objects by the documented rule', () => {
    assert.deepEqual(m('emptyTable'), []);
    assert.deepEqual(m('emptyObject'), {});
    assert.deepEqual(m('emptyArray'), []);
    assert.deepEqual(m('sequence'), ['a', 'b', 'c']);
    assert.deepEqual(m('holes'), { 1: 'a', 3: 'c' });
    assert.deepEqual(m('markedHoles'), ['a', null, 'c']);
    assert.deepEqual(m('mixed'), { 1: 1, 2: 2, x: 'y' });
    assert.deepEqual(m('numberKeys'), { 10: 'ten', 20: 'twenty' });
  });

  it('keeps JS empty arrays and objects apart on a round trip', () => {
    assert.deepEqual(m('echo', { a: [], b: {} }), { a: [], b: {} });
  });

  it('maps null to host.null and undefined to nil', () => {
    assert.equal(m('isNull', null), true);
    assert.equal(m('isNil', undefined), true);
    assert.deepEqual(m('nullInside'), { a: null, list: [1, null, 3] });
    assert.deepEqual(m('echo', [1, undefined, 3]), [1, null, 3]);
    assert.deepEqual(m('echo', { a: undefined, b: 1 }), { b: 1 });
  });

  it('returns text for valid UTF-8 and a Uint8Array for invalid UTF-8, without failing', () => {
    assert.deepEqual(m('invalidUtf8'), new Uint8Array([255, 254, 97, 98, 99]));
    assert.equal(m('validBytes'), 'hé');
    assert.deepEqual(m('forceBytes'), new Uint8Array([104, 105]));
  });

  it('passes a Uint8Array in as a byte string that crosses back as a Uint8Array', () => {
    const bytes = new Uint8Array([104, 105, 0, 255]);
    assert.equal(m('len', bytes), 4);
    assert.equal(m('byteAt', bytes, 4), 255);
    assert.deepEqual(m('echo', new Uint8Array([104, 105])), new Uint8Array([104, 105]));
    assert.equal(m('len', 'hé'), 3);
  });

  it('returns only the first of several results', () => {
    assert.equal(m('two'), 1);
  });

  it('refuses cycles, boolean keys, deep nesting and coroutines with ERR_MARSHAL and a path', async () => {
    const e = await expectCode(() => m('cycle'), 'ERR_MARSHAL');
    assert.match(e.message, /cycle at \$\.self/);
    await expectCode(() => m('booleanKey'), 'ERR_MARSHAL');
    await expectCode(() => m('deep'), 'ERR_MARSHAL');
    const c = await expectCode(() => m('coroutineValue'), 'ERR_MARSHAL');
    assert.match(c.message, /coroutine/);
  });
});

describe('lua limits', () => {
  let dir: string;
  let host: Host;
  const limits = { ...LIMITS, callTimeoutMs: 200 };
  before(async () => {
    dir = await fixtureDir({
      'bombs.lua': `
local keep = {}
local M = {}
function M.tables() while true do keep[#keep + 1] = { 1, 2, 3 } end end
function M.doubling() local s = 'x' while true do s = s .. s end end
function M.rep() return #string.rep('x', 2^30) end
function M.repEmpty() return #string.rep('', 2^31 - 1) + #string.rep('', 2^30, '') end
function M.repSepOnly() return string.rep('', 4, 'ab') end
function M.moveHuge() table.move({}, 1, 2^31 - 2, 2) return 'done' end
function M.removeLying() local t = setmetatable({}, { __len = function() return 2^31 - 1 end }) table.remove(t, 1) return 'done' end
function M.insertLying() local t = setmetatable({}, { __len = function() return 2^31 - 2 end }) table.insert(t, 1, 'x') return 'done' end
function M.moveSmall() return table.move({ 1, 2, 3 }, 1, 3, 2, {}) end
function M.repSep() return #string.rep('ab', 2^28, ',') end
function M.format() return string.format('%0999d', 1) end
function M.formatMany() local s = string.rep('x', 4 * 1024 * 1024); return #string.format(string.rep('%s', 40), table.unpack((function() local t = {} for i = 1, 40 do t[i] = s end return t end)())) end
function M.concatTable() local s = string.rep('x', 1024 * 1024); local t = {} for i = 1, 200 do t[i] = s end return #table.concat(t) end
function M.gsubBlowup() local s = string.rep('x', 1024 * 1024); return #s:gsub('x', s) end
function M.pattern() return string.find(('a'):rep(120), '.-.-.-.-b$') end
function M.gmatchPattern() local n = 0 for _ in ('a'):rep(5000):gmatch('a*a*a*b') do n = n + 1 end return n end
function M.manyConcat() local s = string.rep('x', 8 * 1024 * 1024); return #(s .. s .. s .. s .. s .. s .. s .. s .. s .. s) end
function M.ok() return 'ok' end
function M.spinAfterCaughtError() pcall(error, 'x') while true do end end
function M.recurseViaPcall() local function f(n) local ok, e = pcall(f, n + 1) if not ok then error(e, 0) end return e end return f(1) end
function M.recurseInCoroutine() local function f(n) return f(n + 1) + 1 end return coroutine.wrap(f)(1) end
function M.spinInCoroutine() return coroutine.wrap(function() while true do end end)() end
function M.sortSpin() local t = {} for i = 1, 100 do t[i] = i end table.sort(t, function(a, b) while true do end end) end
function M.gsubCallbackSpin() return ('abc'):gsub('.', function() while true do end end) end
function M.metaSpin() local t = setmetatable({}, { __index = function() while true do end end }) return t.x end
function M.swallowMemory() local ok = pcall(function() return string.rep('x', 2^30) end) return 'escaped' end
function M.swallowThenSpin() for i = 1, 1000 do pcall(function() while true do end end) end return 'escaped' end
return M
`,
      'coload.lua': `
local co = coroutine.wrap(function() while true do end end)
co()
return { ok = function() return 'ok' end }
`,
      'colater.lua': `
local co = coroutine.create(function() while true do end end)
return { run = function() return coroutine.resume(co) end, ok = function() return 'ok' end }
`,
      'bystander.lua': `local n = 0
return { bump = function() n = n + 1; return n end }
`,
      'reenter.lua': `
return { again = function() return host.again() end, ok = function() return 'ok' end }
`,
    });
    let reenter: (() => unknown) | undefined;
    // The same bombs with a generous time budget, for the cases that must end in ERR_PLUGIN_MEMORY or
    // ERR_PLUGIN_STACK: they meet that limit first even on a loaded machine (containment, not speed, is
    // tested; deep recursion in a coroutine took 100-500 ms under load, past the 200 ms budget).
    await copyFile(path.join(dir, 'bombs.lua'), path.join(dir, 'membombs.lua'));
    host = await createHost({ dir, limits, pluginLimits: { membombs: { callTimeoutMs: 20_000 } }, quarantine: { maxViolations: Infinity }, capabilities: { again: () => reenter?.() } });
    reenter = () => call(host, 'reenter', 'again');
  });
  after(async () => {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  });
  const bomb = async (fn: string, code: string) => {
    const plugin = code === 'ERR_PLUGIN_MEMORY' || code === 'ERR_PLUGIN_STACK' ? 'membombs' : 'bombs';
    const e = await expectCode(() => call(host, plugin, fn), code);
    await host.ready();
    assert.equal(call(host, plugin, 'ok'), 'ok');
    return e;
  };

  it('contains string doubling (s = s .. s) with ERR_PLUGIN_MEMORY', async () => {
    await bomb('doubling', 'ERR_PLUGIN_MEMORY');
  });
  it('answers string.rep of empty strings at once instead of looping 2^31 times in one built-in', () => {
    assert.equal(call(host, 'bombs', 'repEmpty'), 0);
    assert.equal(call(host, 'bombs', 'repSepOnly'), 'ababab');
  });
  it('stops table.move/insert/remove looping over 2^31 indexes inside one built-in', async () => {
    for (const fn of ['moveHuge', 'removeLying', 'insertLying']) await bomb(fn, 'ERR_PLUGIN_TIMEOUT');
    assert.deepEqual(call(host, 'bombs', 'moveSmall'), { 2: 1, 3: 2, 4: 3 });
  });
  it('contains string.rep to 1 GiB, with and without a separator', async () => {
    await bomb('rep', 'ERR_PLUGIN_MEMORY');
    await bomb('repSep', 'ERR_PLUGIN_MEMORY');
  });
  it('refuses huge string.format widths and contains many large %s', async () => {
    await bomb('format', 'ERR_PLUGIN_THROWN');
    await bomb('formatMany', 'ERR_PLUGIN_MEMORY');
  });
  it('contains table.concat and gsub results beyond the budget', async () => {
    await bomb('concatTable', 'ERR_PLUGIN_MEMORY');
    // gsub grows its buffer one replacement at a time: whichever limit it meets first ends it.
    try {
      call(host, 'bombs', 'gsubBlowup');
      assert.fail('gsubBlowup returned');
    } catch (e) {
      assert.ok(e instanceof TerrariumError && ['ERR_PLUGIN_MEMORY', 'ERR_PLUGIN_TIMEOUT'].includes(e.code), String(e));
    }
    await host.ready();
    assert.equal(call(host, 'bombs', 'ok'), 'ok');
  });
  it('contains one long .. chain of large strings', async () => {
    await bomb('manyConcat', 'ERR_PLUGIN_MEMORY');
  });
  it('stops pathological patterns with ERR_PLUGIN_TIMEOUT', async () => {
    await bomb('pattern', 'ERR_PLUGIN_TIMEOUT');
    await bomb('gmatchPattern', 'ERR_PLUGIN_TIMEOUT');
  });
  it('stops loops inside coroutines, sort comparators, gsub callbacks and metamethods', async () => {
    for (const fn of ['spinInCoroutine', 'sortSpin', 'gsubCallbackSpin', 'metaSpin']) await bomb(fn, 'ERR_PLUGIN_TIMEOUT');
  });
  it('keeps the time budget after pcall caught an error in the export (fengari allowhook bug)', async () => {
    await bomb('spinAfterCaughtError', 'ERR_PLUGIN_TIMEOUT');
  });
  it('does not let pcall swallow a memory or time violation', async () => {
    await bomb('swallowMemory', 'ERR_PLUGIN_MEMORY');
    await bomb('swallowThenSpin', 'ERR_PLUGIN_TIMEOUT');
  });
  it('reports the line of a limit violation', async () => {
    const e = await bomb('doubling', 'ERR_PLUGIN_MEMORY');
    assert.equal(e.line, 5);
  });
  it('ends recursion through pcall and inside coroutines with ERR_PLUGIN_STACK', async () => {
    await bomb('recurseViaPcall', 'ERR_PLUGIN_STACK');
    await bomb('recurseInCoroutine', 'ERR_PLUGIN_STACK');
  });
  it('ends recursion through host callbacks with ERR_PLUGIN_STACK', async () => {
    await expectCode(() => call(host, 'reenter', 'again'), 'ERR_PLUGIN_STACK');
    await host.ready();
    assert.equal(call(host, 'reenter', 'ok'), 'ok');
  });
  it('stops a coroutine spinning at load with ERR_PLUGIN_TIMEOUT', () => {
    const p = host.plugins.find((x) => x.name === 'coload');
    assert.equal(p?.status, 'failed');
    assert.equal(p?.error?.code, 'ERR_PLUGIN_TIMEOUT');
  });
  it('stops a coroutine created at load and resumed in a call', async () => {
    await expectCode(() => call(host, 'colater', 'run'), 'ERR_PLUGIN_TIMEOUT');
  });
  it('keeps other plugins and their state untouched by violations', async () => {
    const before = call(host, 'bystander', 'bump') as number;
    await bomb('doubling', 'ERR_PLUGIN_MEMORY');
    assert.equal(call(host, 'bystander', 'bump'), before + 1);
  });
});

describe('lua memory: table growth', () => {
  it('ends unbounded table growth with ERR_PLUGIN_MEMORY near the limit', async () => {
    const dir = await fixtureDir({
      'grow.lua': `local keep = {}
return { grow = function() while true do keep[#keep + 1] = { 1, 2, 3 } end end, size = function() return #keep end }
`,
    });
    const host = await createHost({ dir, limits: { ...LIMITS, callTimeoutMs: 20000 } });
    try {
      const before = process.memoryUsage().rss;
      await expectCode(() => call(host, 'grow', 'grow'), 'ERR_PLUGIN_MEMORY');
      const grown = process.memoryUsage().rss - before;
      assert.ok(grown < 8 * LIMITS.memoryBytes, `rss grew by ${grown} bytes for a ${LIMITS.memoryBytes}-byte limit`);
      await host.ready();
      assert.equal(call(host, 'grow', 'size'), 0);
    } finally {
      await host.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('lua async capabilities', () => {
  let dir: string;
  let host: Host;
  before(async () => {
    dir = await fixtureDir({
      'a.lua': `
local M = {}
function M.twice(id)
  local a = host.users.fetch(id)
  local b = host.users.fetch(id + 1)
  return { a.name, b.name }
end
function M.caught()
  local ok, err = pcall(host.users.reject)
  return ok and 'no' or tostring(err)
end
function M.inPluginCoroutine()
  return coroutine.wrap(function() return host.users.fetch(1) end)()
end
function M.syncStaysSync() return 1 end
function M.yieldTop() coroutine.yield(1) end
function M.slow() return host.users.never() end
return M
`,
    });
    host = await createHost({
      dir,
      limits: { ...LIMITS, callTimeoutMs: 300 },
      quarantine: { maxViolations: Infinity },
      capabilities: {
        users: {
          fetch: async (id: number) => ({ id, name: `user${id}` }),
          reject: async () => {
            throw new Error('denied');
          },
          never: () => new Promise(() => {}),
        },
      },
    });
  });
  after(async () => {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('awaits several host promises in one call, in order', async () => {
    assert.deepEqual(await call(host, 'a', 'twice', 1), ['user1', 'user2']);
  });
  it('raises a rejected host promise inside Lua, where pcall can catch it', async () => {
    assert.match(String(await call(host, 'a', 'caught')), /denied/);
  });
  it('refuses to await inside a coroutine of the plugin', async () => {
    const e = await expectCode(() => call(host, 'a', 'inPluginCoroutine'), 'ERR_PLUGIN_THROWN');
    assert.match(e.message, /asynchronous/);
  });
  it('returns plain values synchronously when nothing is awaited', () => {
    assert.equal(call(host, 'a', 'syncStaysSync'), 1);
  });
  it('reports a yield at the top of an export as an error', async () => {
    await expectCode(() => call(host, 'a', 'yieldTop'), 'ERR_PLUGIN_THROWN');
  });
  it('times out an await that never settles', async () => {
    await expectCode(() => call(host, 'a', 'slow'), 'ERR_PLUGIN_TIMEOUT');
    await host.ready();
  });
});
