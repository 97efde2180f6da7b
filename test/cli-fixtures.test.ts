/**
 * The author's kit through the real CLI: fixtures run by `terrarium test` (diffs, malformed files),
 * type errors of .ts plugins (`test`, `serve --check`), did-you-mean hints (decision keys, exports,
 * commands, fixture fields) and bad inputs (missing files, unknown flags).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from './cli-run.js';
import { editDistance, nearest } from '../dist/hints.js';
import { requestDecision, responseDecision } from '../dist/gateway/middleware/plugin.js';

const MW_JS = `export const meta = { name: 'gate', version: '1.0.0', apiVersion: 1,
  configSchema: { type: 'object', properties: { status: { type: 'integer', default: 403 } } },
  gateway: { requestHeaders: ['x-key'] } };
export function onRequest(req, ctx) {
  if (req.headers['x-key'] !== 'open') return { respond: { status: ctx.config.status, body: { error: 'closed', other: req.headers['x-other'] ?? null } } };
  return { setHeaders: { 'x-gate': 'passed' } };
}
export function onResponse(res, ctx) {
  if (ctx.state.mark) return { setHeaders: { 'x-mark': String(res.status) } };
}
`;

describe('terrarium test: fixtures', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'terrarium-fixtures-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  async function plugin(dir: string, file: string, source: string, fixtures: Record<string, string>): Promise<string> {
    const d = path.join(root, dir);
    await mkdir(d, { recursive: true });
    await writeFile(path.join(d, file), source);
    for (const [f, text] of Object.entries(fixtures)) {
      await mkdir(path.dirname(path.join(d, f)), { recursive: true });
      await writeFile(path.join(d, f), text);
    }
    return path.join(d, file);
  }

  it('passes matching cases: the config gets its schema defaults, only declared headers are copied, names lower-cased, onResponse sees state', async () => {
    const file = await plugin('ok', 'gate.js', MW_JS, {
      'gate.test.json': JSON.stringify({
        cases: [
          // x-other is not in meta.gateway.requestHeaders: the plugin never sees it, as in the gateway.
          { name: 'closed', request: { headers: { 'X-Key': 'no', 'x-other': 'seen' } }, expect: { respond: { status: 403, body: { error: 'closed', other: null } } } },
          { name: 'open', request: { headers: { 'x-key': 'open' } }, config: { status: 401 }, expect: { setHeaders: { 'x-gate': 'passed' } } },
          { response: { status: 201 }, state: { mark: true }, expect: { setHeaders: { 'x-mark': '201' } } },
          { response: { status: 200 }, expect: null },
        ],
      }),
      'gate.tests/more.json': JSON.stringify({ config: { status: 418 }, cases: [{ request: {}, expect: { respond: { status: 418, body: { error: 'closed', other: null } } } }] }),
    });
    const r = await run('test', file);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /PASS  gate fixtures \(.*gate\.test\.json\): 4 cases passed/);
    assert.match(r.stdout, /PASS  gate fixtures \(.*more\.json\): 1 case passed/);
  });

  it('prints the JSON path, expected and got, with file:line of the case, and exits 1 on a mismatch', async () => {
    const text = `{
  "cases": [
    { "name": "fine", "request": { "headers": { "x-key": "open" } }, "expect": { "setHeaders": { "x-gate": "passed" } } },
    { "name": "wrong status",
      "request": {}, "expect": { "respond": { "status": 401, "body": { "error": "closed", "other": null, "extra": 1 } } } }
  ]
}
`;
    const file = await plugin('diff', 'gate.js', MW_JS, { 'gate.test.json': text });
    const r = await run('test', file);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /FAIL  gate fixtures .*: 1 of 2 cases failed/);
    assert.match(r.stdout, /gate\.test\.json:4 wrong status \(onRequest\):/);
    assert.match(r.stdout, /\$\.respond\.status: expected 401, got 403/);
    assert.match(r.stdout, /\$\.respond\.body\.extra: expected 1, got missing/);
  });

  it('a Lua middleware returning setHeader (not setHeaders) fails its fixture with a did-you-mean hint', async () => {
    const lua = `return {
  meta = { name = 'typo', version = '1.0.0', apiVersion = 1 },
  onRequest = function(req, ctx) return { setHeader = { ['x-a'] = 'b' } } end,
}
`;
    const file = await plugin('typo', 'typo.lua', lua, { 'typo.test.json': JSON.stringify({ cases: [{ request: {}, expect: { setHeaders: { 'x-a': 'b' } } }] }) });
    const r = await run('test', file);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /ERR_MIDDLEWARE_RESULT: onRequest returned an unknown key "setHeader" \(did you mean "setHeaders"\?\)/);
  });

  it('plain exports: results compared, expectError matches a code, a call that loops is reported as ERR_PLUGIN_TIMEOUT', async () => {
    const src = `export const meta = { name: 'calc', version: '1.0.0', apiVersion: 1 };
export function add(a, b) { return a + b; }
export function spin() { for (;;) {} }
`;
    const file = await plugin('calc', 'calc.js', src, {
      'calc.test.json': JSON.stringify({
        cases: [
          { export: 'add', args: [2, 3], expect: 5 },
          { export: 'spin', expectError: 'ERR_PLUGIN_TIMEOUT' },
          { name: 'unexpected loop', export: 'spin', expect: 1 },
        ],
      }),
    });
    const r = await run('test', file);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /1 of 3 cases failed/);
    assert.match(r.stdout, /unexpected loop \(spin\):\n\s+ERR_PLUGIN_TIMEOUT/);
  });

  const malformed: Array<[string, string, RegExp]> = [
    ['bad JSON', '{\n  "cases": [\n    { "export": "add", "expect": 1 ]\n}\n', /ERR_FIXTURE: \(.*calc\.test\.json:3\): is not valid JSON/],
    ['an unknown case field', '{\n  "cases": [\n    { "export": "add",\n      "expcet": 1 }\n  ]\n}\n', /calc\.test\.json:3\): case 1: unknown field "expcet" \(did you mean "expect"\?\)/],
    ['a missing export', '{ "cases": [\n  { "export": "ad", "args": [1, 2], "expect": 3 }\n] }\n', /calc\.test\.json:2\): case 1: the plugin has no export "ad" \(did you mean "add"\?\); it exports: add/],
    ['no expect', '{ "cases": [ { "export": "add" } ] }', /case 1 needs "expect"/],
  ];
  for (const [what, text, message] of malformed) {
    it(`a fixture file with ${what} exits 2 with ERR_FIXTURE and its file:line`, async () => {
      const file = await plugin(`bad-${what.replace(/\W+/g, '-')}`, 'calc.js', `export const meta = { name: 'calc', version: '1.0.0', apiVersion: 1 };\nexport function add(a, b) { return a + b; }\n`, { 'calc.test.json': text });
      const r = await run('test', file);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stdout, message);
      assert.match(r.stdout, /1 fixture file malformed/);
    });
  }

  it('a TypeScript plugin breaking the contract fails terrarium test and serve --check with the .ts file:line', async () => {
    const ts = `/// <reference types="terrarium-plugins/plugin" />
import type { MiddlewareRequest, MiddlewareContext, RequestDecision } from 'terrarium-plugins/plugin';
export const meta = { name: 'typed', version: '1.0.0', apiVersion: 1 };

export function onRequest(req: MiddlewareRequest, ctx: MiddlewareContext): RequestDecision | undefined {
  return { setHeader: { 'x-a': req.method } };
}
`;
    const file = await plugin('typed', 'typed.ts', ts, {});
    const r = await run('test', file);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /FAIL  .*typed\.ts: ERR_TYPECHECK a type error/);
    assert.match(r.stdout, /typed\.ts:6:12 TS2561: .*'setHeader' does not exist in type 'RequestDecision'/);
    const skipped = await run('test', file, '--no-typecheck');
    assert.equal(skipped.code, 0, skipped.stdout + skipped.stderr);

    const config = path.join(root, 'typed', 'gw.yaml');
    await writeFile(
      config,
      `entryPoints: { web: { address: "127.0.0.1:0" } }
http:
  routers: { all: { rule: "PathPrefix(\`/\`)", entryPoints: [web], middlewares: [mw], service: echo } }
  middlewares: { mw: { plugin: { typed: {} } } }
  services: { echo: { echo: {} } }
plugins: { dir: ".", watch: false }
`,
    );
    const checked = await run('serve', config, '--check');
    assert.equal(checked.code, 1, checked.stdout + checked.stderr);
    assert.match(checked.stderr, /ERR_TYPECHECK: plugin "typed" \(.*typed\.ts:6:12\): does not type-check/);
    await writeFile(file, ts.replace('setHeader:', 'setHeaders:'));
    const fixed = await run('serve', config, '--check');
    assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
    assert.match(fixed.stdout, /OK .*the configuration is valid and 1 TypeScript plugin type-check/);
  });

  it('serve --check exits 2 on an invalid configuration', async () => {
    const config = path.join(root, 'bad.yaml');
    await writeFile(config, 'entryPoints: { web: { address: "127.0.0.1:0" } }\nreplay: { sampleRate: 2 }\n');
    const r = await run('serve', config, '--check');
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /replay/);
  });

  it('call names the plugin and the nearest export of a missing one', async () => {
    const file = await plugin('call', 'calc.js', `export const meta = { name: 'calc', version: '1.0.0', apiVersion: 1 };\nexport function add(a, b) { return a + b; }\n`, {});
    const r = await run('call', file, 'ad', '1', '2');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ERR_NO_EXPORT: plugin "calc" export "ad" \(quickjs, .*calc\.js\): no such exported function \(did you mean "add"\?\)\. It exports: add/);
  });

  const usage: Array<[string, string[], RegExp]> = [
    ['an unknown command', ['tset', 'x'], /unknown command 'tset'\n\(Did you mean test\?\)/],
    ['an unknown flag of test', ['test', '.', '--bogus'], /unknown option '--bogus'/],
    ['a missing plugin of test', ['test', '/nonexistent/p.js'], /\/nonexistent\/p\.js does not exist/],
  ];
  for (const [what, args, message] of usage) {
    it(`refuses ${what} with exit 2`, async () => {
      const r = await run(...args);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, message);
    });
  }
});

describe('did-you-mean hints', () => {
  it('counts a swap of neighbours as one edit', () => {
    assert.equal(editDistance('tset', 'test'), 1);
    assert.equal(editDistance('setHeader', 'setHeaders'), 1);
    assert.equal(editDistance('abc', 'abc'), 0);
  });
  it('names the nearest candidate only when it is near', () => {
    assert.equal(nearest('setHeader', ['setHeaders', 'removeHeaders', 'path']), 'setHeaders');
    assert.equal(nearest('zzzzzz', ['setHeaders', 'path']), undefined);
  });
  it('regression: the gateway\'s unknown-decision-key error names the nearest key', () => {
    assert.throws(() => requestDecision({ setHeader: { a: 'b' } }), /unknown key "setHeader" \(did you mean "setHeaders"\?\)/);
    assert.throws(() => responseDecision({ stauts: 200 }), /unknown key "stauts" \(did you mean "status"\?\)/);
  });
});
