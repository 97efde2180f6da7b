/**
 * The storage example and the scoped fs capability it runs on: the Storage backend is swapped
 * (memory JS -> file-system Lua) by replacing the plugin file while calls keep coming, and paths
 * that would leave the fs capability's base directory are refused.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHost, scopedFs } from 'terrarium-plugins';
import { runSwap } from '../scripts-examples/storage/host/swap.js';
import { expectCode } from './engines/conformance.js';

describe('storage example', () => {
  it('swaps the backend from memory (JS) to files (Lua) under load without a failed call', async () => {
    const r = await runSwap();
    assert.equal(r.failed, 0);
    assert.equal(r.mismatches, 0);
    assert.deepEqual(r.served, ['1.0.0-memory', '1.0.0-fs']);
    assert.ok(r.callsDuringSwap > 0, 'calls kept coming while the new backend was checked');
    assert.ok(r.filesWritten > 0, 'the Lua backend wrote through host.fs');
    assert.ok(!r.events.some((e) => e.startsWith('failed') || e.startsWith('unloaded')), r.events.join(', '));
  });
});

describe('scoped fs capability', () => {
  it('reads, writes, lists and removes inside its base directory', async () => {
    const base = await mkdtemp(path.join(os.tmpdir(), 'terrarium-fs-'));
    const fs = scopedFs(base);
    assert.equal(fs.read('a/b.txt'), undefined);
    assert.equal(fs.write('a/b.txt', 'hello'), true);
    assert.equal(await readFile(path.join(base, 'a', 'b.txt'), 'utf8'), 'hello');
    assert.equal(fs.read('./a//b.txt'), 'hello');
    assert.deepEqual(fs.list('a'), ['b.txt']);
    assert.equal(fs.exists('a/b.txt'), true);
    assert.equal(fs.remove('a/b.txt'), true);
    assert.equal(fs.remove('a/b.txt'), false);
    await rm(base, { recursive: true, force: true });
  });

  it('refuses .., absolute paths, NUL bytes and symlinks that lead out, without showing host paths', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'terrarium-fs-'));
    const base = path.join(root, 'box');
    await mkdir(base);
    await writeFile(path.join(root, 'secret.txt'), 'top secret');
    await symlink(path.join(root, 'secret.txt'), path.join(base, 'link.txt'));
    await symlink(root, path.join(base, 'up'));
    await symlink('inside.txt', path.join(base, 'alias.txt'));
    await writeFile(path.join(base, 'inside.txt'), 'ok');
    const fs = scopedFs(base);
    const refused = (fn: () => unknown, code: string) => {
      try {
        fn();
      } catch (e) {
        assert.equal((e as { code?: string }).code, code, (e as Error).message);
        // Only the path the plugin itself passed may appear, never the resolved host path.
        const message = (e as Error).message.replace(path.join(root, 'secret.txt'), '<input>');
        assert.ok(!message.includes(root), `message shows a host path: ${message}`);
        return;
      }
      assert.fail('expected a refusal');
    };
    refused(() => fs.read('../secret.txt'), 'EFSSCOPE');
    refused(() => fs.read('a/../../secret.txt'), 'EFSSCOPE');
    refused(() => fs.read(path.join(root, 'secret.txt')), 'EFSSCOPE');
    refused(() => fs.read('link.txt'), 'EFSSCOPE');
    refused(() => fs.read('up/secret.txt'), 'EFSSCOPE');
    refused(() => fs.write('up/planted.txt', 'x'), 'EFSSCOPE');
    refused(() => fs.read('a\0b'), 'EFSSCOPE');
    refused(() => fs.list('..'), 'EFSSCOPE');
    // A symlink that stays inside is followed by realpath checks but not opened through: reading it is refused too.
    refused(() => fs.read('alias.txt'), 'EFSSCOPE');
    assert.equal(fs.read('inside.txt'), 'ok');
    await rm(root, { recursive: true, force: true });
  });

  it('is what a Lua plugin sees as host.fs: an escape attempt is an error inside the plugin', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'terrarium-fs-plugin-'));
    await writeFile(
      path.join(dir, 'peek.lua'),
      `local M = {}\nfunction M.peek(p) return host.fs.read(p) end\nfunction M.tryPeek(p) local ok, err = pcall(host.fs.read, p) return tostring(err) end\nreturn M\n`,
    );
    await using host = await createHost({ dir, capabilities: { fs: scopedFs(path.join(dir, 'data')) } });
    const peek = host.get<{ peek(p: string): string; tryPeek(p: string): string }>('peek');
    const e = await expectCode(() => peek.peek('../peek.lua'), 'ERR_PLUGIN_THROWN');
    assert.match(e.message, /escapes the plugin's directory/);
    assert.match(peek.tryPeek('/etc/passwd'), /is absolute/);
    await rm(dir, { recursive: true, force: true });
  });
});
