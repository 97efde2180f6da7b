/** `terrarium init`: the scaffold passes `terrarium test` at once; bad inputs are one-line usage errors (exit 2). Run through the real CLI. */
import { describe, it, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from './cli-run.js';
import { createGateway } from '../dist/gateway/index.js';


describe('terrarium init', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'terrarium-init-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  /** A gateway on a free port whose one router runs plugin `name` of `dir` with `config` before an echo service; its URL. */
  async function gatewayFor(t: TestContext, dir: string, name: string, config: string): Promise<string> {
    const file = path.join(root, `${name}.yaml`);
    await writeFile(
      file,
      `entryPoints: { web: { address: "127.0.0.1:0" } }
http:
  routers: { all: { rule: "PathPrefix(\`/\`)", entryPoints: [web], middlewares: [mw], service: echo } }
  middlewares: { mw: { plugin: { ${name}: ${config} } } }
  services: { echo: { echo: {} } }
plugins: { dir: ${JSON.stringify(dir)}, watch: false }
`,
    );
    const gw = await createGateway(file);
    t.after(() => gw.close());
    return Object.values(gw.entryPoints)[0]!.url;
  }

  for (const lang of ['js', 'ts', 'lua'] as const) {
    for (const middleware of [false, true]) {
      const kind = middleware ? 'middleware' : 'plugin';
      it(`scaffolds a ${lang} ${kind} whose self-tests pass under terrarium test`, async () => {
        const dir = path.join(root, `my-${lang}-${kind}`);
        const made = await run('init', dir, '--lang', lang, ...(middleware ? ['--middleware'] : []));
        assert.equal(made.code, 0, made.stderr);
        const file = path.join(dir, `my-${lang}-${kind}.${lang}`);
        const files = (await readdir(dir)).sort();
        assert.deepEqual(files, [path.basename(file), 'README.md', `my-${lang}-${kind}.test.json`, ...(lang === 'ts' ? ['tsconfig.json'] : [])].sort());
        const source = await readFile(file, 'utf8');
        assert.match(source, /apiVersion/);
        if (middleware) {
          assert.match(source, /onRequest/);
          assert.match(source, /onResponse/);
          assert.match(source, /configSchema/);
        }
        const tested = await run('test', file);
        assert.equal(tested.code, 0, tested.stdout + tested.stderr);
        // 2 cases for a plugin (meta.tests + selftest()), 3 for a middleware (block, pass, response).
        assert.match(tested.stdout, new RegExp(`PASS  my-${lang}-${kind} .*: ${middleware ? 3 : 2} self-tests passed`));
        // The scaffolded fixture file runs too, and passes as written.
        assert.match(tested.stdout, new RegExp(`PASS  my-${lang}-${kind} fixtures \\(.*my-${lang}-${kind}\\.test\\.json\\): ${middleware ? 4 : 1} cases? passed`));
        const readme = await readFile(path.join(dir, 'README.md'), 'utf8');
        assert.match(readme, new RegExp(`terrarium test ${path.basename(file).replace('.', '\\.')}`));
        if (lang === 'lua') assert.match(readme, /types\/terrarium\.lua/);
      });
    }
  }

  for (const lang of ['js', 'ts', 'lua'] as const) {
    it(`the ${lang} middleware scaffold works in the gateway: blocks x-block with its config's status, tags the rest`, async (t) => {
      const dir = path.join(root, `gw-${lang}`);
      assert.equal((await run('init', dir, '--lang', lang, '--middleware')).code, 0);
      const name = `gw-${lang}`;
      const url = await gatewayFor(t, dir, name, '{ status: 451, greeting: bonjour }');
      const blocked = await fetch(`${url}/x`, { headers: { 'x-block': '1' } });
      assert.equal(blocked.status, 451);
      assert.deepEqual(await blocked.json(), { error: 'blocked' });
      const passed = await fetch(`${url}/x`);
      assert.equal(passed.status, 200);
      assert.equal(passed.headers.get('x-served-by'), name);
      const echoed = (await passed.json()) as { headers: Record<string, string> };
      assert.equal(echoed.headers['x-greeting'], 'bonjour');
    });
  }

  it("the middleware's self-tests really check it: a broken onRequest fails terrarium test", async () => {
    const dir = path.join(root, 'broken-mw');
    assert.equal((await run('init', dir, '--lang', 'js', '--middleware')).code, 0);
    const file = path.join(dir, 'broken-mw.js');
    const source = await readFile(file, 'utf8');
    await writeFile(file, source.replace("{ error: 'blocked' } } };\n", "{ error: 'denied' } } };\n"));
    assert.notEqual(await readFile(file, 'utf8'), source);
    const tested = await run('test', file);
    assert.equal(tested.code, 1);
    assert.match(tested.stdout, /FAIL  broken-mw/);
    assert.match(tested.stdout, /onRequest#1/);
  });

  it('--envoy scaffolds an Envoy Lua filter whose fixtures pass under terrarium test at once', async () => {
    const dir = path.join(root, 'my-envoy');
    const made = await run('init', dir, '--lang', 'lua', '--envoy');
    assert.equal(made.code, 0, made.stderr);
    assert.deepEqual((await readdir(dir)).sort(), ['README.md', 'my-envoy.lua', 'my-envoy.test.json']);
    const file = path.join(dir, 'my-envoy.lua');
    const source = await readFile(file, 'utf8');
    assert.match(source, /^function envoy_on_request\(handle\)$/m);
    assert.match(source, /^function envoy_on_response\(handle\)$/m);
    assert.doesNotMatch(source, /^return/m, 'an Envoy filter returns nothing');
    const tested = await run('test', file);
    assert.equal(tested.code, 0, tested.stdout + tested.stderr);
    assert.match(tested.stdout, /PASS  my-envoy fixtures \(.*my-envoy\.test\.json\): 3 cases passed/);
    assert.match(await readFile(path.join(dir, 'README.md'), 'utf8'), /terrarium test my-envoy\.lua/);
  });

  it("the --envoy fixtures really check the filter: a changed respond body fails terrarium test", async () => {
    const dir = path.join(root, 'broken-envoy');
    assert.equal((await run('init', dir, '--lang', 'lua', '--envoy')).code, 0);
    const file = path.join(dir, 'broken-envoy.lua');
    const source = await readFile(file, 'utf8');
    await writeFile(file, source.replace('"blocked")', '"denied")'));
    assert.notEqual(await readFile(file, 'utf8'), source);
    const tested = await run('test', file);
    assert.equal(tested.code, 1, tested.stdout);
    assert.match(tested.stdout, /\$\.respond\.body: expected "blocked", got "denied"/);
  });

  it('the --envoy scaffold works in the gateway: blocks x-block with its metadata status, marks the rest', async (t) => {
    const dir = path.join(root, 'gw-envoy');
    assert.equal((await run('init', dir, '--lang', 'lua', '--envoy')).code, 0);
    const url = await gatewayFor(t, dir, 'gw-envoy', '{ metadata: { status: 451, greeting: bonjour } }');
    const blocked = await fetch(`${url}/x`, { headers: { 'x-block': '1' } });
    assert.equal(blocked.status, 451);
    assert.equal(await blocked.text(), 'blocked');
    const passed = await fetch(`${url}/x`);
    assert.equal(passed.status, 200);
    assert.equal(passed.headers.get('x-served-by'), 'gw-envoy');
    const echoed = (await passed.json()) as { headers: Record<string, string> };
    assert.equal(echoed.headers['x-greeting'], 'bonjour');
  });

  it('accepts an existing empty directory', async () => {
    const dir = path.join(root, 'empty');
    await mkdir(dir);
    const r = await run('init', dir, '--lang', 'lua');
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await readdir(dir)).includes('empty.lua'));
  });

  const bad: Array<[string, string[], RegExp]> = [
    ['an unknown --lang', ['init', 'x', '--lang', 'python'], /argument 'python' is invalid\. Allowed choices are js, ts, lua/],
    ['a missing --lang', ['init', 'x'], /required option '--lang <lang>' not specified/],
    ['a missing dir', ['init', '--lang', 'js'], /missing required argument 'dir'/],
    ['an unknown flag', ['init', 'x', '--lang', 'js', '--bogus'], /unknown option '--bogus'/],
    ['--envoy with a language other than lua', ['init', 'x', '--lang', 'ts', '--envoy'], /--envoy scaffolds an Envoy Lua filter: use --lang lua \(not ts\)/],
  ];
  for (const [what, args, message] of bad) {
    it(`refuses ${what} with a one-line error and exit 2, writing nothing`, async () => {
      const r = await run(...args.map((a) => (a === 'x' ? path.join(root, `bad-${what.replace(/\W+/g, '-')}`) : a)));
      assert.equal(r.code, 2);
      assert.match(r.stderr.split('\n')[0]!, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.equal((await readdir(root)).some((f) => f.startsWith('bad-')), false);
    });
  }

  it('refuses a non-empty directory with a one-line error and exit 2, leaving it as it was', async () => {
    const dir = path.join(root, 'taken');
    await mkdir(dir);
    await writeFile(path.join(dir, 'keep.txt'), 'mine');
    const r = await run('init', dir, '--lang', 'js');
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `terrarium: ${dir} is not empty; init writes only into a new or empty directory\n`);
    assert.deepEqual(await readdir(dir), ['keep.txt']);
  });

  it('refuses a path that is a file', async () => {
    const file = path.join(root, 'a-file');
    await writeFile(file, 'x');
    const r = await run('init', file, '--lang', 'js');
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `terrarium: ${file} exists and is not a directory\n`);
  });
});
