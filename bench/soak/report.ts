/** The soak's Markdown summary (bench/results/soak.md) from the recorder's summary and RSS series. */
import { KILLED, type RssSeries, type SoakEvent, type Summary } from './recorder.js';
import type { Attack } from './plugins.js';

const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(x < 10 ? 1 : 0) : '-');

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** Least-squares slope of RSS over the samples from `fromT` on, in bytes per minute. */
function slope(samples: readonly [number, number][], fromT: number): number {
  const pts = samples.filter(([t]) => t >= fromT);
  if (pts.length < 3) return NaN;
  const n = pts.length;
  const mx = pts.reduce((s, [t]) => s + t, 0) / n;
  const my = pts.reduce((s, [, b]) => s + b, 0) / n;
  let num = 0;
  let den = 0;
  for (const [t, b] of pts) {
    num += (t - mx) * (b - my);
    den += (t - mx) ** 2;
  }
  return den === 0 ? NaN : (num / den) * 60_000;
}

export interface RssRow {
  label: string;
  pid: number;
  start: number;
  warm: number;
  end: number;
  max: number;
  /** Bytes per minute over the second half of its life. */
  slopeSecondHalf: number;
  from: number;
  to: number;
}

export function rssRows(series: readonly RssSeries[], warmFraction: number): RssRow[] {
  return series
    .filter((s) => s.samples.length > 0)
    .map((s) => {
      const first = s.samples[0]!;
      const last = s.samples.at(-1)!;
      const span = last[0] - first[0];
      const warmT = first[0] + span * warmFraction;
      const warm = s.samples.find(([t]) => t >= warmT) ?? last;
      return {
        label: s.label,
        pid: s.pid,
        start: first[1],
        warm: warm[1],
        end: last[1],
        max: Math.max(...s.samples.map(([, b]) => b)),
        slopeSecondHalf: slope(s.samples, first[0] + span / 2),
        from: first[0],
        to: last[0],
      };
    });
}

export interface ReportInput {
  command: string;
  started: string;
  durationMs: number;
  interrupted: boolean;
  machine: string;
  loadavg: { start: number[]; end: number[] };
  options: Record<string, unknown>;
  attacks: readonly Attack[];
  summary: Summary;
  rss: RssRow[];
  events: readonly SoakEvent[];
  gatewayExit: string;
  logLevels: Record<string, number>;
  pluginCounters: string[];
  /** When the last response served without kv came back, relative to the load start. */
  lastKvDown: number | undefined;
  files: { svg: string; latencySvg: string; json: string };
}

export function markdown(r: ReportInput): string {
  const s = r.summary;
  const normal = s.requests - Object.entries(s.causes).filter(([c]) => c.startsWith('hostile:')).reduce((n, [, v]) => n + v, 0);
  const out: string[] = [];
  out.push(`## Soak: ${(r.durationMs / 60_000).toFixed(1)} minutes${r.interrupted ? ' (INTERRUPTED: partial)' : ''}`);
  out.push('');
  out.push(`\`${r.command}\`, started ${r.started}. ${r.machine}. Load average (1, 5, 15 min) at start ${r.loadavg.start.map((x) => x.toFixed(2)).join(', ')}, at end ${r.loadavg.end.map((x) => x.toFixed(2)).join(', ')}.`);
  out.push('');
  out.push(`Options: ${Object.entries(r.options).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`).join(', ')}.`);
  out.push('');
  const expected = new Map(r.attacks.map((a) => [a.key, new Set([`502 ${a.expect}`, '502 ERR_PLUGIN_UNAVAILABLE', KILLED])]));
  let unstopped = 0;
  for (const [key, answers] of Object.entries(s.hostile)) for (const [answer, n] of Object.entries(answers)) if (!expected.get(key)?.has(answer)) unstopped += n;
  out.push(`**Unexpected failures: ${s.unexpected}** (target 0: every failure is a hostile route's own or in flight on the killed worker). **Hostile requests not answered by their limit: ${unstopped}** (target 0: a hang shows as client-timeout). Gateway exit: ${r.gatewayExit}.`);
  out.push('');
  out.push('### Requests');
  out.push('');
  const rows: string[][] = [
    ['requests to the well-behaved routes (/js, /lua)', String(normal)],
    ['served (200)', String(s.served)],
    ...Object.entries(s.kvDown).map(([route, n]) => [`  of which served while the kv store was down (x-soak-kv: down), /${route}`, String(n)]),
    ...Object.entries(s.causes)
      .filter(([c]) => !c.startsWith('hostile:'))
      .map(([c, n]) => [`failed: ${c}`, String(n)]),
    ['requests to the hostile routes', String(s.requests - normal)],
  ];
  out.push(table(['', 'count'], rows));
  out.push('');
  if (r.lastKvDown !== undefined) {
    out.push(`The last response served without kv (x-soak-kv: down) came back at ${(r.lastKvDown / 1000).toFixed(1)} s: every later one carried its counter.`);
    out.push('');
  }
  out.push(`Latency of the well-behaved routes, from the time each request was due (open loop): p50 ${ms(s.latencyMs.p50)} ms, p99 ${ms(s.latencyMs.p99)} ms, max ${ms(s.latencyMs.max)} ms. Hostile requests: p50 ${ms(s.hostileLatencyMs.p50)} ms, max ${ms(s.hostileLatencyMs.max)} ms.`);
  out.push('');
  out.push(`![Latency per window](${r.files.latencySvg})`);
  out.push('');
  out.push('### Hostile routes (one limit class each, in turn)');
  out.push('');
  out.push(
    table(
      ['route', 'attack', 'expected', 'answers'],
      r.attacks.map((a) => [
        `/hostile/${a.key}`,
        a.label,
        `502 ${a.expect}`,
        Object.entries(s.hostile[a.key] ?? {})
          .map(([k, n]) => `${k}: ${n}`)
          .join('; ') || '-',
      ]),
    ),
  );
  out.push('');
  out.push(`ERR_PLUGIN_UNAVAILABLE is the quarantine (3 violations within 60 s in one process), still the plugin failing, as it should; "${KILLED}" is a hostile request that died with the worker the soak killed.`);
  out.push('');
  out.push('### Hot reload (a new generation of each plugin every reload period)');
  out.push('');
  out.push(
    table(
      ['plugin', 'generations written', 'seen served', 'write to the first request sent that it served, p50', 'max'],
      Object.entries(s.reload).map(([e, x]) => [`soak-${e}`, String(x.written), String(x.seen), `${ms(x.lagP50)} ms`, `${ms(x.lagMax)} ms`]),
    ),
  );
  out.push('');
  out.push('### RSS per process');
  out.push('');
  out.push(
    table(
      ['process', 'pid', 'lived (min)', 'start MiB', 'after warm-up (10%) MiB', 'end MiB', 'max MiB', 'end - after warm-up (MiB)', 'slope over its 2nd half (MiB/min)'],
      r.rss.map((x) => [
        x.label,
        String(x.pid),
        `${(x.from / 60_000).toFixed(1)} to ${(x.to / 60_000).toFixed(1)}`,
        mib(x.start),
        mib(x.warm),
        mib(x.end),
        mib(x.max),
        mib(x.end - x.warm),
        Number.isFinite(x.slopeSecondHalf) ? (x.slopeSecondHalf / 2 ** 20).toFixed(2) : '-',
      ]),
    ),
  );
  out.push('');
  out.push(`![RSS over time](${r.files.svg}) Raw series (per ${s.windows.length ? 'window' : 'run'} counts and percentiles, RSS samples, events, failures): [${r.files.json}](${r.files.json}).`);
  out.push('');
  out.push('### Events');
  out.push('');
  out.push(r.events.map((e) => `- ${(e.t / 1000).toFixed(1)} s: ${e.what}`).join('\n') || '- none');
  out.push('');
  out.push(`Gateway log lines by level: ${Object.entries(r.logLevels).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}.`);
  if (r.pluginCounters.length) {
    out.push('');
    out.push('Plugin counters at the end (/metrics, summed over the live workers; a killed worker takes its counts with it):');
    out.push('');
    out.push('```');
    out.push(...r.pluginCounters);
    out.push('```');
  }
  return `${out.join('\n')}\n`;
}
