/** The terrarium command, run as a real process. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { fixtureDir } from './engines/conformance.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const examples = fileURLToPath(new URL('../scripts-examples', import.meta.url));

function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { timeout: 30000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('terrarium CLI', () => {
  let dir: string;
  before(async () => {
    dir = await fixtureDir({
      'good.js': 'export function hi(name) { return `hi ${name}`; }\nexport function spin() { for (;;) {} }\n',
      'broken.js': 'export function ok() { return 1; }\nthis is not javascript\n',
    });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('lists plugins with engine, status, exports and load errors with file:line', async () => {
    const r = await run('list', dir);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /good\s+quickjs\s+ready\s+good\.js\s+hi\/1 spin\/0/);
    assert.match(r.stdout, /broken\s+quickjs\s+failed/);
    assert.match(r.stdout, /ERR_PLUGIN_LOAD at broken\.js:2/);
  });

  it('lists the examples as JSON', async () => {
    const r = await run('list', examples, '--json');
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as { name: string; status: string }[];
    assert.ok(list.some((p) => p.name === 'revert' && p.status === 'ready'));
  });

  it('calls an export with JSON arguments and prints JSON', async () => {
    const r = await run('call', `${examples}/revert.js`, 'revert', '"Live on time, emit no evil"');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout), 'live on time ,emit no eviL');
  });

  it('calls a Lua plugin the same way', async () => {
    const r = await run('call', `${examples}/revert.lua`, 'revert', '"Live on time, emit no evil"');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout), 'live on time ,emit no eviL');
    const list = await run('list', examples);
    assert.match(list.stdout, /revert-lua\s+lua\s+ready\s+revert\.lua\s+revert\/1/);
  });

  it('prints the error code and exits 1 when the plugin fails', async () => {
    const r = await run('call', `${dir}/good.js`, 'spin', '--timeout-ms', '50');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ERR_PLUGIN_TIMEOUT/);
    assert.match(r.stderr, /50 ms/);
  });

  it('reports a missing export with ERR_NO_EXPORT', async () => {
    const r = await run('call', `${dir}/good.js`, 'nope');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ERR_NO_EXPORT/);
  });

  it('rejects bad arguments with a message and exit code 2, without a stack trace', async () => {
    for (const args of [
      ['call', `${dir}/good.js`, 'hi', 'not-json'],
      ['call', `${dir}/good.js`, 'hi', '--timeout-ms', 'soon'],
      ['call', `${dir}/good.js`, 'hi', '--memory-mb', '1'],
      ['call', `${dir}/missing.txt`, 'hi'],
      ['list', `${dir}/does-not-exist`],
      ['frobnicate'],
      ['--log-level', 'loud', 'list', dir],
      ['call'],
    ]) {
      const r = await run(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(r.stderr.trim().length > 0);
      assert.doesNotMatch(r.stderr, /\n\s+at /, r.stderr);
    }
  });

  it('shows help', async () => {
    const r = await run('call', '--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--memory-mb/);
  });

  it('runs the demo over the examples', async () => {
    const r = await run('demo', examples);
    assert.match(r.stdout, /live on time ,emit no eviL/);
    assert.match(r.stdout, /<tt>createHost\(\)<\/tt>/);
    assert.match(r.stdout, /Welcome, Ada!/);
    assert.match(r.stdout, /\{"status":403\}/);
    assert.match(r.stdout, /hook role:tt -> tt-lua/);
    assert.match(r.stdout, /hook contents -> narcissist/);
    assert.match(r.stdout, /request-lua\.onRequest\(x-block\) -> \{"status":403\}/);
    assert.equal(r.code, 0, r.stderr);
  });
});
