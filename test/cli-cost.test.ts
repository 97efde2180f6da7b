/** `terrarium cost`: per-export figures as a table or JSON, budgets that fail, a loop reported (not a hang), bad inputs. Through the real CLI. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from './cli-run.js';

interface Report {
  plugin: string;
  engine: string;
  loadMs: number;
  memoryHighWaterBytes: number;
  exports: Array<{ export: string; calls: number; medianUs: number; p99Us: number; error?: { code: string } }>;
  over: string[];
}

describe('terrarium cost', () => {
  let root: string;
  let js: string;
  let lua: string;
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'terrarium-cost-'));
    js = path.join(root, 'work.js');
    await writeFile(
      js,
      `export const meta = { name: 'work', version: '1.0.0', apiVersion: 1, tests: { sum: [{ args: [10], expect: 45 }] } };
export function sum(n) { let s = 0; for (let i = 0; i < n; i++) s += i; return s; }
export function spin(n) { if (n > 0) for (;;) {} return 0; }
`,
    );
    await writeFile(path.join(root, 'work.test.json'), JSON.stringify({ cases: [{ export: 'sum', args: [20000], expect: 199990000 }, { export: 'spin', args: [1], expect: 0 }] }));
    lua = path.join(root, 'mw.lua');
    await writeFile(
      lua,
      `return { meta = { name = 'mw', version = '1.0.0', apiVersion = 1 },
  onRequest = function(req, ctx) return { setHeaders = { ['x-p'] = req.path } } end }
`,
    );
    await writeFile(path.join(root, 'mw-cases.json'), JSON.stringify({ cases: [{ request: { path: '/a' }, expect: { setHeaders: { 'x-p': '/a' } } }] }));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('reports a looping export as ERR_PLUGIN_TIMEOUT, measures the others, and exits 1', async () => {
    const r = await run('cost', js, '--json', '--iterations', '20', '--timeout-ms', '100');
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout) as Report;
    assert.equal(report.plugin, 'work');
    const sum = report.exports.find((e) => e.export === 'sum')!;
    assert.equal(sum.calls, 20);
    assert.ok(sum.medianUs > 0 && sum.p99Us >= sum.medianUs, JSON.stringify(sum));
    const spin = report.exports.find((e) => e.export === 'spin')!;
    assert.equal(spin.error?.code, 'ERR_PLUGIN_TIMEOUT');
    assert.equal(spin.calls, 0);
    assert.ok(report.over.some((o) => o.startsWith('spin: ERR_PLUGIN_TIMEOUT')));
    assert.ok(report.loadMs > 0);
    assert.ok(report.memoryHighWaterBytes > 0);
  });

  it('without fixtures, measures the calls of meta.tests; prints a table; within budget exits 0', async () => {
    await writeFile(path.join(root, 'bare.js'), (await readFile(js, 'utf8')).replace("name: 'work'", "name: 'bare'"));
    const r = await run('cost', path.join(root, 'bare.js'), '--iterations', '10');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^bare \(quickjs, .*bare\.js\): load [\d.]+ ms, memory high-water \d+ bytes\n/);
    assert.match(r.stdout, /EXPORT\s+CALLS\s+MEDIAN µs\s+P99 µs/);
    assert.match(r.stdout, /\nsum\s+10\s+[\d.]+\s+[\d.]+/);
    assert.doesNotMatch(r.stdout, /spin/);
  });

  it('fails a Lua middleware over --max-us and --max-memory, naming both', async () => {
    // 1 µs per call and 1 KiB are below what any sandboxed call costs: the budget must trip.
    const r = await run('cost', lua, '--fixtures', path.join(root, 'mw-cases.json'), '--max-us', '1', '--max-memory', '1024', '--iterations', '20', '--json');
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout) as Report;
    assert.equal(report.engine, 'lua');
    assert.deepEqual(report.exports.map((e) => e.export), ['onRequest']);
    assert.ok(report.over.some((o) => /onRequest: median [\d.]+ µs per call is over --max-us 1/.test(o)), report.over.join('\n'));
    assert.ok(report.over.some((o) => /memory high-water \d+ bytes is over --max-memory 1024/.test(o)), report.over.join('\n'));
  });

  const bad: Array<[string, () => string[], number, RegExp]> = [
    ['a missing plugin file', () => ['cost', path.join(root, 'nope.js')], 2, /nope\.js does not exist/],
    ['a missing fixture file', () => ['cost', js, '--fixtures', path.join(root, 'nope.json')], 2, /the fixture file .*nope\.json does not exist/],
    ['a malformed fixture file', () => ['cost', js, '--fixtures', path.join(root, 'broken.json')], 2, /ERR_FIXTURE: \(.*broken\.json:2\): is not valid JSON/],
    ['an unknown flag', () => ['cost', js, '--max-ms', '3'], 2, /unknown option '--max-ms'\n\(Did you mean --max-us\?\)/],
    ['a bad number', () => ['cost', js, '--max-us', 'fast'], 2, /--max-us must be a positive integer/],
  ];
  for (const [what, args, code, message] of bad) {
    it(`refuses ${what} (exit ${code})`, async () => {
      await writeFile(path.join(root, 'broken.json'), '{ "cases":\n  [ }\n');
      const r = await run(...args());
      assert.equal(r.code, code, r.stdout + r.stderr);
      assert.match(r.stderr, message);
    });
  }
});
