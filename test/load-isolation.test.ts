/**
 * One plugin's misbehaviour never fails another plugin's load: not through the TypeScript
 * transpile step (one worker shared by every .ts plugin, whose timer used to count the time a
 * looping JavaScript top level blocked the host thread, and failed every source queued behind a
 * slow one), not through any other clock the plugins share. Each case loads a folder where some
 * plugins loop or make the transpiler go exponential, and checks that every good plugin loads
 * and answers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHost } from 'terrarium-plugins';
import { probeHealth } from '../dist/host/health.js';
import { runSelfTests } from '../dist/host/selftest.js';

type Api = { who(): string };
const SLOW = { timeout: 180_000 };
// Generous for the good plugins on a loaded machine; the loops take this long each, and the bug needs the
// TypeScript sources to have the same budget as the loop that blocks the host thread.
const LIMITS = { loadTimeoutMs: 3000, callTimeoutMs: 1000 };

/** A .ts source that sucrase parses in exponential time (about a second per extra level past ~25). */
function exponentialTs(): string {
  let src = 'x';
  for (let i = 0; i < 30; i++) src = `(a = (b = ${src}) => b) => a`;
  return `export const f = ${src};\nexport function who(): string { return 'slow'; }\n`;
}

/** The good plugins: three TypeScript, two JavaScript, two Lua; each answers its own name. */
function goodPlugins(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const n of [1, 2, 3]) files[`ts${n}.ts`] = `interface Who { name: string }\nconst me: Who = { name: 'ts${n}' };\nexport function who(): string { return me.name; }\n`;
  for (const n of [1, 2]) files[`js${n}.js`] = `export function who() { return 'js${n}'; }\n`;
  for (const n of [1, 2]) files[`lua${n}.lua`] = `return { who = function() return 'lua${n}' end }\n`;
  return files;
}

async function folder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'terrarium-isolation-'));
  for (const [name, src] of Object.entries(files)) await writeFile(path.join(dir, name), src);
  return dir;
}

async function expectGoodPluginsServe(files: Record<string, string>, bad: string[]): Promise<void> {
  const dir = await folder({ ...goodPlugins(), ...files });
  try {
    await using host = await createHost({ dir, limits: LIMITS });
    const status = Object.fromEntries(host.plugins.map((p) => [p.name, `${p.status}${p.error ? ` ${p.error.code}: ${p.error.message}` : ''}`]));
    for (const name of Object.keys(goodPlugins()).map((f) => f.replace(/\.\w+$/, ''))) {
      assert.equal(status[name], 'ready', `${name} did not load: ${JSON.stringify(status, null, 1)}`);
      assert.equal(host.get<Api>(name).who(), name);
    }
    for (const name of bad) assert.match(status[name] ?? 'missing', /^failed ERR_PLUGIN_TIMEOUT/, name);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('one plugin cannot fail another plugin\'s load', () => {
  it('TypeScript plugins load next to a JavaScript plugin whose top level loops (regression: a false ERR_PLUGIN_TIMEOUT while stripping TypeScript syntax)', SLOW, async () => {
    await expectGoodPluginsServe({ 'loop.js': 'while (true) {}\nexport function who() { return "loop"; }\n' }, ['loop']);
  });

  it('every good plugin loads next to looping JavaScript and Lua top levels', SLOW, async () => {
    await expectGoodPluginsServe(
      {
        'loopjs.js': 'while (true) {}\nexport function who() { return "loop"; }\n',
        'looplua.lua': 'while true do end\nreturn { who = function() return "loop" end }\n',
      },
      ['loopjs', 'looplua'],
    );
  });

  it('TypeScript sources queued behind one that makes the transpiler go exponential still load (regression: they failed with it)', SLOW, async () => {
    await expectGoodPluginsServe({ 'aaslow.ts': exponentialTs(), 'loop.js': 'while (true) {}\n' }, ['aaslow', 'loop']);
  });
});

describe('one plugin cannot fail another plugin\'s call by holding the host thread', () => {
  /** A host promise settled by the event loop's check phase: after the timers that come due. */
  const soon = (x: unknown) => new Promise((resolve) => setImmediate(() => resolve(x)));
  const files = {
    'a.js': 'export async function f(x) { return await host.soon(x); }\nexport async function health() { return await host.soon(true); }\n',
    'b.lua': 'return { f = function(x) return host.soon(x) end }\n',
    // Runs until its own (longer) call limit stops it, holding the host thread meanwhile.
    'spin.js': 'export function spin() { for (;;) {} }\n',
  };

  for (const [plugin, engine] of [['a', 'JavaScript'], ['b', 'Lua']] as const) {
    it(`an async ${engine} call whose host work finished in time is not failed because another plugin held the thread past its deadline (regression: ERR_PLUGIN_TIMEOUT)`, SLOW, async () => {
      const dir = await folder(files);
      try {
        await using host = await createHost({
          dir,
          capabilities: { soon },
          limits: { callTimeoutMs: 300 },
          pluginLimits: { spin: { callTimeoutMs: 1500 } },
        });
        const call = (host.get(plugin) as unknown as { f(x: string): Promise<string> }).f('answer');
        assert.throws(() => (host.get('spin') as unknown as { spin(): void }).spin(), { code: 'ERR_PLUGIN_TIMEOUT' });
        assert.equal(await call, 'answer');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  it('a health probe answered in time is not failed because another plugin held the thread past its budget (regression: probed unhealthy)', SLOW, async () => {
    const dir = await folder(files);
    try {
      await using host = await createHost({ dir, capabilities: { soon }, limits: { callTimeoutMs: 300 }, pluginLimits: { spin: { callTimeoutMs: 1500 } } });
      const a = host.get('a') as unknown as { health(): Promise<unknown> };
      const probe = probeHealth(() => a.health(), 300);
      assert.throws(() => (host.get('spin') as unknown as { spin(): void }).spin(), { code: 'ERR_PLUGIN_TIMEOUT' });
      assert.equal(await probe, true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('self-tests are not charged for the time another plugin held the thread while they yielded (regression: over their total budget)', SLOW, async () => {
    const dir = await folder(files);
    try {
      await using host = await createHost({ dir, limits: { callTimeoutMs: 300 }, pluginLimits: { spin: { callTimeoutMs: 1500 } } });
      // Three cases of 15 ms of work each: the runner yields to the event loop after each one,
      // and the looping plugin runs in the first of those turns, for longer than the whole budget.
      const subject = {
        meta: { tests: { work: [{ expect: 1 }, { expect: 1 }, { expect: 1 }] } },
        exports: [{ name: 'work', kind: 'function', arity: 0, async: false }],
        call: () => {
          const until = performance.now() + 15;
          while (performance.now() < until);
          return 1;
        },
      };
      let spun = false;
      setImmediate(() => {
        assert.throws(() => (host.get('spin') as unknown as { spin(): void }).spin(), { code: 'ERR_PLUGIN_TIMEOUT' });
        spun = true;
      });
      const results = await runSelfTests(subject as never, 1000);
      assert.equal(spun, true, 'the other plugin ran while the self-tests yielded');
      assert.deepEqual(results, [{ name: 'work#1', ok: true }, { name: 'work#2', ok: true }, { name: 'work#3', ok: true }]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
