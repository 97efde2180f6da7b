/**
 * The soak's charts, written by hand (no dependency): one polyline per series, time in minutes on
 * x, the injected events as dashed vertical lines, a legend under the plot. RSS per process (MiB)
 * and latency per window (p50, p99 in ms).
 */
import type { RssSeries, SoakEvent, WindowStats } from './recorder.js';

export interface Line {
  label: string;
  /** [ms since the load started, value in the chart's unit] */
  points: [number, number][];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#17becf', '#bcbd22'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A round step for about `n` ticks over `span`. */
function step(span: number, n: number): number {
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

export function rssSvg(series: readonly RssSeries[], events: readonly SoakEvent[], durationMs: number, title: string): string {
  const lines = series.map((s) => ({ label: `${s.label} ${s.pid}`, points: s.samples.map(([t, b]) => [t, b / 2 ** 20] as [number, number]) }));
  return lineChart(lines, events, durationMs, title, 'RSS (MiB)');
}

export function latencySvg(windows: readonly WindowStats[], events: readonly SoakEvent[], durationMs: number, title: string): string {
  const at = (w: WindowStats, v: number) => [w.t, v] as [number, number];
  const ok = windows.filter((w) => Number.isFinite(w.p99));
  return lineChart(
    [
      { label: 'p50', points: ok.map((w) => at(w, w.p50)) },
      { label: 'p99', points: ok.map((w) => at(w, w.p99)) },
    ],
    events,
    durationMs,
    title,
    'latency (ms)',
  );
}

export function lineChart(series: readonly Line[], events: readonly SoakEvent[], durationMs: number, title: string, yLabel: string): string {
  const W = 900;
  const H = 420;
  const L = 60;
  const R = 20;
  const T = 36;
  const plotH = 280;
  const plotW = W - L - R;
  const maxValue = Math.max(1, ...series.flatMap((s) => s.points.map(([, v]) => v)));
  const yMax = Math.ceil(maxValue * 1.1);
  const xMaxMin = Math.max(durationMs, 1) / 60_000;
  const x = (t: number) => L + (t / 60_000 / xMaxMin) * plotW;
  const y = (v: number) => T + plotH - (v / yMax) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`);
  const yStep = step(yMax, 6);
  for (let v = 0; v <= yMax; v += yStep) {
    const py = y(v).toFixed(1);
    out.push(`<line x1="${L}" x2="${W - R}" y1="${py}" y2="${py}" stroke="#eee"/>`);
    out.push(`<text x="${L - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${v}</text>`);
  }
  const xStep = step(xMaxMin, 10);
  for (let v = 0; v <= xMaxMin + 1e-9; v += xStep) {
    const px = x(v * 60_000).toFixed(1);
    out.push(`<line x1="${px}" x2="${px}" y1="${T}" y2="${T + plotH}" stroke="#f4f4f4"/>`);
    out.push(`<text x="${px}" y="${T + plotH + 14}" text-anchor="middle">${Number(v.toFixed(2))}</text>`);
  }
  out.push(`<text x="${L + plotW / 2}" y="${T + plotH + 30}" text-anchor="middle">minutes</text>`);
  out.push(`<text x="14" y="${T + plotH / 2}" text-anchor="middle" transform="rotate(-90 14 ${T + plotH / 2})">${esc(yLabel)}</text>`);
  out.push(`<rect x="${L}" y="${T}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  for (const e of events) {
    const px = x(e.t).toFixed(1);
    out.push(`<line x1="${px}" x2="${px}" y1="${T}" y2="${T + plotH}" stroke="#888" stroke-dasharray="4 3"><title>${esc(e.what)}</title></line>`);
  }
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${pts}"><title>${esc(s.label)}</title></polyline>`);
  });
  // Legend: processes, then the events in order.
  let ly = T + plotH + 48;
  let lx = L;
  series.forEach((s, i) => {
    const label = s.label;
    const w = 24 + label.length * 6.2;
    if (lx + w > W - R) {
      lx = L;
      ly += 16;
    }
    out.push(`<line x1="${lx}" x2="${lx + 16}" y1="${ly}" y2="${ly}" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/>`);
    out.push(`<text x="${lx + 20}" y="${ly}" dominant-baseline="middle">${esc(label)}</text>`);
    lx += w + 10;
  });
  ly += 18;
  const ev = events.map((e) => `${(e.t / 60_000).toFixed(2)} min: ${e.what}`).join('; ');
  if (ev) out.push(`<text x="${L}" y="${ly}" fill="#555">dashed: ${esc(ev.length > 150 ? `${ev.slice(0, 147)}...` : ev)}</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
