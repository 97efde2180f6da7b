/**
 * `terrarium test`: per plugin file, the type check (.ts), the load with its self-tests, then its
 * fixtures, each fixture file on a host of its own (its "config" is the plugin's host.config).
 * Exit 1 when anything fails, 2 when a fixture file is malformed (its file:line and ERR_FIXTURE),
 * since a broken fixture says nothing about the plugin.
 */
import path from 'node:path';
import { SelfTestError, type FixtureError } from '../errors.js';
import { fixtureFilesFor, readFixtureFile, runCase } from './fixtures.js';
import { hostFor } from './sandbox.js';
import { typeCheck } from './typecheck.js';

export interface TestOutcome {
  summary: string;
  exitCode: 0 | 1 | 2;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export async function testPlugins(files: string[], opts: { typecheck: boolean; out: (s: string) => void }): Promise<TestOutcome> {
  const { out } = opts;
  let failed = 0;
  let ran = 0;
  let malformed = 0;
  for (const file of files) {
    let ok = true;
    if (opts.typecheck && /\.m?ts$/.test(file)) {
      const checked = await typeCheck(file, path.basename(file, path.extname(file)));
      if (checked.ok === 'skipped') out(`note  ${file}: ${checked.reason}\n`);
      else if (!checked.ok) {
        out(`FAIL  ${file}: ${checked.error.code} ${checked.error.diagnostics.length === 1 ? 'a type error' : `${checked.error.diagnostics.length} type errors`}\n`);
        for (const d of checked.error.diagnostics) out(`      ${d}\n`);
        ok = false;
      }
    }
    let cases = 0;
    let loaded = false;
    {
      await using host = await hostFor(file);
      const p = host.plugins[0]!;
      cases = p.selftests.passed + p.selftests.failed;
      loaded = p.status === 'ready';
      if (loaded) {
        out(`${cases ? 'PASS' : 'none'}  ${p.name} (${file})${cases ? `: ${plural(cases, 'self-test')} passed` : ': declares no self-tests'}\n`);
      } else {
        out(`FAIL  ${p.name} (${file})\n`);
        const lines = p.error instanceof SelfTestError ? p.error.failures : [p.error?.message ?? p.status];
        for (const l of lines) out(`      ${l}\n`);
        ok = false;
      }
    }
    const fixtures = fixtureFilesFor(file);
    // A plugin that does not load fails every case the same way: said once above.
    if (!loaded && fixtures.length) out(`      (${plural(fixtures.length, 'fixture file')} not run: the plugin did not load)\n`);
    if (!loaded) fixtures.length = 0;
    for (const fx of fixtures) {
      const r = await runFixtureFile(file, fx, out);
      if (r === 'malformed') malformed++;
      else {
        cases += r.passed + r.failed;
        if (r.failed) ok = false;
      }
    }
    if (cases > 0 && ok) ran++;
    if (!ok) failed++;
  }
  const summary = malformed
    ? `${plural(malformed, 'fixture file')} malformed${failed ? `; ${failed} of ${files.length} plugins failed` : ''}`
    : failed
      ? `${failed} of ${files.length} plugins failed`
      : ran === files.length
        ? `all ${files.length} plugins passed`
        : ran === 0
          ? `${files.length} plugins loaded; none declares self-tests, so none ran`
          : `${ran} of ${files.length} plugins passed their self-tests; ${files.length - ran} declare none`;
  return { summary, exitCode: malformed ? 2 : failed ? 1 : 0 };
}

/** One fixture file on a fresh host; prints PASS or each failing case with its diff. */
async function runFixtureFile(pluginFile: string, fx: string, out: (s: string) => void): Promise<{ passed: number; failed: number } | 'malformed'> {
  // A first read (no exports known yet) catches bad JSON before anything loads.
  let config: unknown;
  try {
    config = readFixtureFile(fx, undefined).config;
  } catch (e) {
    out(`ERROR ${(e as FixtureError).message}\n`);
    return 'malformed';
  }
  const name = path.basename(pluginFile, path.extname(pluginFile));
  await using host = await hostFor(pluginFile, config === undefined ? {} : { config: { [name]: config } });
  const p = host.plugins[0]!;
  if (p.status !== 'ready') {
    out(`FAIL  fixtures ${fx}: the plugin did not load: ${p.error?.message ?? p.status}\n`);
    return { passed: 0, failed: 1 };
  }
  let cases;
  try {
    cases = readFixtureFile(fx, p.exports.map((e) => e.name)).cases;
  } catch (e) {
    out(`ERROR ${(e as FixtureError).message}\n`);
    return 'malformed';
  }
  const proxy = host.get<Record<string, (...a: unknown[]) => Promise<unknown>>>(p.name);
  let passed = 0;
  const failures: string[] = [];
  for (const c of cases) {
    const r = await runCase(c, p, (exp, args) => Promise.resolve(proxy[exp]!(...args)));
    if (r.ok) passed++;
    else failures.push(`${fx}:${c.line} ${c.name} (${c.exportName}):`, ...r.problems.map((l) => `  ${l}`));
  }
  const failedN = cases.length - passed;
  out(`${failedN ? 'FAIL' : 'PASS'}  ${p.name} fixtures (${fx}): ${failedN ? `${failedN} of ${plural(cases.length, 'case')} failed` : `${plural(cases.length, 'case')} passed`}\n`);
  for (const l of failures) out(`      ${l}\n`);
  return { passed, failed: failedN };
}
