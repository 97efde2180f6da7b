/**
 * How far past callTimeoutMs (and memoryBytes) a Lua plugin can get inside fengari's built-ins,
 * which run in JavaScript where the count hook never fires (issue 12). Each attack runs in its own
 * child process (memoryBytes 32 MiB, callTimeoutMs 1000 ms, like the issue's reproductions), three
 * times; the table gives the outcome, the median and worst time from the call to its error, the
 * overrun past the deadline, and the child's RSS at the end. A baseline row (`while true do end`,
 * stopped by the count hook) shows what the machine itself adds.
 *
 * Run: `npm run build && node --import tsx bench/lua-overrun.ts` (writes bench/results/lua-overrun.md).
 * One case, printing JSON: `node --import tsx bench/lua-overrun.ts --case plainFind`.
 * Some cases only, printing the table without writing the file: `--only pcall` (cases whose name
 * contains "pcall"; the baseline row always runs). The pcall/xpcall/coroutine rows are the issue
 * "a Lua plugin hangs the host for ever with pcall" (bench/results/lua-pcall.md).
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_DIR, machine } from './lib.js';

const TIMEOUT_MS = 1000;
const MEMORY = 32 * 1024 * 1024;
const REPEATS = Number(process.env.BENCH_OVERRUN_REPEATS ?? 3);

/** Attack -> Lua body of the export (it never returns normally). */
const CASES: Record<string, string> = {
  'baseline: while true do end': `while true do end`,
  'plain find, quadratic needle': `local s, p = ('a'):rep(4e6), ('a'):rep(2e6) .. 'b' while true do s:find(p, 1, true) end`,
  'find without specials': `local s, p = ('a'):rep(4e6), ('a'):rep(2e6) .. 'b' while true do s:find(p) end`,
  '%b() over 200k "("': `return string.find(('('):rep(200000), '%b()')`,
  'fresh 2 MB strings as keys (kept)': `local t, b = {}, ('x'):rep(2e6) for i = 1, 1e9 do t[b .. i] = true end`,
  'fresh 8 MB strings as keys (dropped)': `local t, b = {}, ('x'):rep(8e6) for i = 1, 1e9 do t[b .. i] = 1; t[b .. i] = nil end`,
  '< on fresh 2 MB strings': `local a = ('x'):rep(2e6) for i = 1, 1e9 do local _ = (a .. i) < (a .. (i + 1)) end`,
  '== on two equal 15 MB strings': `local a, b = ('x'):rep(15e6), ('x'):rep(15e6) while true do local _ = a == b end`,
  'load of a 16 MB source': `return load(string.rep('a=1 ', 4e6))`,
  'load from an endless reader': `return load(function() return ('a() '):rep(1e5) end)`,
  'load from a reader of spaces': `return load(function() return (' '):rep(1e6) end)`,
  'table.move with __index = rawlen': `local dst = {} table.move(setmetatable({}, { __index = rawlen }), 1, 1e8, 1, dst)`,
  'table.insert with a lying __len': `table.insert(setmetatable({}, { __len = function() return 1e8 end }), 1, 'x')`,
  'table.concat with a lying __len': `table.concat(setmetatable({}, { __index = function() return ('x'):rep(1000) end, __len = function() return 1e7 end }))`,
  'table.unpack of 999k values': `return table.unpack({}, 1, 999000)`,
  'string.byte of 999k bytes': `return ('a'):rep(999000):byte(1, -1)`,
  'utf8.len of 15 MB, looped': `local s = ('a'):rep(15e6) while true do utf8.len(s) end`,
  'string.sub of 15 MB, looped': `local s = ('a'):rep(15e6) while true do local _ = s:sub(2) end`,
  'string.upper of 15 MB, looped': `local s = ('a'):rep(15e6) while true do local _ = s:upper() end`,
  'tonumber of a 15 MB numeral, looped': `local s = ('1'):rep(15e6) while true do local _ = tonumber(s) end`,
  'gsub doubling 1 MB': `local s = ('a'):rep(1e6) while true do s = s:gsub('a', '%0%0') end`,
  'pcall of a spin, looped': `while true do pcall(function() while true do end end) end`,
  'nested pcall, looped': `local function spin() while true do end end while true do pcall(function() while true do pcall(spin) end end) end`,
  'xpcall with a looping handler, looped': `while true do xpcall(function() while true do end end, function() while true do end end) end`,
  'xpcall with a raising handler, looped': `while true do xpcall(function() while true do end end, function(e) error(e) end) end`,
  'pcall of coroutine.resume, looped': `while true do pcall(coroutine.resume, coroutine.create(function() while true do end end)) end`,
  'pcall in a gsub callback, looped': `return ('abc'):gsub('.', function() while true do pcall(function() while true do end end) end end)`,
  'pcall of an allocation loop, looped': `while true do pcall(function() local t = {} while true do t[#t + 1] = { #t } end end) end`,
};

interface Outcome {
  code: string;
  ms: number;
  rssMiB: number;
}

async function runCase(name: string): Promise<Outcome> {
  const { createHost } = await import('terrarium-plugins');
  const dir = await mkdtemp(path.join(tmpdir(), 'overrun-'));
  await writeFile(path.join(dir, 'p.lua'), `return { run = function() ${CASES[name]} end }`);
  const host = await createHost({ dir, limits: { memoryBytes: MEMORY, callTimeoutMs: TIMEOUT_MS }, quarantine: { maxViolations: Infinity } });
  const t0 = performance.now();
  let code = 'returned';
  try {
    await (host.get('p') as unknown as { run(): unknown }).run();
  } catch (e) {
    code = (e as { code?: string }).code ?? String(e);
  }
  const ms = performance.now() - t0;
  const rssMiB = process.memoryUsage().rss / 1048576;
  await host.close();
  await rm(dir, { recursive: true, force: true });
  return { code, ms, rssMiB };
}

function describeMachine(): string {
  const m = machine();
  return `${m.cpu}, ${m.cores} cores, ${m.memory} RAM, Node ${m.node} (${m.platform})`;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const at = process.argv.indexOf('--case');
  if (at !== -1) {
    process.stdout.write(JSON.stringify(await runCase(process.argv[at + 1]!)));
    return;
  }
  const self = fileURLToPath(import.meta.url);
  const rows: string[] = [];
  let worst = { name: '', over: -Infinity };
  const started = new Date();
  const only = process.argv.indexOf('--only');
  const filter = only === -1 ? undefined : process.argv[only + 1]!;
  for (const name of Object.keys(CASES).filter((n) => !filter || n.startsWith('baseline') || n.includes(filter))) {
    const runs: Outcome[] = [];
    for (let i = 0; i < REPEATS; i++) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', self, '--case', name], { encoding: 'utf8', timeout: 120_000 });
      runs.push(JSON.parse(out) as Outcome);
    }
    const codes = [...new Set(runs.map((r) => r.code))].join(', ');
    const ms = runs.map((r) => r.ms);
    const max = Math.max(...ms);
    const over = max - TIMEOUT_MS;
    if (!name.startsWith('baseline') && runs.some((r) => r.code === 'ERR_PLUGIN_TIMEOUT') && over > worst.over) worst = { name, over };
    const line = `| ${name} | ${codes} | ${median(ms).toFixed(0)} | ${max.toFixed(0)} | ${runs.some((r) => r.code === 'ERR_PLUGIN_TIMEOUT') ? `${Math.max(0, over).toFixed(0)}` : '-'} | ${Math.max(...runs.map((r) => r.rssMiB)).toFixed(0)} |`;
    rows.push(line);
    console.log(line);
  }
  let commit = '';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    commit = 'unknown';
  }
  const md = `## Lua: limits inside fengari's built-ins (bench/lua-overrun.ts)

Run on ${started.toISOString().slice(0, 10)} at ${started.toISOString().slice(11, 16)} UTC (commit ${commit}) by \`node --import tsx bench/lua-overrun.ts\`; machine: ${describeMachine()}.
The machine was shared with other builds and tests while this ran: times are noisy, and the baseline row shows what the load alone adds.

Each attack runs in its own process with memoryBytes 32 MiB and callTimeoutMs ${TIMEOUT_MS} ms, ${REPEATS} times. "ms" is from the call to its
error; "overrun" is the worst time past the deadline for the cases stopped by it; RSS is the whole process (Node itself is ~90 MiB here).

| attack | outcome | median ms | worst ms | worst overrun ms | RSS MiB |
| --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

Worst overrun past callTimeoutMs among the built-ins: ${worst.over.toFixed(0)} ms (${worst.name}).
`;
  if (!filter) await writeFile(path.join(BENCH_DIR, 'results', 'lua-overrun.md'), md);
  console.log(md);
}

await main();
