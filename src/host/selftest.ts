/**
 * Self-tests a plugin declares for itself, run on every load and reload before the version is
 * activated (Traefik's `testData`, but gating): `meta.tests` maps an export to input/expected
 * pairs, and an optional `selftest()` export runs free-form checks (throw or return false to fail).
 */
import { isDeepStrictEqual } from 'node:util';
import { TerrariumError } from '../errors.js';
import type { ExportInfo, PluginMeta } from '../types.js';
import { sameEmpty } from '../binding/empty.js';

/** What self-tests need of an instance (the host's guarded one). */
export interface TestSubject {
  readonly meta: PluginMeta | undefined;
  readonly exports: readonly ExportInfo[];
  readonly broken: boolean;
  call(exportName: string, args: readonly unknown[]): unknown;
}

/** One case of `meta.tests`: `{ args: [...], expect: value }` (no `expect`: the call must only not fail). */
export interface SelfTestCase {
  args?: unknown[];
  expect?: unknown;
}

/** The outcome of one case, for `terrarium test` and errors. */
export interface SelfTestResult {
  /** `revert#1` (export and 1-based case number) or `selftest()`. */
  name: string;
  ok: boolean;
  /** What went wrong, with the expected and actual values. */
  detail?: string;
}

/** Shows a value the way a plugin author wrote it (JSON, plus what JSON cannot say). */
export function showValue(v: unknown): string {
  if (v === undefined) return 'undefined';
  try {
    return JSON.stringify(v, (_k, x: unknown) => (x === undefined ? '<undefined>' : x instanceof Uint8Array ? `<bytes ${Buffer.from(x).toString('hex')}>` : typeof x === 'number' && !Number.isFinite(x) ? String(x) : x)) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Deep equality where an ambiguous empty table (Lua's `{}`) matches both `{}` and `[]` (binding/empty.ts). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (sameEmpty(a, b)) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object' || a instanceof Uint8Array || b instanceof Uint8Array) return isDeepStrictEqual(a, b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** `ERR_PLUGIN_THROWN at math.lua:3: threw: boom`: the code, where, and what, without the hint and stack. */
function describeFailure(e: unknown): string {
  if (!(e instanceof TerrariumError)) return String((e as Error)?.message ?? e);
  return `${e.code}${e.location ? ` at ${e.location}` : ''}: ${e.detail}`;
}

/** Whether the plugin declares any self-test. */
export function hasSelfTests(inst: TestSubject): boolean {
  const tests = inst.meta?.tests;
  return (tests !== undefined && tests !== null) || inst.exports.some((e) => e.name === 'selftest');
}

/** Problems with the shape of `meta.tests` (reported as failures, so the author sees them). */
function casesOf(inst: TestSubject): { name: string; exportName: string; c: SelfTestCase }[] | string {
  const tests = inst.meta?.tests;
  if (tests === undefined || tests === null) return [];
  if (typeof tests !== 'object' || Array.isArray(tests)) return 'meta.tests must map export names to lists of { args, expect }';
  const out: { name: string; exportName: string; c: SelfTestCase }[] = [];
  for (const [exportName, list] of Object.entries(tests as Record<string, unknown>)) {
    const cases = list;
    if (!Array.isArray(cases)) return `meta.tests.${exportName} must be a list of { args, expect }`;
    cases.forEach((c: unknown, i) => {
      out.push({ name: `${exportName}#${i + 1}`, exportName, c: (c !== null && typeof c === 'object' ? c : {}) as SelfTestCase });
    });
  }
  return out;
}

/** Budget for all self-tests of one load, cases and selftest() together (the plugin's time, not its yields). */
export const SELFTEST_TOTAL_MS = 5000;

/**
 * Run every declared self-test against an instance that is not serving yet. Never throws: each
 * failure (wrong value, plugin error, limit violation) is a result with `ok: false`. Stops at the
 * first case that breaks the instance (a broken instance must not be called again), and when the
 * total budget is spent (each case is bounded by callTimeoutMs, but a plugin may declare
 * 100,000 of them). Yields to the event loop between cases so the host keeps serving.
 */
export async function runSelfTests(inst: TestSubject, totalMs = SELFTEST_TOTAL_MS): Promise<SelfTestResult[]> {
  const results: SelfTestResult[] = [];
  const cases = casesOf(inst);
  if (typeof cases === 'string') return [{ name: 'meta.tests', ok: false, detail: cases }];
  const exported = new Set(inst.exports.map((e) => e.name));
  // The budget counts this plugin's time only: not the turns it yields to the event loop, where
  // another plugin may hold the thread for as long as its own limits allow.
  let spent = 0;
  let since = performance.now();
  let yielded = since;
  const overBudget = async (name: string, done: number): Promise<boolean> => {
    const t = performance.now();
    spent += t - since;
    since = t;
    if (spent > totalMs) {
      results.push({ name, ok: false, detail: `self-tests ran past their total budget of ${totalMs} ms (${done} of ${cases.length} cases run); declare fewer or faster cases` });
      return true;
    }
    if (t - yielded > 10) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      yielded = performance.now();
      since = yielded;
    }
    return false;
  };
  for (const [i, { name, exportName, c }] of cases.entries()) {
    if (await overBudget(name, i)) return results;
    if (!exported.has(exportName)) {
      results.push({ name, ok: false, detail: `meta.tests names "${exportName}", which the plugin does not export` });
      continue;
    }
    const args = c.args === undefined ? [] : c.args;
    if (!Array.isArray(args)) {
      results.push({ name, ok: false, detail: 'args must be a list of arguments' });
      continue;
    }
    try {
      const actual = await inst.call(exportName, args);
      if (!('expect' in c) || sameValue(c.expect, actual)) results.push({ name, ok: true });
      else results.push({ name, ok: false, detail: `${exportName}(${args.map(showValue).join(', ')}): expected ${showValue(c.expect)}, got ${showValue(actual)}` });
    } catch (e) {
      results.push({ name, ok: false, detail: `${exportName}(${args.map(showValue).join(', ')}) failed: ${describeFailure(e)}` });
    }
    if (inst.broken) return results;
  }
  if (exported.has('selftest')) {
    if (await overBudget('selftest()', cases.length)) return results;
    try {
      const r = await inst.call('selftest', []);
      results.push(r === false ? { name: 'selftest()', ok: false, detail: 'selftest() returned false' } : { name: 'selftest()', ok: true });
    } catch (e) {
      results.push({ name: 'selftest()', ok: false, detail: `selftest() failed: ${describeFailure(e)}` });
    }
  }
  return results;
}
