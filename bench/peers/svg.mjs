/**
 * Hand-written SVG charts of bench/peers/RESULTS.md (no chart library): a horizontal bar chart of µs
 * per call on a log axis, and the containment grid (peers x faults, green/amber/red cells).
 */

const FONT = "font-family='-apple-system, Segoe UI, Helvetica, Arial, sans-serif'";

export const COLORS = {
  floor: '#9e9e9e',
  baseline: '#757575',
  'in-process': '#4a7fc1',
  'out-of-process': '#e0892f',
  terrarium: '#2e9d52',
  yes: '#2e9d52',
  partial: '#e3a21a',
  no: '#d0383b',
  skipped: '#bdbdbd',
};

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function num(x) {
  if (!Number.isFinite(x)) return '-';
  if (x >= 100) return Math.round(x).toLocaleString('en-US');
  if (x >= 10) return x.toFixed(1);
  if (x >= 1) return x.toFixed(2);
  return Number(x.toPrecision(2)).toString();
}

/**
 * rows: { label, kind, median, p99 }[] (µs). Bars are medians on a log10 axis, a thin tick marks p99.
 */
export function callsChart(rows, { title, subtitle }) {
  const labelW = Math.max(200, Math.max(...rows.map((r) => r.label.length)) * 6.7 + 20);
  const plotW = 440;
  const valueW = 190;
  const rowH = 24;
  const top = 62;
  const w = labelW + plotW + valueW;
  const h = top + rows.length * rowH + 58;
  const vals = rows.flatMap((r) => [r.median, r.p99]).filter((v) => Number.isFinite(v) && v > 0);
  const lo = Math.max(1e-3, 10 ** Math.floor(Math.log10(Math.min(...vals))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...vals)));
  const x = (v) => labelW + (plotW * (Math.log10(Math.max(v, lo)) - Math.log10(lo))) / (Math.log10(hi) - Math.log10(lo));
  const out = [];
  out.push(`<svg xmlns='http://www.w3.org/2000/svg' width='${w}' height='${h}' viewBox='0 0 ${w} ${h}' ${FONT} font-size='12'>`);
  out.push(`<rect width='${w}' height='${h}' fill='#ffffff'/>`);
  out.push(`<text x='12' y='22' font-size='15' font-weight='bold'>${esc(title)}</text>`);
  out.push(`<text x='12' y='40' fill='#555'>${esc(subtitle)}</text>`);
  for (let e = Math.log10(lo); e <= Math.log10(hi) + 1e-9; e++) {
    const v = 10 ** e;
    const gx = x(v).toFixed(1);
    out.push(`<line x1='${gx}' y1='${top - 6}' x2='${gx}' y2='${top + rows.length * rowH}' stroke='#e3e3e3'/>`);
    out.push(`<text x='${gx}' y='${top + rows.length * rowH + 16}' text-anchor='middle' fill='#555'>${esc(num(v))}</text>`);
  }
  out.push(`<text x='${labelW + plotW / 2}' y='${top + rows.length * rowH + 34}' text-anchor='middle' fill='#333'>µs per call (median; log scale; thin tick = p99)</text>`);
  out.push(`<text x='${labelW + plotW + 14}' y='${top - 10}' fill='#555' font-weight='bold'>median (p99)</text>`);
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    out.push(`<text x='${labelW - 8}' y='${y + 16}' text-anchor='end' fill='#222'${r.kind === 'terrarium' ? " font-weight='bold'" : ''}>${esc(r.label)}</text>`);
    if (!Number.isFinite(r.median)) {
      out.push(`<text x='${labelW + 4}' y='${y + 16}' fill='#888'>${esc(r.note ?? 'skipped')}</text>`);
      return;
    }
    const bx = x(r.median);
    out.push(`<rect x='${labelW}' y='${y + 4}' width='${Math.max(1, bx - labelW).toFixed(1)}' height='${rowH - 8}' fill='${COLORS[r.kind] ?? '#4a7fc1'}'/>`);
    if (Number.isFinite(r.p99)) {
      const px = x(r.p99).toFixed(1);
      out.push(`<line x1='${px}' y1='${y + 2}' x2='${px}' y2='${y + rowH - 2}' stroke='#333' stroke-width='1.5'/>`);
    }
    out.push(`<text x='${labelW + plotW + 14}' y='${y + 16}' fill='#222'>${esc(num(r.median))} µs${Number.isFinite(r.p99) ? `<tspan dx='6' fill='#777'>(p99 ${esc(num(r.p99))})</tspan>` : ''}</text>`);
  });
  const legend = [
    ['floor / baseline', COLORS.baseline],
    ['in-process sandbox', COLORS['in-process']],
    ['out-of-process', COLORS['out-of-process']],
    ['Terrarium', COLORS.terrarium],
  ];
  let lx = 12;
  const ly = h - 14;
  for (const [name, color] of legend) {
    out.push(`<rect x='${lx}' y='${ly - 10}' width='12' height='12' fill='${color}'/>`);
    out.push(`<text x='${lx + 17}' y='${ly}' fill='#333'>${esc(name)}</text>`);
    lx += 30 + name.length * 7;
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/**
 * peers: { label, kind }[]; faults: { label }[]; cells[p][f]: { verdict: 'yes'|'partial'|'no'|'skipped', text }.
 */
export function containmentChart(peers, faults, cells, { title, subtitle }) {
  const labelW = Math.max(200, Math.max(...peers.map((p) => p.label.length)) * 6.4 + 20);
  const cellW = 124;
  const rowH = 26;
  const top = 78;
  const w = Math.max(labelW + faults.length * cellW + 16, 860);
  const h = top + peers.length * rowH + 44;
  const out = [];
  out.push(`<svg xmlns='http://www.w3.org/2000/svg' width='${w}' height='${h}' viewBox='0 0 ${w} ${h}' ${FONT} font-size='11.5'>`);
  out.push(`<rect width='${w}' height='${h}' fill='#ffffff'/>`);
  out.push(`<text x='12' y='22' font-size='15' font-weight='bold'>${esc(title)}</text>`);
  out.push(`<text x='12' y='40' fill='#555'>${esc(subtitle)}</text>`);
  faults.forEach((f, j) => {
    out.push(`<text x='${labelW + j * cellW + cellW / 2}' y='${top - 10}' text-anchor='middle' font-weight='bold' fill='#222'>${esc(f.label)}</text>`);
  });
  peers.forEach((p, i) => {
    const y = top + i * rowH;
    out.push(`<text x='${labelW - 8}' y='${y + 17}' text-anchor='end' fill='#222'${p.kind === 'terrarium' ? " font-weight='bold'" : ''}>${esc(p.label)}</text>`);
    faults.forEach((_, j) => {
      const c = cells[i][j];
      const cx = labelW + j * cellW;
      out.push(`<rect x='${cx + 1}' y='${y + 1}' width='${cellW - 2}' height='${rowH - 2}' rx='3' fill='${COLORS[c.verdict] ?? COLORS.skipped}'/>`);
      out.push(`<text x='${cx + cellW / 2}' y='${y + 17}' text-anchor='middle' fill='${c.verdict === 'skipped' ? '#333' : '#ffffff'}'>${esc(c.text)}</text>`);
    });
  });
  const legend = [
    ['contained (host fine, memory bounded)', COLORS.yes],
    ['host survived, memory not bounded', COLORS.partial],
    ['host hung, crashed or killed', COLORS.no],
    ['skipped', COLORS.skipped],
  ];
  let lx = 12;
  const ly = h - 14;
  for (const [name, color] of legend) {
    out.push(`<rect x='${lx}' y='${ly - 10}' width='12' height='12' fill='${color}'/>`);
    out.push(`<text x='${lx + 17}' y='${ly}' fill='#333'>${esc(name)}</text>`);
    lx += 34 + name.length * 6.2;
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
