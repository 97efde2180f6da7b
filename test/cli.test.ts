/** The terrarium command, run as a real process. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { appendFile, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cli, run } from './cli-run.js';
import { fileURLToPath } from 'node:url';
import { fixtureDir } from './engines/conformance.js';

const examples = fileURLToPath(new URL('../scripts-examples', import.meta.url));

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
    assert.match(r.stdout, /ERR_PLUGIN_LOAD: plugin "broken" \(quickjs, broken\.js:2/);
    assert.equal(r.stdout.split('ERR_PLUGIN_LOAD').length - 1, 1, 'the load error is shown once, in the table');
    assert.doesNotMatch(r.stderr, /ERR_PLUGIN_LOAD/);
  });

  it('stops quietly when the reader of its output goes away (regression: `list | head` crashed with an EPIPE stack trace)', async () => {
    const one = await fixtureDir({ 'one.js': 'export function hi() { return 1; }\n' });
    const child = spawn(process.execPath, [cli, 'list', one], { stdio: ['ignore', 'pipe', 'pipe'] });
    // The reading end is closed before the command writes anything: every write meets a closed pipe.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    assert.doesNotMatch(stderr, /EPIPE|Unhandled|\n\s+at /, stderr);
    assert.equal(code, 0);
    await rm(one, { recursive: true, force: true });
  });

  it('prints the error of a missing plugin file once (regression: it was logged and printed)', async () => {
    const r = await run('call', path.join(dir, 'no-such-plugin.js'), 'f');
    assert.equal(r.code, 1);
    assert.equal(r.stderr.split('ERR_PLUGIN_LOAD').length - 1, 1, r.stderr);
  });

  it('names --config when it is not valid JSON (regression: "argument 0 is not valid JSON")', async () => {
    const r = await run('call', path.join(dir, 'good.js'), 'hi', '"x"', '--config', '{bad');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--config is not valid JSON/);
    assert.doesNotMatch(r.stderr, /argument 0/);
  });

  it('prints a thrown error with its plugin stack once', async () => {
    const bad = await fixtureDir({ 'boom.js': "export function boom() {\n  throw new Error('bad thing');\n}\n" });
    const t = await run('call', path.join(bad, 'boom.js'), 'boom');
    assert.equal(t.code, 1);
    assert.match(t.stderr, /ERR_PLUGIN_THROWN.*bad thing/);
    assert.equal(t.stderr.split('at boom (').length - 1, 1, t.stderr);
    await rm(bad, { recursive: true, force: true });
  });

  it('prints a nested undefined as undefined', async () => {
    const u = await fixtureDir({ 'u.js': 'export function f() { return { a: undefined, b: [undefined, 1] }; }\n' });
    const r = await run('call', path.join(u, 'u.js'), 'f');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /"a": undefined/);
    assert.doesNotMatch(r.stdout, /\$undefined/);
    await rm(u, { recursive: true, force: true });
  });

  it('keygen creates the output directory; sign and verify say what is wrong with a key', async () => {
    const keys = path.join(dir, 'new', 'keys');
    const k = await run('keygen', '--out', keys);
    assert.equal(k.code, 0, k.stderr);
    const plugin = path.join(dir, 'good.js');
    const pubAsPrivate = await run('sign', plugin, '--key', path.join(keys, 'terrarium.pub'));
    assert.equal(pubAsPrivate.code, 2);
    assert.match(pubAsPrivate.stderr, /ERR_OPTIONS: the signing key is a public key/);
    await writeFile(path.join(dir, 'garbage.pub'), 'not a key\n');
    const garbage = await run('verify', plugin, '--pub', path.join(dir, 'garbage.pub'));
    assert.equal(garbage.code, 2);
    assert.match(garbage.stderr, /garbage\.pub\) is not an Ed25519 public key: no PEM public key in it/);
    assert.doesNotMatch(garbage.stderr, /ENOENT/);
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
    assert.match(r.stdout, /request-lua\.onRequest\(x-block\) -> \{"respond":\{"status":403\}\}/);
    // Regression: gateway middlewares (onRequest(req, ctx)) were called without ctx: 8 ERR_PLUGIN_THROWN.
    assert.doesNotMatch(r.stdout, /ERR_PLUGIN_THROWN/);
    assert.match(r.stdout, /gateway middlewares \(run them with terrarium serve\): .*rate-limit/);
    assert.equal(r.code, 0, r.stderr);
  });

  it('runs the shipped examples from any directory (regression: scripts-examples was looked up in the cwd and left out of the package)', async () => {
    const r = await new Promise<{ stdout: string }>((resolve) => {
      execFile(process.execPath, [cli, 'demo'], { timeout: 60000, cwd: os.tmpdir() }, (_err, stdout) => resolve({ stdout }));
    });
    assert.match(r.stdout, new RegExp(`Loaded \\d+ plugins from ${examples.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { files: string[] };
    assert.ok(pkg.files.includes('scripts-examples'), 'the examples are in the package');
  });

  it('exits 1 when a demo call fails (regression: errors were printed and the demo exited 0)', async () => {
    const broken = await fixtureDir({ 'revert.js': 'export function revert(s) { throw new Error("broken revert"); }\n' });
    const r = await run('demo', broken);
    assert.match(r.stdout, /revert \(revert\) -> ERR_PLUGIN_THROWN.*broken revert/);
    assert.equal(r.code, 1);
    await rm(broken, { recursive: true, force: true });
  });

  it('writes a key pair, signs a plugin, verifies it, and refuses it once changed', async () => {
    const k = await run('keygen', '--out', dir, '--name', 'ops');
    assert.equal(k.code, 0, k.stderr);
    assert.match(k.stdout, /key fingerprint [0-9a-f]{16}/);
    assert.equal((await stat(path.join(dir, 'ops.key'))).mode & 0o777, 0o600);
    const again = await run('keygen', '--out', dir, '--name', 'ops');
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already exists; pass --force/);

    const plugin = path.join(dir, 'good.js');
    const s = await run('sign', plugin, '--key', path.join(dir, 'ops.key'));
    assert.equal(s.code, 0, s.stderr);
    assert.match(await readFile(`${plugin}.sig`, 'utf8'), /"alg":"ed25519"/);
    const v = await run('verify', plugin, '--pub', path.join(dir, 'ops.pub'));
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^OK .*signed by trusted key [0-9a-f]{16}/);

    await appendFile(plugin, '// changed\n');
    const bad = await run('verify', plugin, '--pub', path.join(dir, 'ops.pub'));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /ERR_SIGNATURE.*changed after it was signed/);
    assert.doesNotMatch(bad.stderr, /\n\s+at /);
    const missing = await run('sign', path.join(dir, 'nope.js'), '--key', path.join(dir, 'ops.key'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read the plugin file/);
  });

  it("runs plugins' self-tests and shows expected and actual values of a failure", async () => {
    const tests = await fixtureDir({
      'ok.js': "export const meta = { tests: { add: [{ args: [1, 2], expect: 3 }] } };\nexport function add(a, b) { return a + b; }\n",
      'off.lua': "return { meta = { tests = { add = { { args = {1, 2}, expect = 3 } } } }, add = function(a, b) return a - b end }\n",
    });
    const r = await run('test', tests);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /PASS {2}ok .*1 self-test passed/);
    assert.match(r.stdout, /FAIL {2}off .*\n +add#1: add\(1, 2\): expected 3, got -1/);
    assert.match(r.stdout, /1 of 2 plugins failed/);
    const one = await run('test', path.join(tests, 'ok.js'));
    assert.equal(one.code, 0, one.stdout);
    await writeFile(path.join(tests, 'off.lua'), 'return { add = function(a, b) return a + b end }\n');
    const none = await run('test', tests);
    assert.equal(none.code, 0);
    assert.match(none.stdout, /none {2}off .*declares no self-tests/);
    assert.match(none.stdout, /1 of 2 plugins passed their self-tests; 1 declare none/);
    await rm(path.join(tests, 'ok.js'));
    const noneAtAll = await run('test', tests);
    assert.match(noneAtAll.stdout, /1 plugins loaded; none declares self-tests, so none ran/);
    await rm(tests, { recursive: true, force: true });
  });

  it('runs the storage examples\' self-tests with a scratch fs', async () => {
    const r = await run('test', path.join(examples, 'storage'));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /all 2 plugins passed/);
  });
});

