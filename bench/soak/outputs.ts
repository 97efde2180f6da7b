/**
 * The soak's files: <out>/soak.md (the summary), <out>/soak-rss.svg (RSS over time),
 * <out>/soak-latency.svg (p50/p99 per window) and <out>/soak.json (the raw series), every time
 * relative to the start of the load.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Attack } from './plugins.js';
import type { Recorder } from './recorder.js';
import { markdown, rssRows } from './report.js';
import { latencySvg, rssSvg } from './svg.js';

export interface OutputInput {
  out: string;
  command: string;
  started: string;
  /** Soak-clock times of the start and end of the load. */
  loadStartedAt: number;
  loadStoppedAt: number;
  interrupted: boolean;
  machine: string;
  loadavg: { start: number[]; end: number[] };
  options: Record<string, unknown>;
  title: string;
  attacks: readonly Attack[];
  recorder: Recorder;
  gatewayExit: string;
  logLevels: Record<string, number>;
  pluginCounters: string[];
}

const round = (x: number, digits = 0) => Number(x.toFixed(digits));

/** Write the three files; returns the Markdown. */
export async function writeOutputs(o: OutputInput): Promise<string> {
  const rec = o.recorder;
  const t0 = o.loadStartedAt;
  const recorded = rec.summary();
  const summary = { ...recorded, windows: recorded.windows.map((w) => ({ ...w, t: w.t - t0, p50: round(w.p50, 1), p99: round(w.p99, 1) })) };
  const series = [...rec.rss.values()].map((s) => ({ ...s, samples: s.samples.map(([t, b]) => [round(t - t0), b] as [number, number]) }));
  const events = rec.events.map((e) => ({ t: round(e.t - t0), what: e.what }));
  const ran = o.loadStoppedAt - t0;
  const files = { svg: 'soak-rss.svg', latencySvg: 'soak-latency.svg', json: 'soak.json' };
  const report = markdown({
    command: o.command,
    started: o.started,
    durationMs: ran,
    interrupted: o.interrupted,
    machine: o.machine,
    loadavg: o.loadavg,
    options: o.options,
    attacks: o.attacks,
    summary,
    rss: rssRows(series, 0.1),
    events,
    gatewayExit: o.gatewayExit,
    logLevels: o.logLevels,
    pluginCounters: o.pluginCounters,
    lastKvDown: rec.lastKvDown === undefined ? undefined : rec.lastKvDown - t0,
    files,
  });
  await mkdir(o.out, { recursive: true });
  await writeFile(path.join(o.out, 'soak.md'), report);
  const marks = events.filter((e) => /SIGKILL|restarted/.test(e.what));
  await writeFile(path.join(o.out, files.svg), rssSvg(series, marks, ran, o.title));
  await writeFile(path.join(o.out, files.latencySvg), latencySvg(summary.windows, marks, ran, `Latency of the well-behaved routes per ${summary.windows.length > 1 ? `${Math.round((summary.windows[1]!.t - summary.windows[0]!.t) / 1000)} s ` : ''}window, from the due time`));
  const failures = rec.failures.map((f) => ({
    ...f,
    due: round(f.due - t0, 1),
    sent: round(f.sent - t0, 1),
    done: round(f.done - t0, 1),
    ...(f.socketSince !== undefined ? { socketSince: round(f.socketSince - t0, 1) } : {}),
  }));
  const json = { started: o.started, command: o.command, options: o.options, durationMs: round(ran), interrupted: o.interrupted, summary, events, rss: series, failures, pluginCounters: o.pluginCounters, gatewayExit: o.gatewayExit };
  await writeFile(path.join(o.out, files.json), `${JSON.stringify(json)}\n`);
  return report;
}
