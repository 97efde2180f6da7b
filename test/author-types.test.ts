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
import { createHost } from '../src/index.js';
import { scopedFs } from '../src/capabilities/fs.js';
import { memoryKv } from '../src/cli/demo.js';

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

describe('types/terrarium.lua: annotations for lua-language-server', () => {
  const LIBS = ['json', 'base64', 'hex', 'crypto', 'os'];

  /** Dotted names the annotation file declares: `function a.b(` and `a.b = ` at the start of a line. */
  async function declared(): Promise<Set<string>> {
    const text = await readFile(path.join(repo, 'types/terrarium.lua'), 'utf8');
    assert.match(text, /^---@meta/);
    const names = new Set<string>();
    for (const m of text.matchAll(/^function ([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+)\(/gm)) names.add(m[1]!);
    for (const m of text.matchAll(/^([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+) = /gm)) names.add(m[1]!);
    return names;
  }

  it('declares every host function and platform library function a loaded Lua plugin sees, and nothing it does not', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'terrarium-luameta-'));
    try {
      // A plugin's view: pairs() lists the platform libraries; host cannot be listed (pairs(host) is
      // empty by design), so it is probed for every name that could be there.
      await writeFile(
        path.join(dir, 'probe.lua'),
        `local M = {}
function M.host_types(names)
  local out = {}
  for _, n in ipairs(names) do
    local v = host
    for part in n:gmatch('[^.]+') do
      if type(v) ~= 'userdata' and type(v) ~= 'table' then v = nil break end
      v = v[part]
    end
    out[n] = type(v)
  end
  return out
end
function M.libs(names)
  local out = {}
  for _, lib in ipairs(names) do
    local keys = {}
    for k in pairs(_G[lib]) do keys[#keys + 1] = lib .. '.' .. k end
    out[#out + 1] = table.concat(keys, ' ')
  end
  return out
end
return M
`,
      );
      await mkdir(path.join(dir, 'fs'));
      // What terrarium call / terrarium test grant: kv and fs (and log, always).
      const caps = { ...memoryKv(), fs: scopedFs(path.join(dir, 'fs')) };
      await using h = await createHost({ files: [path.join(dir, 'probe.lua')], capabilities: caps });
      const probe = h.get<{ host_types(names: string[]): Record<string, string>; libs(names: string[]): string[] }>('probe');

      // Candidates for host: the granted capability tree, log, and the engine's own members
      // (the helpers map of src/engines/lua/host-object.ts, host.null, host.config).
      const engineSource = await readFile(path.join(repo, 'src/engines/lua/host-object.ts'), 'utf8');
      const helperBlock = /const helpers = new Map<string, CFunction>\(\[([\s\S]*?)\n {2}\]\);/.exec(engineSource);
      assert.ok(helperBlock, 'found the helpers map in host-object.ts');
      const helpers = [...helperBlock[1]!.matchAll(/^ {4}\[?\s*'(\w+)',/gm)].map((m) => m[1]!);
      assert.ok(helpers.includes('array') && helpers.includes('bytes'), `helpers found: ${helpers.join(', ')}`);
      const granted = Object.entries(caps).flatMap(([ns, fns]) => Object.keys(fns as object).map((f) => `host.${ns}.${f}`));
      const decl = await declared();
      const declaredHost = [...decl].filter((n) => n.startsWith('host.'));
      const candidates = [...new Set([...granted, ...['debug', 'info', 'warn', 'error'].map((l) => `host.log.${l}`), ...helpers.map((n) => `host.${n}`), 'host.null', 'host.config', ...declaredHost])];
      const types = probe.host_types(candidates.map((n) => n.slice('host.'.length)));
      const seen = candidates.filter((n) => types[n.slice('host.'.length)] !== 'nil' || n === 'host.config');
      const missing = seen.filter((n) => !decl.has(n) && !declaredHost.some((d) => d.startsWith(`${n}.`)));
      assert.deepEqual(missing, [], 'every member of host the plugin sees is declared');
      const stale = declaredHost.filter((n) => !seen.includes(n));
      assert.deepEqual(stale, [], 'every declared member of host is there (with kv and fs granted)');

      const libs = probe.libs(LIBS).flatMap((keys) => keys.split(' ')).filter(Boolean);
      assert.ok(libs.includes('crypto.random_bytes') && libs.includes('json.null'), libs.join(' '));
      assert.deepEqual(libs.filter((n) => !decl.has(n)), [], 'every platform library member is declared');
      const declaredLibs = [...decl].filter((n) => LIBS.includes(n.split('.')[0]!));
      assert.deepEqual(declaredLibs.filter((n) => !libs.includes(n)), [], 'every declared library member exists');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is shipped: types/ is in the package files and the Lua scaffold README points at it', async () => {
    const pkg = JSON.parse(await readFile(path.join(repo, 'package.json'), 'utf8')) as { files: string[] };
    assert.ok(pkg.files.includes('types'));
    const root = await mkdtemp(path.join(os.tmpdir(), 'terrarium-luainit-'));
    try {
      const r = await node([cli, 'init', path.join(root, 'mw'), '--lang', 'lua', '--middleware']);
      assert.equal(r.code, 0, r.out);
      assert.match(await readFile(path.join(root, 'mw/README.md'), 'utf8'), /types\/terrarium\.lua/);
      assert.match(await readFile(path.join(root, 'mw/mw.lua'), 'utf8'), /---@type terrarium\.Middleware/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
