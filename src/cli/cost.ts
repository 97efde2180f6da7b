/**
 * `terrarium cost <plugin> [--fixtures f] [--json] [--max-us N] [--max-units N] [--max-memory BYTES]`: what a
 * plugin costs per call, measured on the host production uses (createHost, its limits). The
 * calls are the fixture cases (the plugin's `<name>.test.json` by default) or, without fixtures,
 * the argument lists of `meta.tests`. Per export: median and p99 µs per call over the measured
 * runs (after a warm-up), the memory high-water seen, and the plugin's load time (createHost:
 * load, self-tests and the standby build). A call that breaks a limit (a loop meets
 * ERR_PLUGIN_TIMEOUT) is reported for its export and stops that export's runs: never a hang.
 *
 * Work units, where the engine counts them (EngineInstance.workUnits: QuickJS ticks, Lua VM
 * instructions), are reported the same way: median and p99 per call. Unlike µs they do not
 * depend on the machine or its load, so `--max-units` is the budget that holds in a busy CI.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { TerrariumError } from '../errors.js';
import { argsOf, effectiveConfig, ConfigMismatch, fixtureFilesFor, readFixtureFile, type FixtureCase } from './fixtures.js';
import { hostFor } from './sandbox.js';
import type { PluginInfo } from '../host/plugin.js';
import type { Limits } from '../types.js';

export interface ExportCost {
  export: string;
  calls: number;
  medianUs: number;
  p99Us: number;
  /** Work units per call (see the header); absent where the engine counts none. */
  medianUnits?: number;
  p99Units?: number;
  /** The first limit or error a call met (e.g. ERR_PLUGIN_TIMEOUT); the export's runs stopped there. */
  error?: { code: string; message: string };
}

export interface CostReport {
  plugin: string;
  file: string;
  engine: string;
  loadMs: number;
  /** The most memory the instance held at any sample (QuickJS: its WebAssembly memory, which never shrinks). */
  memoryHighWaterBytes: number;
  exports: ExportCost[];
  /** Why the report fails its budget (--max-us, --max-memory) or a call failed; empty: within budget. */
  over: string[];
}

export interface CostOptions {
  fixtures?: string[];
  iterations: number;
  warmup: number;
  maxUs?: number;
  maxUnits?: number;
  maxMemory?: number;
  limits?: Partial<Limits>;
}

/** A call to measure: the export and how to build its arguments for the loaded plugin. */
interface Sample {
  exportName: string;
  args: (info: PluginInfo) => unknown[];
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const round = (n: number) => Math.round(n * 10) / 10;

function samplesFrom(cases: FixtureCase[]): Sample[] {
  return cases
    .filter((c) => c.expectError === undefined)
    .map((c) => ({
      exportName: c.exportName,
      args: (info) => {
        const config = effectiveConfig(c.config, info);
        return argsOf(c, info, config instanceof ConfigMismatch ? c.config : config);
      },
    }));
}

function samplesFromMeta(info: PluginInfo): Sample[] {
  const tests = (info.meta?.tests ?? {}) as Record<string, Array<{ args?: unknown[] }>>;
  const out: Sample[] = [];
  for (const [exportName, list] of Object.entries(tests)) {
    if (!Array.isArray(list)) continue;
    for (const t of list) out.push({ exportName, args: () => t.args ?? [] });
  }
  return out;
}

export async function measureCost(file: string, opts: CostOptions): Promise<CostReport> {
  const fixtureFiles = opts.fixtures ?? fixtureFilesFor(file);
  // Shape errors surface before anything loads (ERR_FIXTURE, exit 2 in the CLI).
  const first = fixtureFiles.map((f) => readFixtureFile(f, undefined));
  const name = path.basename(file, path.extname(file));
  const config = first[0]?.config;
  const started = performance.now();
  await using host = await hostFor(file, { ...(opts.limits ? { limits: opts.limits } : {}), ...(config === undefined ? {} : { config: { [name]: config } }) });
  const loadMs = performance.now() - started;
  const info = host.plugins[0]!;
  if (info.status !== 'ready') throw info.error ?? new Error(`${file} did not load (${info.status})`);
  const names = info.exports.map((e) => e.name);
  const samples = fixtureFiles.length ? fixtureFiles.flatMap((f) => samplesFrom(readFixtureFile(f, names).cases)) : samplesFromMeta(info);
  const proxy = host.get<Record<string, (...a: unknown[]) => unknown>>(info.name);
  let memory = host.plugins[0]!.memoryBytes;
  const exports: ExportCost[] = [];
  for (const exportName of [...new Set(samples.map((s) => s.exportName))]) {
    const mine = samples.filter((s) => s.exportName === exportName);
    const argLists = mine.map((s) => s.args(info));
    const times: number[] = [];
    const units: number[] = [];
    // A running total, read between calls (outside the timed part): a call's units are the difference.
    let before = host.plugins[0]?.workUnits;
    let error: ExportCost['error'];
    const fn = proxy[exportName]!;
    try {
      for (let i = 0; i < opts.warmup + opts.iterations; i++) {
        const args = argLists[i % argLists.length]!;
        const t0 = performance.now();
        await fn(...args);
        const us = (performance.now() - t0) * 1000;
        const after = host.plugins[0]?.workUnits;
        if (i >= opts.warmup) {
          times.push(us);
          if (before !== undefined && after !== undefined) units.push(after - before);
        }
        before = after;
      }
    } catch (e) {
      error = { code: e instanceof TerrariumError ? e.code : 'error', message: (e as Error).message };
    }
    memory = Math.max(memory, host.plugins[0]?.memoryBytes ?? 0);
    times.sort((a, b) => a - b);
    units.sort((a, b) => a - b);
    const counted = units.length > 0 && units.length === times.length ? { medianUnits: quantile(units, 0.5), p99Units: quantile(units, 0.99) } : {};
    exports.push({ export: exportName, calls: times.length, medianUs: round(quantile(times, 0.5)), p99Us: round(quantile(times, 0.99)), ...counted, ...(error ? { error } : {}) });
  }
  const over: string[] = [];
  for (const e of exports) {
    if (e.error) over.push(`${e.export}: ${e.error.message}`);
    else if (opts.maxUs !== undefined && e.medianUs > opts.maxUs) over.push(`${e.export}: median ${e.medianUs} µs per call is over --max-us ${opts.maxUs}`);
    if (opts.maxUnits === undefined || e.error) continue;
    if (e.medianUnits === undefined) over.push(`${e.export}: the ${info.engine} engine counts no work units, so --max-units ${opts.maxUnits} cannot be checked`);
    else if (e.medianUnits > opts.maxUnits) over.push(`${e.export}: median ${e.medianUnits} work units per call is over --max-units ${opts.maxUnits}`);
  }
  if (opts.maxMemory !== undefined && memory > opts.maxMemory) over.push(`memory high-water ${memory} bytes is over --max-memory ${opts.maxMemory}`);
  if (exports.length === 0) over.push(`nothing to measure: give --fixtures, a ${name}.test.json next to the plugin, or meta.tests`);
  return { plugin: info.name, file, engine: info.engine, loadMs: round(loadMs), memoryHighWaterBytes: memory, exports, over };
}

/** The report as a table for the terminal. */
export function costTable(r: CostReport): string {
  const units = (n: number | undefined, e: ExportCost) => (e.error || n === undefined ? '-' : String(n));
  const rows = r.exports.map((e) => [e.export, String(e.calls), e.error ? '-' : e.medianUs.toFixed(1), e.error ? '-' : e.p99Us.toFixed(1), units(e.medianUnits, e), units(e.p99Units, e), e.error ? e.error.code : '']);
  const head = ['EXPORT', 'CALLS', 'MEDIAN µs', 'P99 µs', 'MEDIAN UNITS', 'P99 UNITS', 'ERROR'];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(width[i]!)).join('  ').trimEnd();
  const out = [`${r.plugin} (${r.engine}, ${r.file}): load ${r.loadMs} ms, memory high-water ${r.memoryHighWaterBytes} bytes`, line(head), ...rows.map(line)];
  for (const o of r.over) out.push(`OVER  ${o}`);
  return `${out.join('\n')}\n`;
}
