/**
 * The host's stop signal reaches the Lua engine: after the host's re-entry cap breaks the
 * instance in a nested call, the Lua code on the stack is stopped when the host function returns
 * into it, even under pcall: it runs nothing more.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHost, type Host, type Logger } from 'terrarium-plugins';
import { expectCode } from './engines/conformance.js';

const SOURCE = `local M = {}
function M.again(n)
  local ok = pcall(host.reenter, n + 1)
  host.log.info('after ' .. n)
  return 'caught'
end
function M.ok() return 'ok' end
return M
`;

describe('Lua under the host guard', () => {
  it('stops the Lua code on the stack once a nested call broke the re-entry cap, pcall or not', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'terrarium-seam-lua-'));
    const lines: string[] = [];
    const line = (_fields: unknown, message?: string) => void (message !== undefined && lines.push(message));
    const logger: Logger = { debug: line, info: line, warn: line, error: line };
    let host: Host | undefined;
    try {
      await writeFile(path.join(dir, 'again.lua'), SOURCE);
      host = await createHost({ dir, logger, capabilities: { reenter: (n: unknown) => host!.get<{ again(n: unknown): unknown }>('again').again(n) } });
      const e = await expectCode(() => host!.get<{ again(n: number): unknown }>('again').again(0), 'ERR_PLUGIN_STACK');
      assert.equal(e.plugin, 'again');
      assert.deepEqual(lines.filter((l) => l.startsWith('after')), [], 'no level ran on after its nested call failed');
      await host.ready();
      assert.equal(host.get<{ ok(): string }>('again').ok(), 'ok');
    } finally {
      await host?.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
