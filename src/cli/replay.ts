/**
 * `terrarium replay <file> <plugin> [--against <other version>]`: runs the requests the gateway
 * recorded (`replay:` in its config, stats/recorder.ts) through a middleware's onRequest, each as
 * the gateway would pass it (declared headers only, the config with schema defaults), and counts
 * the decisions. With --against, the same requests go through the other version too (on a host
 * of its own: both have the same name) and the decisions that differ are grouped with counts and
 * the first path that showed each. A decision is the checked result, or the error code a call met.
 */
import { readFileSync } from 'node:fs';
import { FixtureError, TerrariumError } from '../errors.js';
import { argsOf, checkedResult, ConfigMismatch, effectiveConfig, type FixtureCase } from './fixtures.js';
import { hostFor } from './sandbox.js';
import type { ReplayRecord } from '../gateway/stats/recorder.js';

export interface ReplayOptions {
  against?: string;
  router?: string;
  config?: unknown;
}

export interface DecisionCount {
  decision: string;
  count: number;
}

export interface ReplayDiff {
  from: string;
  to: string;
  count: number;
  /** The first recorded request (router and path) that showed it. */
  example: string;
}

export interface ReplayReport {
  file: string;
  requests: number;
  /** Lines that are not a recorded request (kept out; the first one's line number). */
  skipped: { count: number; firstLine?: number };
  plugin: { file: string; decisions: DecisionCount[] };
  against?: { file: string; decisions: DecisionCount[]; same: number; differ: number; diffs: ReplayDiff[] };
}

/** The recorded requests; lines that do not parse as one are counted, not fatal (a line cut by a crash). */
export function readRecords(file: string, router?: string): { records: ReplayRecord[]; skipped: ReplayReport['skipped'] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FixtureError(`cannot read the replay file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file });
  }
  const records: ReplayRecord[] = [];
  const skipped: ReplayReport['skipped'] = { count: 0 };
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let r: ReplayRecord | undefined;
    try {
      r = JSON.parse(line) as ReplayRecord;
    } catch {
      r = undefined;
    }
    if (!r || typeof r !== 'object' || typeof r.router !== 'string' || !r.request || typeof r.request.path !== 'string') {
      skipped.count++;
      skipped.firstLine ??= i + 1;
      return;
    }
    if (router === undefined || r.router === router) records.push(r);
  });
  return { records, skipped };
}

/** Decision text per record for one plugin file, on a host of its own. */
async function decide(pluginFile: string, records: ReplayRecord[], config: unknown): Promise<string[]> {
  await using host = await hostFor(pluginFile);
  const info = host.plugins[0]!;
  if (info.status !== 'ready') throw info.error ?? new Error(`${pluginFile} did not load (${info.status})`);
  if (!info.exports.some((e) => e.name === 'onRequest')) {
    throw new FixtureError(`the plugin exports no onRequest (it exports: ${info.exports.map((e) => e.name).join(', ') || 'nothing'}); replay runs a middleware's onRequest`, { plugin: info.name, file: pluginFile });
  }
  const effective = effectiveConfig(config, info);
  if (effective instanceof ConfigMismatch) throw new FixtureError(`--config does not fit the plugin's meta.configSchema: ${effective.message}`, { plugin: info.name, file: pluginFile });
  const onRequest = host.get<Record<string, (...a: unknown[]) => unknown>>(info.name).onRequest!;
  const out: string[] = [];
  for (const r of records) {
    const c: FixtureCase = { name: r.request.path, kind: 'request', exportName: 'onRequest', input: { ...r.request }, args: [], config, expect: null, expectError: undefined, line: 0 };
    try {
      out.push(JSON.stringify(checkedResult(c, await onRequest(...argsOf(c, info, effective, r.router)))));
    } catch (e) {
      out.push(e instanceof TerrariumError ? e.code : 'error');
    }
  }
  return out;
}

function counts(list: string[]): DecisionCount[] {
  const m = new Map<string, number>();
  for (const d of list) m.set(d, (m.get(d) ?? 0) + 1);
  return [...m].map(([decision, count]) => ({ decision, count })).sort((a, b) => b.count - a.count || a.decision.localeCompare(b.decision));
}

export async function replay(file: string, pluginFile: string, opts: ReplayOptions): Promise<ReplayReport> {
  const { records, skipped } = readRecords(file, opts.router);
  const mine = await decide(pluginFile, records, opts.config);
  const report: ReplayReport = { file, requests: records.length, skipped, plugin: { file: pluginFile, decisions: counts(mine) } };
  if (opts.against === undefined) return report;
  const theirs = await decide(opts.against, records, opts.config);
  const diffs = new Map<string, ReplayDiff>();
  let same = 0;
  records.forEach((r, i) => {
    const [a, b] = [mine[i]!, theirs[i]!];
    if (a === b) {
      same++;
      return;
    }
    const key = `${a}\u0000${b}`;
    const d = diffs.get(key);
    if (d) d.count++;
    else diffs.set(key, { from: a, to: b, count: 1, example: `${r.router} ${r.request.method} ${r.request.path}` });
  });
  report.against = { file: opts.against, decisions: counts(theirs), same, differ: records.length - same, diffs: [...diffs.values()].sort((x, y) => y.count - x.count) };
  return report;
}

export function replayText(r: ReplayReport): string {
  const lines = [`${r.requests} recorded requests from ${r.file}${r.skipped.count ? ` (${r.skipped.count} malformed lines skipped, the first at ${r.file}:${r.skipped.firstLine})` : ''}`];
  const list = (title: string, ds: DecisionCount[]) => {
    lines.push(title);
    for (const d of ds) lines.push(`  ${String(d.count).padStart(6)}  ${d.decision}`);
  };
  list(`decisions of ${r.plugin.file}:`, r.plugin.decisions);
  if (r.against) {
    list(`decisions of ${r.against.file}:`, r.against.decisions);
    lines.push(`${r.against.differ} of ${r.requests} decisions differ (${r.against.same} the same)`);
    for (const d of r.against.diffs) lines.push(`  ${String(d.count).padStart(6)}  ${d.from}  ->  ${d.to}   e.g. ${d.example}`);
  }
  return `${lines.join('\n')}\n`;
}
