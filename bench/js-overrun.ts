/**
 * Scenario: how far past `callTimeoutMs` a QuickJS plugin can keep the host with loops of
 * operations written as syntax (spread, destructuring, string comparison, ...), where each
 * iteration is one long C loop inside QuickJS, built-ins that each run one long C loop (indexOf,
 * sort, regex, JSON, a 4 MiB capability argument), and code built at run time with eval and Function. 500 ms call limit, 64 MiB. Each attack runs RUNS
 * times on a fresh instance (the host recreates it after each timeout); the figure is the worst
 * elapsed time from the call to its error, minus the limit. The empty loop is the baseline of the
 * same run. Also prints what one single operation of each kind costs (not interruptible), so the
 * overrun can be read as "how many operations past the deadline".
 *
 * Run alone:  npm run build && node --import tsx bench/js-overrun.ts [runs=3]
 * (prints the load average: other work on the machine stretches every figure)
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_LIMITS, createHost } from 'terrarium-plugins';
import { loadQuickJS } from '../dist/engines/quickjs/index.js';

const LIMIT_MS = 500;
const RUNS = Number(process.argv[2] ?? 3);
const ARR = `const a = new Array(1 << 20).fill(1);`;
const OBJ = `const o = {}; for (let i = 0; i < (1 << 18); i++) o['k' + i] = i;`;
const STR = `const s = 'x'.repeat(1 << 24), t = 'x'.repeat(1 << 24);`;
/** One setup and one loop body each: `f` runs `for (;;) { body }`. */
const attacks: Record<string, [setup: string, body: string]> = {
  'empty loop (baseline)': ['', ''],
  'array spread [...a], 2^20': [ARR, 'const b = [...a];'],
  'call spread Math.max(...a), 2^20': [ARR, 'try { Math.max(...a); } catch (e) {}'],
  'array rest const [x, ...r] = a, 2^20': [ARR, 'const [x, ...r] = a;'],
  'for...of over 2^20 elements': [ARR, 'for (const x of a) {}'],
  'object spread {...o}, 2^18 keys': [OBJ, 'const b = { ...o };'],
  'object rest const {k0, ...r} = o, 2^18 keys': [OBJ, 'const { k0, ...r } = o;'],
  'string === of two 16 MiB strings': [STR, 'if (s === t) {}'],
  'string < of two 16 MiB strings': [STR, 'if (s < t) {}'],
  'string concat (s + t).length, 16 MiB': [STR, 'const n = (s + t).length;'],
  'string as property key q[s] = 1, 16 MiB': [STR, 'const q = {}; q[s] = 1;'],
  'string spread [...s], 2^20': [`const s = 'x'.repeat(1 << 20);`, 'const b = [...s];'],
  'Array.from(a), 2^20': [ARR, 'Array.from(a);'],
  'new Float64Array(a), 2^20': [ARR, 'new Float64Array(a);'],
  'new Set(a), 2^20': [ARR, 'new Set(a);'],
  'regex backtracking /(a+)+b/': [`const s = 'a'.repeat(28);`, '/(a+)+b/.test(s);'],
  'sort with a comparator, 2^16': [`const a = []; for (let i = 0; i < (1 << 16); i++) a.push((i * 7919) % 65521);`, 'a.slice().sort((x, y) => x - y);'],
  'JSON.parse of 8 MiB': [`const j = JSON.stringify('x'.repeat(1 << 23));`, 'JSON.parse(j);'],
  'JSON.stringify of 2^18 objects': [`const a = []; for (let i = 0; i < (1 << 18); i++) a.push({ i });`, 'JSON.stringify(a);'],
  'eval of a 1 MiB source': [`const src = '1;'.repeat(1 << 19);`, 'eval(src);'],
  'eval-built loop of spreads (eval is indirect: a global)': [`${ARR} globalThis.g = a;`, 'eval("for (;;) { const b = [...g]; }");'],
  'Function-built loop of object spreads': [OBJ, 'new Function("o", "for (;;) { const b = { ...o }; }")(o);'],
  'typed array copies new Uint8Array(b), 16 MiB': [`const b = new Uint8Array(1 << 24);`, 'new Uint8Array(b);'],
  // Built-ins that each run one long C loop.
  's.lastIndexOf over 16 MiB': [`const s = 'x'.repeat(1 << 24); let k = 0;`, "k += s.lastIndexOf('y');"],
  'Uint8Array(16 MiB).indexOf': [`const b = new Uint8Array(1 << 24); let k = 0;`, 'k += b.indexOf(1);'],
  'host.echo(4 MiB string)': [`const s = 'x'.repeat(1 << 22);`, 'try { host.echo(s); } catch (e) {}'],
  'sort of 2^19 numbers': [`const a = []; for (let i = 0; i < (1 << 19); i++) a.push((i * 7919) % 1000003);`, 'a.slice().sort();'],
  'regex scan of 16 MiB': [`const s = 'x'.repeat(1 << 24);`, '/y/.test(s);'],
  'Object.keys of a 2^18-key object': [OBJ, 'Object.keys(o);'],
  // A fast stretch that lets the window grow back to 10,000 ticks, then a burst of slow operations.
  'alternating: 20,000 empty iterations, then 1,000 object spreads of 2^14 keys': [
    `const o = {}; for (let i = 0; i < (1 << 14); i++) o['k' + i] = i;`,
    'for (let i = 0; i < 20000; i++) {} for (let j = 0; j < 1000; j++) { const b = { ...o }; }',
  ],
};

const dir = await mkdtemp(path.join(tmpdir(), 'terrarium-js-overrun-'));
const names = Object.keys(attacks);
for (const [i, name] of names.entries()) {
  const [setup, body] = attacks[name]!;
  await writeFile(path.join(dir, `a${i}.js`), `${setup}\nexport function f() { for (;;) { ${body} } }\n`);
}
const host = await createHost({
  dir,
  limits: { memoryBytes: 64 * 1024 * 1024, callTimeoutMs: LIMIT_MS, loadTimeoutMs: 60_000 },
  quarantine: { maxViolations: Infinity },
  capabilities: { echo: (x: unknown) => x },
});
console.log(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log(`| loop (callTimeoutMs ${LIMIT_MS}, memoryBytes 64 MiB) | worst overrun of ${RUNS} runs | error |`);
console.log('| --- | --- | --- |');
let worst = 0;
let worstName = '';
for (const [i, name] of names.entries()) {
  let max = 0;
  let code = '';
  for (let r = 0; r < RUNS; r++) {
    await host.ready();
    const t = performance.now();
    try {
      host.get<{ f(): void }>(`a${i}`).f();
      code = 'returned';
    } catch (e) {
      code = (e as { code?: string }).code ?? String(e);
    }
    max = Math.max(max, performance.now() - t - LIMIT_MS);
  }
  if (max > worst) [worst, worstName] = [max, name];
  console.log(`| ${name} | ${max.toFixed(0)} ms | ${code} |`);
}
console.log(`\nworst overrun: ${worst.toFixed(0)} ms (${worstName}); load average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

// One operation of each kind, timed inside the guest (not interruptible: the floor of any overrun).
await writeFile(
  path.join(dir, '..', `${path.basename(dir)}-single.js`),
  `${ARR} ${OBJ} ${STR}
const time = (f) => { const t = Date.now(); f(); return Date.now() - t; };
export function f() { return { spread: time(() => [...a]), objectSpread: time(() => ({ ...o })), stringEquals: time(() => s === t), key: time(() => { const q = {}; q[s] = 1; }) }; }`,
);
const singleFile = path.join(dir, '..', `${path.basename(dir)}-single.js`);
const single = await createHost({ files: [singleFile], limits: { memoryBytes: 256 * 1024 * 1024, callTimeoutMs: 60_000, loadTimeoutMs: 60_000 } });
console.log('one operation, ms:', JSON.stringify(single.get<{ f(): unknown }>(`${path.basename(dir)}-single`).f()));
await single.close();
// BigInt with the grant (off by default): one multiplication near the size limit, and a loop of
// them under the same 500 ms limit: what granting BigInt costs.
const granted = await loadQuickJS({
  path: path.join(dir, 'bigint.js'),
  file: 'bigint.js',
  defaultName: 'bigint',
  source: `const b = 3n ** 315000n;
export function one() { const t = Date.now(); const c = b * b; return Date.now() - t; }
export function spin() { for (;;) { const c = b * b; } }`,
  limits: { ...DEFAULT_LIMITS, memoryBytes: 64 * 1024 * 1024, callTimeoutMs: LIMIT_MS, loadTimeoutMs: 60_000 },
  capabilities: [],
  data: {},
  config: () => ({}),
  log: () => {},
  grants: { bigint: true },
});
const mulMs = granted.call('one', [], performance.now() + 60_000);
const t0 = performance.now();
let bigCode = '';
try {
  granted.call('spin', []);
} catch (e) {
  bigCode = (e as { code?: string }).code ?? String(e);
}
console.log(`granted BigInt: one multiplication of two 500,000-bit numbers ${String(mulMs)} ms; a loop of them overran ${(performance.now() - t0 - LIMIT_MS).toFixed(0)} ms (${bigCode})`);
granted.dispose();
await host.close();
await rm(singleFile, { force: true });
await rm(dir, { recursive: true, force: true });
