/**
 * Regressions for issue "a Lua plugin hangs the host for ever with pcall": once a call's deadline
 * (or its memory cap, or its stack limit) has been broken, no pcall, xpcall, coroutine, `load` or
 * message handler of the plugin may catch the violation and carry on. 26 of the 33 patterns below
 * hung the host (a synchronous loop that never returned) on the code before the fix; seven already
 * ended and are kept so the guarantee stays whole: coroutine.wrap inside pcall, pcall of
 * coroutine.resume, coroutine.resume in a loop, a pathological pattern inside pcall (the work
 * slices are not in phase with the count hook), a single string over the cap inside pcall, an
 * allocation loop in coroutine.wrap inside pcall, and recursion in a coroutine resumed in a loop
 * (a fresh coroutine restarts its hook count, so the resumer's own count runs out outside them).
 *
 * Why the older tests missed it: every "pcall cannot swallow it" case ended by itself (one pcall,
 * or `for i = 1, 1000`), and the engine turns a limit that tripped into the error once the thread
 * returns, so they passed while the plugin went on running after its deadline. The count hook
 * re-raised the limit, but its count restarts at each hook, so in `while true do pcall(spin) end`
 * it always fired inside `spin`, where pcall caught it.
 *
 * Because the old code hangs the thread that runs the plugin, each case runs its host in a worker
 * thread (WORKER below): a case that never returns is terminated after a generous safety net and
 * fails with "hung", instead of hanging the test run. Each case has its own worker, host and
 * plugin instance (no case depends on another); after the violation, the same worker calls the
 * plugin again, which must be served by the instance the host recreated.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';

/** The plugin every case calls: `ok` answers, every other export breaks a limit in its own way. */
const PLUGIN = `local M = {}
local function spin() while true do end end
local function hog() local t = {} while true do t[#t + 1] = { #t } end end
local function recurse(n) return 1 + recurse(n + 1) end
function M.ok() return 'ok' end

-- the deadline
function M.pcallLoop() while true do pcall(function() while true do end end) end end
function M.pcallOfSpin() while true do pcall(spin) end end
function M.nestedPcall() while true do pcall(function() while true do pcall(spin) end end) end end
function M.pcallOfPcall() while true do pcall(pcall, pcall, spin) end end
function M.xpcallLoopingHandler() while true do xpcall(spin, function(e) while true do end end) end end
function M.xpcallLoopingHandlerAfterError() while true do xpcall(error, function(e) while true do end end, 'x') end end
function M.xpcallErroringHandler() while true do xpcall(spin, function(e) error(e) end) end end
function M.xpcallTableErrorHandler() while true do xpcall(spin, function(e) error({ e }) end) end end
function M.xpcallUserdataErrorHandler() while true do xpcall(spin, function(e) error(host.null) end) end end
function M.xpcallYieldingHandler() while true do xpcall(spin, function(e) coroutine.yield(e) end) end end
function M.xpcallYieldingHandlerInCoroutine()
  coroutine.wrap(function() while true do xpcall(spin, function(e) return coroutine.yield(e) end) end end)()
end
function M.wrapInPcall() while true do pcall(coroutine.wrap(spin)) end end
function M.pcallInWrap() coroutine.wrap(function() while true do pcall(spin) end end)() end
function M.pcallOfResume() while true do pcall(coroutine.resume, coroutine.create(spin)) end end
function M.resumeLoop() while true do coroutine.resume(coroutine.create(spin)) end end
function M.resumeOfPcallLoop() while true do coroutine.resume(coroutine.create(function() while true do pcall(spin) end end)) end end
function M.loopingTostring()
  local e = setmetatable({}, { __tostring = function() while true do end end })
  while true do local ok, err = pcall(error, e) pcall(tostring, err) end
end
function M.loopingIndex()
  local e = setmetatable({}, { __index = function() while true do end end })
  while true do xpcall(error, function(x) return x.message end, e) pcall(function() return e.message end) end
end
function M.gsubCallbackInPcall() while true do pcall(string.gsub, 'abc', '.', spin) end end
function M.pcallInGsubCallback() return ('abc'):gsub('.', function() while true do pcall(spin) end end) end
function M.patternInPcall() while true do pcall(string.find, ('a'):rep(120), '.-.-.-.-b$') end end
function M.sortInPcall() while true do pcall(table.sort, { 3, 2, 1 }, function() while true do end end) end end
function M.loadedChunk() while true do pcall(load('while true do end')) end end
function M.loadedSwallower() load('while true do pcall(function() while true do end end) end')() end
function M.loadLoopingReader() while true do load(function() while true do end end) end end
function M.asyncThenPcallLoop() host.later() while true do pcall(spin) end end

-- the memory cap
function M.hogInPcall() while true do pcall(hog) end end
function M.bigStringInPcall() while true do pcall(string.rep, 'x', 2^30) end end
function M.hogInXpcallHandler() while true do xpcall(hog, hog) end end
function M.hogInWrapInPcall() while true do pcall(coroutine.wrap(hog)) end end

-- the stack limit
function M.recurseInPcall() while true do pcall(recurse, 1) end end
function M.recurseInXpcallHandler() while true do xpcall(recurse, function() return recurse(1) end, 1) end end
function M.recurseInResume() while true do coroutine.resume(coroutine.create(recurse), 1) end end
return M
`;

/** What a case's worker reports. */
interface Report {
  code: string;
  ms: number;
  next: string;
}

interface Case {
  fn: string;
  code: 'ERR_PLUGIN_TIMEOUT' | 'ERR_PLUGIN_MEMORY' | 'ERR_PLUGIN_STACK';
}

const TIMEOUT_MS = 300;
/**
 * Memory and stack cases get a long deadline, so that on a loaded machine they meet their own
 * limit first (what is tested is which limit ends the call, and that nothing catches it).
 */
const LONG_TIMEOUT_MS = 20_000;
/**
 * A worker that has not reported by then is stuck in the plugin: the case failed (a safety net, not
 * a timing; LUA_DEADLINE_HUNG_MS lowers it to see the old code fail quickly).
 */
const HUNG_AFTER_MS = Number(process.env.LUA_DEADLINE_HUNG_MS ?? 60_000);

/**
 * The worker (plain JavaScript: the test's TypeScript loader does not reach worker threads): one
 * host, the violating call, then the next call, reported to the test.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { mkdtemp, rm, writeFile } = require('node:fs/promises');
const { tmpdir } = require('node:os');
const path = require('node:path');
(async () => {
  const { hostModule, plugin, fn, callTimeoutMs } = workerData;
  const { createHost } = await import(hostModule);
  const dir = await mkdtemp(path.join(tmpdir(), 'lua-deadline-'));
  try {
    await writeFile(path.join(dir, 'ps.lua'), plugin);
    const host = await createHost({
      dir,
      limits: { callTimeoutMs, memoryBytes: 16 * 1024 * 1024 },
      quarantine: { maxViolations: Infinity },
      capabilities: { later: () => new Promise((resolve) => setImmediate(() => resolve(1))) },
    });
    const api = host.get('ps');
    const t0 = performance.now();
    let code = 'returned';
    try {
      await api[fn]();
    } catch (e) {
      code = (e && e.code) || String(e);
    }
    const ms = performance.now() - t0;
    await host.ready();
    let next;
    try {
      next = String(await api.ok());
    } catch (e) {
      next = String(e);
    }
    await host.close();
    parentPort.postMessage({ code, ms, next });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
})();
`;

describe('lua: no pcall, xpcall, coroutine or handler outlives a broken limit', () => {
  const timeout = (fn: string): Case => ({ fn, code: 'ERR_PLUGIN_TIMEOUT' });
  describe('the deadline (ERR_PLUGIN_TIMEOUT)', () => {
    const cases: [string, string][] = [
      ['pcall in an endless loop (the issue: terrarium call ps.lua ps --timeout-ms 300 never returned)', 'pcallLoop'],
      ['pcall of a spinning function in a loop', 'pcallOfSpin'],
      ['nested pcall, each level in a loop', 'nestedPcall'],
      ['pcall(pcall, pcall, f)', 'pcallOfPcall'],
      ['xpcall whose message handler loops (it runs under the same deadline)', 'xpcallLoopingHandler'],
      ['xpcall whose message handler loops on a plain error', 'xpcallLoopingHandlerAfterError'],
      ['xpcall whose message handler raises again', 'xpcallErroringHandler'],
      ['xpcall whose message handler raises a table', 'xpcallTableErrorHandler'],
      ['xpcall whose message handler raises a userdata', 'xpcallUserdataErrorHandler'],
      ['xpcall whose message handler yields at the top level', 'xpcallYieldingHandler'],
      ['xpcall whose message handler yields inside a coroutine', 'xpcallYieldingHandlerInCoroutine'],
      ['coroutine.wrap inside pcall', 'wrapInPcall'],
      ['pcall in a loop inside coroutine.wrap', 'pcallInWrap'],
      ['pcall(coroutine.resume, ...)', 'pcallOfResume'],
      ['coroutine.resume of a spinning coroutine in a loop', 'resumeLoop'],
      ['coroutine.resume of a coroutine that loops over pcall', 'resumeOfPcallLoop'],
      ['an error object whose __tostring loops', 'loopingTostring'],
      ['an error object whose __index loops, read in a message handler', 'loopingIndex'],
      ['string.gsub with a spinning callback inside pcall', 'gsubCallbackInPcall'],
      ['pcall in a loop inside a string.gsub callback (a non-yieldable pcall)', 'pcallInGsubCallback'],
      ['a pathological pattern (a built-in past its deadline) inside pcall', 'patternInPcall'],
      ['table.sort with a spinning comparator inside pcall', 'sortInPcall'],
      ['a loaded chunk that spins, called through pcall', 'loadedChunk'],
      ['a loaded chunk that loops over pcall itself', 'loadedSwallower'],
      ['load from a reader that spins (load catches the reader error)', 'loadLoopingReader'],
      ['an export that awaited a host promise, then loops over pcall', 'asyncThenPcallLoop'],
    ];
    for (const [title, fn] of cases) it(title, () => check(timeout(fn)));
  });
  describe('the memory cap (ERR_PLUGIN_MEMORY)', () => {
    it('an allocation loop inside pcall, in a loop', () => check({ fn: 'hogInPcall', code: 'ERR_PLUGIN_MEMORY' }));
    it('a single string over the cap inside pcall, in a loop', () => check({ fn: 'bigStringInPcall', code: 'ERR_PLUGIN_MEMORY' }));
    it('an allocation loop in an xpcall message handler', () => check({ fn: 'hogInXpcallHandler', code: 'ERR_PLUGIN_MEMORY' }));
    it('an allocation loop in coroutine.wrap inside pcall', () => check({ fn: 'hogInWrapInPcall', code: 'ERR_PLUGIN_MEMORY' }));
  });
  describe('the stack limit (ERR_PLUGIN_STACK)', () => {
    it('unbounded recursion inside pcall, in a loop', () => check({ fn: 'recurseInPcall', code: 'ERR_PLUGIN_STACK' }));
    it('unbounded recursion in an xpcall message handler', () => check({ fn: 'recurseInXpcallHandler', code: 'ERR_PLUGIN_STACK' }));
    it('unbounded recursion in a coroutine resumed in a loop', () => check({ fn: 'recurseInResume', code: 'ERR_PLUGIN_STACK' }));
  });
});

/** Run one case in its own worker; fail if it does not end with `c.code` or the next call is not served. */
async function check(c: Case): Promise<void> {
  const callTimeoutMs = c.code === 'ERR_PLUGIN_TIMEOUT' ? TIMEOUT_MS : LONG_TIMEOUT_MS;
  const workerData = { hostModule: import.meta.resolve('terrarium-plugins'), plugin: PLUGIN, fn: c.fn, callTimeoutMs };
  const worker = new Worker(WORKER, { eval: true, workerData });
  let timer: NodeJS.Timeout | undefined;
  try {
    const report = await new Promise<Report>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`hung: ${c.fn} did not return within ${HUNG_AFTER_MS} ms`)), HUNG_AFTER_MS);
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (n) => reject(new Error(`the worker exited (${n}) without a report`)));
    });
    assert.equal(report.code, c.code, `${c.fn} ended with ${report.code} after ${report.ms.toFixed(0)} ms`);
    assert.equal(report.next, 'ok', 'the next call is served (by the recreated instance)');
  } finally {
    clearTimeout(timer);
    await worker.terminate();
  }
}
