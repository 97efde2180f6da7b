/**
 * `terrarium cost` work units (EngineInstance.workUnits: QuickJS ticks, Lua VM instructions):
 * deterministic per input, growing with the work, and the `--max-units` budget. Counts only,
 * never timings.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { measureCost, type ExportCost } from '../src/cli/cost.js';
import { run } from './cli-run.js';

const LOOPS = { js: 'sum.js', ts: 'sumts.ts', lua: 'sumlua.lua' } as const;
type Lang = keyof typeof LOOPS;

describe('terrarium cost: work units', () => {
  let root: string;
  const file = (lang: Lang) => path.join(root, LOOPS[lang]);
  /** A fixture file whose only case calls sum(n). */
  const cases = async (lang: Lang, n: number) => {
    const f = path.join(root, `${lang}-${n}.json`);
    await writeFile(f, JSON.stringify({ cases: [{ export: 'sum', args: [n], expect: (n * (n - 1)) / 2 }] }));
    return f;
  };
  const units = async (lang: Lang, n: number): Promise<ExportCost> => {
    const r = await measureCost(file(lang), { fixtures: [await cases(lang, n)], iterations: 15, warmup: 2 });
    assert.deepEqual(r.over, []);
    return r.exports[0]!;
  };

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'terrarium-cost-units-'));
    await writeFile(
      file('js'),
      `export const meta = { name: 'sum', version: '1.0.0', apiVersion: 1 };
export function sum(n) { let s = 0; for (let i = 0; i < n; i++) s += i; return s; }
`,
    );
    await writeFile(
      file('ts'),
      `export const meta = { name: 'sumts', version: '1.0.0', apiVersion: 1 };
export function sum(n: number): number { let s = 0; for (let i = 0; i < n; i++) s += i; return s; }
`,
    );
    await writeFile(
      file('lua'),
      `return { meta = { name = 'sumlua', version = '1.0.0', apiVersion = 1 },
  sum = function(n) local s = 0; for i = 0, n - 1 do s = s + i end; return s end }
`,
    );
  });
  after(() => rm(root, { recursive: true, force: true }));

  for (const lang of Object.keys(LOOPS) as Lang[]) {
    it(`${lang}: the same input costs the same units on every call and in every run`, async () => {
      const a = await units(lang, 3000);
      const b = await units(lang, 3000);
      assert.ok(a.medianUnits !== undefined && a.medianUnits > 0, JSON.stringify(a));
      assert.equal(a.p99Units, a.medianUnits, 'every call of the same input ran the same units');
      assert.equal(b.medianUnits, a.medianUnits, 'a second host counted the same units');
    });

    it(`${lang}: a loop ten times as long costs at least one unit more per extra iteration`, async () => {
      const short = await units(lang, 1000);
      const long = await units(lang, 10000);
      // Each iteration is at least one QuickJS tick (its back-edge) or one Lua instruction (FORLOOP).
      assert.ok(long.medianUnits! - short.medianUnits! >= 9000, `${short.medianUnits} -> ${long.medianUnits}`);
    });
  }

  it('--max-units fails an export over the budget (exit 1, named in the table) and passes one under it', async () => {
    const f = await cases('js', 1000);
    const probe = await units('js', 1000);
    const over = await run('cost', file('js'), '--fixtures', f, '--iterations', '5', '--max-units', String(probe.medianUnits! - 1));
    assert.equal(over.code, 1, over.stdout + over.stderr);
    assert.match(over.stdout, /EXPORT\s+CALLS\s+MEDIAN µs\s+P99 µs\s+MEDIAN UNITS\s+P99 UNITS/);
    assert.match(over.stdout, new RegExp(`\\nsum\\s+5\\s+[\\d.]+\\s+[\\d.]+\\s+${probe.medianUnits}\\s+${probe.medianUnits}`));
    assert.match(over.stdout, new RegExp(`OVER  sum: median ${probe.medianUnits} work units per call is over --max-units ${probe.medianUnits! - 1}`));
    const within = await run('cost', file('js'), '--fixtures', f, '--iterations', '5', '--max-units', String(probe.medianUnits!), '--json');
    assert.equal(within.code, 0, within.stdout + within.stderr);
    const report = JSON.parse(within.stdout) as { exports: ExportCost[] };
    assert.equal(report.exports[0]!.medianUnits, probe.medianUnits);
  });

  it('--max-units refuses a value that is not a positive integer (exit 2)', async () => {
    const r = await run('cost', file('js'), '--max-units', 'many');
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /--max-units must be a positive integer/);
  });
});
