/**
 * The author's types: `terrarium-plugins/plugin` (types/plugin.d.ts over the built dist/ types)
 * type-checks the TypeScript scaffolds under strict, and refuses plugins that break the contract;
 * types/terrarium.lua declares every host function the Lua engine binds.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const cli = path.join(repo, 'dist/cli/main.js');
const tsc = path.join(repo, 'node_modules/typescript/bin/tsc');

function node(args: string[], cwd?: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { timeout: 120000, cwd }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

describe('terrarium-plugins/plugin: types for authors', () => {
  let root: string;
  before(async () => {
    assert.ok(existsSync(path.join(repo, 'dist/gateway/middleware/contract.d.ts')), 'run npm run build first: the author types are over dist/');
    root = await mkdtemp(path.join(os.tmpdir(), 'terrarium-types-'));
    // An author's project: the package installed under node_modules (here, this checkout).
    await mkdir(path.join(root, 'node_modules'));
    await symlink(repo, path.join(root, 'node_modules/terrarium-plugins'), 'dir');
  });
  after(() => rm(root, { recursive: true, force: true }));

  async function scaffold(name: string, middleware: boolean): Promise<string> {
    const dir = path.join(root, name);
    const r = await node([cli, 'init', dir, '--lang', 'ts', ...(middleware ? ['--middleware'] : [])]);
    assert.equal(r.code, 0, r.out);
    return dir;
  }
  const typecheck = (dir: string) => node([tsc, '-p', dir]);

  it('package.json exports ./plugin with types the package ships', async () => {
    const pkg = JSON.parse(await readFile(path.join(repo, 'package.json'), 'utf8')) as { exports: Record<string, { types?: string }>; files: string[] };
    assert.equal(pkg.exports['./plugin']?.types, './types/plugin.d.ts');
    assert.ok(existsSync(path.join(repo, 'types/plugin.d.ts')));
    assert.ok(pkg.files.includes('types'), 'types/ is in "files"');
  });

  for (const middleware of [false, true]) {
    it(`the TypeScript ${middleware ? 'middleware' : 'plugin'} scaffold type-checks under strict against the built types`, async () => {
      const dir = await scaffold(`ok-${middleware ? 'mw' : 'plain'}`, middleware);
      const tsconfig = JSON.parse(await readFile(path.join(dir, 'tsconfig.json'), 'utf8')) as { compilerOptions: { strict: boolean } };
      assert.equal(tsconfig.compilerOptions.strict, true);
      const r = await typecheck(dir);
      assert.equal(r.code, 0, r.out);
    });
  }

  it('a middleware returning setHeader instead of setHeaders is a type error', async () => {
    const dir = await scaffold('bad-decision', true);
    const file = path.join(dir, 'bad-decision.ts');
    const source = await readFile(file, 'utf8');
    const broken = source.replace("return { setHeaders: { 'x-greeting'", "return { setHeader: { 'x-greeting'");
    assert.notEqual(broken, source);
    await writeFile(file, broken);
    const r = await typecheck(dir);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /bad-decision\.ts\(\d+,\d+\): error TS\d+: .*'setHeader' does not exist in type 'RequestDecision'/);
  });

  it('host is typed: an unknown capability, a misspelt log level and an ungranted kv are errors', async () => {
    const dir = await scaffold('bad-host', false);
    const file = path.join(dir, 'bad-host.ts');
    await writeFile(
      file,
      `${await readFile(file, 'utf8')}
export function misuse(): void {
  host.nope();
  host.log.inf('x');
  host.kv.get('k');
}
`,
    );
    const r = await typecheck(dir);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /Property 'nope' does not exist on type 'TerrariumHost'/);
    assert.match(r.out, /Property 'inf' does not exist on type 'HostLog'/);
    assert.match(r.out, /'host\.kv' is possibly 'undefined'/);
  });

  it('meta is typed: a self-test case whose args is not a list is an error', async () => {
    const dir = await scaffold('bad-meta', false);
    const file = path.join(dir, 'bad-meta.ts');
    const source = await readFile(file, 'utf8');
    const broken = source.replace("args: ['Ada']", "args: 'Ada'");
    assert.notEqual(broken, source);
    await writeFile(file, broken);
    const r = await typecheck(dir);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /Type 'string' is not assignable to type 'unknown\[\]'/);
  });
});
