/**
 * What a newcomer meets after `npm install terrarium-plugins`: the package as npm packs it (the
 * `files` of package.json, not the clone), installed into a fresh directory. Its dependencies are
 * linked from this checkout's node_modules, so the test needs no registry.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function exec(file: string, args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, timeout: 120000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('the installed package', () => {
  let dir: string;
  let pkg: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'terrarium-newcomer-'));
    // --ignore-scripts: pack the dist/ that `npm test` has just built instead of building again.
    const packed = await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], root);
    assert.equal(packed.code, 0, packed.stderr);
    const tarball = (JSON.parse(packed.stdout) as { filename: string }[])[0]!.filename;
    pkg = path.join(dir, 'node_modules', 'terrarium-plugins');
    await mkdir(pkg, { recursive: true });
    const untar = await exec('tar', ['xzf', path.join(dir, tarball), '-C', pkg, '--strip-components=1'], dir);
    assert.equal(untar.code, 0, untar.stderr);
    await symlink(path.join(root, 'node_modules'), path.join(pkg, 'node_modules'));
    await symlink(path.join(root, 'node_modules', '@types'), path.join(dir, 'node_modules', '@types'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('runs `terrarium demo` from outside a clone and exits 0 without errors (regression: scripts-examples was not in the tarball)', async () => {
    const r = await exec(process.execPath, [path.join(pkg, 'dist', 'cli', 'main.js'), 'demo', '--log-level', 'warn'], dir);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /ERR_[A-Z_]+/);
    assert.match(r.stdout, /greet\(1\) -> "Welcome, Ada!"/, 'the demo called the shipped examples');
  });

  it('type-checks an import from terrarium-plugins/gateway under strict with skipLibCheck: false (regression: TS7016 from ioredis)', async () => {
    await writeFile(path.join(dir, 'package.json'), '{ "type": "module" }\n');
    const compilerOptions = { strict: true, skipLibCheck: false, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, types: ['node'] };
    await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['app.ts'] }));
    await writeFile(
      path.join(dir, 'app.ts'),
      [
        "import type { GatewayConfig } from 'terrarium-plugins/gateway';",
        "import type { Host } from 'terrarium-plugins';",
        "export const config: GatewayConfig = { plugins: { dir: 'plugins' } } as GatewayConfig;",
        'export type App = Host;',
        '',
      ].join('\n'),
    );
    const r = await exec(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], dir);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
});
