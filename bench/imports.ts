/**
 * Import time and export count of each package entry (the root is the host alone; the gateway,
 * errors and engine interface are subpaths). Each import runs in a fresh Node process; the
 * baseline is a fresh process importing nothing, measured in the same run.
 *
 * Run:  npm run build && node --import tsx bench/imports.ts   (about 30 s; writes bench/results/imports.md)
 * Knobs (environment): BENCH_IMPORT_RUNS (15).
 */
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BENCH_DIR, REPO_DIR, fmt, machine, median, table } from './lib.js';

const RUNS = Number(process.env.BENCH_IMPORT_RUNS ?? 15);
const ENTRIES = ['', 'terrarium-plugins', 'terrarium-plugins/errors', 'terrarium-plugins/engine', 'terrarium-plugins/gateway'];

/** One fresh process: ms spent in the dynamic import, and the number of exports. */
function once(spec: string): { ms: number; exports: number } {
  const code = spec
    ? `const t=performance.now();const m=await import(${JSON.stringify(spec)});console.log(JSON.stringify({ms:performance.now()-t,exports:Object.keys(m).length}))`
    : `const t=performance.now();console.log(JSON.stringify({ms:performance.now()-t,exports:0}))`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: REPO_DIR, encoding: 'utf8' });
  return JSON.parse(out) as { ms: number; exports: number };
}

const rows: string[][] = [];
for (const spec of ENTRIES) {
  once(spec); // warm the file cache
  const runs = Array.from({ length: RUNS }, () => once(spec));
  const ms = median(runs.map((r) => r.ms));
  const wall = (() => {
    const t = process.hrtime.bigint();
    once(spec);
    return Number(process.hrtime.bigint() - t) / 1e6;
  })();
  rows.push([spec || '(nothing: baseline)', fmt(ms, 3), String(runs[0]!.exports), fmt(wall, 3)]);
  console.log(`${spec || 'baseline'}: ${fmt(ms, 3)} ms, ${runs[0]!.exports} exports`);
}

const m = machine();
let commit = '';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_DIR, encoding: 'utf8' }).trim();
} catch {
  /* not a git checkout */
}
const md = `## Import time of each entry (bench/imports.ts)

${new Date().toISOString().slice(0, 10)}, ${m.cpu}, ${m.cores} cores, Node ${m.node}, commit ${commit}. Median of ${RUNS} fresh processes;
"import ms" is the time of the dynamic import alone, "process ms" one whole process for scale.

${table(['entry', 'import ms (median)', 'exports', 'process ms (one run)'], rows)}
`;
await writeFile(path.join(BENCH_DIR, 'results', 'imports.md'), md);
console.log(md);
