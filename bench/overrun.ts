/**
 * Scenario: how far past `callTimeoutMs` a QuickJS plugin can keep the host, for the loops the
 * interrupt handler reaches least often (each iteration is one long built-in), at the default
 * 64 MiB memory cap and a 500 ms call limit. Each attack runs RUNS times; the figure is the worst
 * elapsed time from the call to its ERR_PLUGIN_TIMEOUT, minus the limit.
 *
 * Run alone:  npm run build && node --import tsx bench/overrun.ts
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_LIMITS, createHost } from 'terrarium-plugins';
import { loadQuickJS } from '../dist/engines/quickjs/index.js';

const LIMIT_MS = 500;
const RUNS = Number(process.argv[2] ?? 3);
const attacks: Record<string, string> = {
  'empty loop (baseline)': `export function f() { for (;;) {} }`,
  's.lastIndexOf over 16 MiB, in a loop': `const s = 'x'.repeat(1 << 24); export function f() { let k = 0; for (;;) k += s.lastIndexOf('y'); }`,
  'Uint8Array(16 MiB).indexOf, in a loop': `const b = new Uint8Array(1 << 24); export function f() { let k = 0; for (;;) k += b.indexOf(1); }`,
  'host.echo(4 MiB string), in a loop': `const s = 'x'.repeat(1 << 22); export function f() { for (;;) { try { host.echo(s); } catch (e) {} } }`,
  'sort of 2^19 numbers, in a loop': `const a = []; for (let i = 0; i < (1 << 19); i++) a.push((i * 7919) % 1000003); export function f() { for (;;) a.slice().sort(); }`,
  'JSON.stringify of 2^18 objects, in a loop': `const a = []; for (let i = 0; i < (1 << 18); i++) a.push({ i }); export function f() { for (;;) JSON.stringify(a); }`,
  'regex scan of 16 MiB, in a loop': `const s = 'x'.repeat(1 << 24); export function f() { for (;;) /y/.test(s); }`,
  'Object.keys of a 2^18-key object, in a loop': `const o = {}; for (let i = 0; i < (1 << 18); i++) o['k' + i] = i; export function f() { for (;;) Object.keys(o); }`,
};

const dir = await mkdtemp(path.join(tmpdir(), 'terrarium-overrun-'));
const names = Object.keys(attacks);
for (const [i, name] of names.entries()) await writeFile(path.join(dir, `a${i}.js`), attacks[name]!);
const host = await createHost({
  dir,
  limits: { memoryBytes: 64 * 1024 * 1024, callTimeoutMs: LIMIT_MS, loadTimeoutMs: 60_000 },
  quarantine: { maxViolations: Infinity },
  capabilities: { echo: (x: unknown) => x },
});
console.log(`| loop (callTimeoutMs ${LIMIT_MS}, memoryBytes 64 MiB) | worst overrun of ${RUNS} runs | error |`);
console.log('| --- | --- | --- |');
let worst = 0;
for (const [i, name] of names.entries()) {
  let max = 0;
  let code = '';
  for (let r = 0; r < RUNS; r++) {
    await host.ready();
    const t = performance.now();
    try {
      host.get<{ f(): void }>(`a${i}`).f();
    } catch (e) {
      code = (e as { code?: string }).code ?? String(e);
    }
    max = Math.max(max, performance.now() - t - LIMIT_MS);
  }
  worst = Math.max(worst, max);
  console.log(`| ${name} | ${max.toFixed(0)} ms | ${code} |`);
}
console.log(`\nworst overrun: ${worst.toFixed(0)} ms`);
// One operation of each kind written as syntax (a loop of them: bench/js-overrun.ts):
// BigInt is off unless granted (src/engines/quickjs/bigint-gate.ts): loaded directly, with the grant.
const single = await loadQuickJS({
  path: path.join(dir, 'single.js'),
  file: 'single.js',
  defaultName: 'single',
  source: `const b = 3n ** 315000n; const a = new Array(1 << 20).fill(1); const o = {}; for (let i = 0; i < (1 << 18); i++) o['k' + i] = i;
const time = (f) => { const t = Date.now(); f(); return Date.now() - t; };
export function f() { return [time(() => b * b), time(() => [...a]), time(() => ({ ...o }))]; }`,
  limits: { ...DEFAULT_LIMITS, memoryBytes: 64 * 1024 * 1024, callTimeoutMs: 60_000, loadTimeoutMs: 60_000 },
  capabilities: [],
  data: {},
  config: () => ({}),
  log: () => {},
  grants: { bigint: true },
});
const [mul, spread, objSpread] = single.call('f', []) as number[];
console.log(`one operation, not interruptible: BigInt multiply of two 500,000-bit numbers ${mul} ms; [...a] of 2^20 elements ${spread} ms; {...o} of 2^18 keys ${objSpread} ms`);
single.dispose();
await host.close();
await rm(dir, { recursive: true, force: true });
