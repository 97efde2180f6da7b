/** Plugin output (console, print, host.log) reaches the logger bounded in bytes, for every engine. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { createHost, type Logger } from 'terrarium-plugins';
import { fixtureDir } from './engines/conformance.js';

function recorder(): Logger & { lines: { obj: object; msg: unknown }[] } {
  const lines: { obj: object; msg: unknown }[] = [];
  const push = (obj: object, msg?: string) => void lines.push({ obj, msg });
  return { lines, debug: push, info: push, warn: push, error: push };
}

describe('log output bounds (log flooding)', () => {
  for (const [engine, file, source] of [
    ['lua print', 'flood.lua', "return { flood = function() for i = 1, 60 do print(string.rep('x', 8 * 1024 * 1024)) end return 1 end }\n"],
    ['js console.log', 'flood.js', "export function flood() { const s = 'x'.repeat(8 * 1024 * 1024); for (let i = 0; i < 60; i++) console.log(s); return 1; }\n"],
  ] as const) {
    it(`${engine}: each line is cut to 8 KiB and a second's output to 256 KiB, always a string`, async () => {
      const dir = await fixtureDir({ [file]: source });
      const logger = recorder();
      await using host = await createHost({ dir, logger, limits: { memoryBytes: 256 * 1024 * 1024, callTimeoutMs: 20_000 } });
      const started = Date.now();
      assert.equal(host.get<{ flood(): number }>('flood').flood(), 1);
      const seconds = Math.ceil((Date.now() - started) / 1000) + 1;
      const out = logger.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('xxx'));
      assert.ok(out.length > 0, 'some output got through');
      for (const l of out) {
        assert.equal(typeof l.msg, 'string');
        assert.ok(Buffer.byteLength(l.msg as string) <= 8192, `a line of ${Buffer.byteLength(l.msg as string)} bytes`);
        assert.match(l.msg as string, /\[truncated \d+ bytes\]$/);
      }
      const total = out.reduce((n, l) => n + Buffer.byteLength(l.msg as string), 0);
      // 480 MiB were written; what reaches the logger is bounded by the per-second budget over the call's seconds.
      assert.ok(total <= seconds * 256 * 1024, `${total} bytes reached the logger in at most ${seconds} s`);
      await rm(dir, { recursive: true, force: true });
    });
  }
});
