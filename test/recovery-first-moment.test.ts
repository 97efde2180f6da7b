/**
 * The next call is served from the first moment (regression: "the call after a violation fails in
 * the first moments of a host"). A host used at once, without awaiting anything after createHost
 * resolved, after a reload, or after an earlier violation: c(), bad(), c() -> the third call is
 * served by a fresh instance, its module state reset (a counter back at 1). Covered by the
 * standbys a version goes live with (createHost and reloads resolve once they are built), and,
 * when violations come faster than builds, by the rebuild inside the next call that an engine
 * with `loadSync` allows. Every limit class the host counts as a violation, in both engines, with
 * sync exports: the timeout loop, deep recursion, memory exhaustion and the re-entry cap
 * (plugin -> host -> plugin nested 32 deep). Only quarantine makes calls fail fast; an engine
 * without `loadSync` keeps failing fast when no standby is ready.
 *
 * The JavaScript cases that need a second instance before a build could finish (two violations
 * back to back, a violation right after another) need QuickJS's `loadSync` (another branch).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHost, type Host, type HostOptions, type TerrariumError } from 'terrarium-plugins';
import { type Engine, type EngineDescriptor, builtinEngines } from 'terrarium-plugins/engine';

/** Call synchronously; the code of what it threw, or 'ok:' + the value. Never awaits. */
function now(fn: () => unknown): string {
  try {
    const v = fn();
    return v instanceof Promise ? 'promise' : `ok:${String(v)}`;
  } catch (e) {
    return (e as TerrariumError).code ?? String(e);
  }
}

interface Lang {
  name: string;
  ext: string;
  /** Exports c() (module state: a counter from 1), spin(), recurse(), hog(), reenter(). `start` sets the version (the counter starts at 1 regardless). */
  source(start: number): string;
}

const JS: Lang = {
  name: 'JavaScript',
  ext: '.js',
  source: (start) => `export const meta = { name: 'p', version: '${start}' };
let n = ${start};
export function c() { return ++n - ${start}; }
export function spin() { for (;;) {} }
function f(k) { return f(k + 1) + 1; }
export function recurse() { return f(0); }
const keep = [];
export function hog() { for (let i = 0; ; i++) keep.push('x'.repeat(1024) + i); }
export function reenter() { return host.again(); }
`,
};

/** The same plugin as TypeScript: rebuilt inside a call from the transpiled source the engine keeps. */
const TS: Lang = {
  name: 'TypeScript',
  ext: '.ts',
  source: (start) => JS.source(start).replace(`let n = ${start};`, `let n: number = ${start};`).replace('function f(k)', 'function f(k: number): number'),
};

const LUA: Lang = {
  name: 'Lua',
  ext: '.lua',
  source: (start) => `local n = ${start}
local function f(k) return f(k + 1) + 1 end
local keep = {}
local chunk = string.rep('x', 1024)
return {
  meta = { name = 'p', version = '${start}' },
  c = function() n = n + 1; return n - ${start} end,
  spin = function() while true do end end,
  recurse = function() return f(0) end,
  hog = function() local i = 0 while true do i = i + 1; keep[#keep + 1] = chunk .. i end end,
  reenter = function() return host.again() end,
}
`,
};

interface P {
  c(): number;
  spin(): void;
  recurse(): number;
  hog(): void;
  reenter(): unknown;
}

type Violation = 'spin' | 'recurse' | 'hog' | 'reenter';
const VIOLATIONS: readonly [Violation, string][] = [
  ['spin', 'ERR_PLUGIN_TIMEOUT'],
  ['recurse', 'ERR_PLUGIN_STACK'],
  ['hog', 'ERR_PLUGIN_MEMORY'],
  ['reenter', 'ERR_PLUGIN_STACK'],
];

const LIMITS = { memoryBytes: 32 << 20, callTimeoutMs: 300, loadTimeoutMs: 5000, stackBytes: 256 * 1024 };

interface Fixture {
  host: Host;
  p: P;
  file: string;
  /** What `atOnce` returned: run in the continuation of createHost itself, before anything else is awaited. */
  first: string[];
  close(): Promise<void>;
}

/**
 * A host over one plugin `p`. `atOnce` runs right where createHost resolves, not one await later
 * (an async helper returning the host would give background work another turn first).
 */
async function start(lang: Lang, violation: Violation, extra: Partial<HostOptions> = {}, atOnce: (p: P, host: Host) => string[] = () => []): Promise<Fixture> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'terrarium-first-moment-'));
  const file = path.join(dir, `p${lang.ext}`);
  await writeFile(file, lang.source(0));
  let host: Host | undefined;
  try {
    host = await createHost({
      dir,
      limits: LIMITS,
      // hog must meet its memory cap before its time budget, even on a loaded machine.
      ...(violation === 'hog' ? { pluginLimits: { p: { callTimeoutMs: 20_000 } } } : {}),
      capabilities: { again: () => host!.get<P>('p').reenter() },
      quarantine: { maxViolations: 100 },
      ...extra,
    });
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const h = host;
  const first = atOnce(h.get<P>('p'), h);
  return {
    host: h,
    p: h.get<P>('p'),
    file,
    first,
    close: async () => {
      await h.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

for (const lang of [JS, TS, LUA]) {
  for (const [violation, code] of VIOLATIONS) {
    describe(`the first moment (${lang.name}, ${violation}() -> ${code})`, () => {
      it('serves the call after a violation made at once after createHost resolved, with module state reset', async () => {
        const f = await start(lang, violation, {}, (p, host) => [host.plugins[0]!.standby, now(() => p.c()), now(() => p[violation]()), now(() => p.c())]);
        try {
          assert.deepEqual(f.first, ['ready', 'ok:1', code, 'ok:1']);
          assert.equal(f.host.plugins[0]!.status, 'ready');
        } finally {
          await f.close();
        }
      });

      it('serves the call after a violation made at once after host.reload() applied a new version', async () => {
        const f = await start(lang, violation);
        try {
          assert.equal(f.p.c(), 1);
          await writeFile(f.file, lang.source(10));
          const results = await f.host.reload().then(() => [f.host.plugins[0]!.version, f.host.plugins[0]!.standby, now(() => f.p.c()), now(() => f.p[violation]()), now(() => f.p.c())]);
          assert.deepEqual(results, ['10', 'ready', 'ok:1', code, 'ok:1']);
        } finally {
          await f.close();
        }
      });

      it('serves the call after two violations back to back, and after a violation right after another', async () => {
        const f = await start(lang, violation, {}, (p) => [
          ...[now(() => p.c()), now(() => p[violation]()), now(() => p[violation]()), now(() => p.c())],
          ...[now(() => p[violation]()), now(() => p.c()), now(() => p[violation]()), now(() => p.c())],
        ]);
        try {
          assert.deepEqual(f.first.slice(0, 4), ['ok:1', code, code, 'ok:1'], 'two violations back to back');
          assert.deepEqual(f.first.slice(4), [code, 'ok:1', code, 'ok:1'], 'a violation right after another');
          assert.equal(f.host.plugins[0]!.counters.restarts, 4);
          await f.host.ready();
          assert.equal(f.host.plugins[0]!.standby, 'ready', 'the standby is built again in the background');
        } finally {
          await f.close();
        }
      });
    });
  }

  describe(`the first moment (${lang.name}): what still fails fast`, () => {
    it('quarantine fails the next call fast when its policy says so', async () => {
      const f = await start(lang, 'spin', { quarantine: { maxViolations: 2, backoffMs: 60_000 } }, (p) => [now(() => p.spin()), now(() => p.spin()), now(() => p.c())]);
      try {
        assert.deepEqual(f.first, ['ERR_PLUGIN_TIMEOUT', 'ERR_PLUGIN_TIMEOUT', 'ERR_PLUGIN_UNAVAILABLE']);
        assert.equal(f.host.plugins[0]!.status, 'quarantined');
        assert.throws(() => f.p.c(), /is quarantined after ERR_PLUGIN_TIMEOUT/);
      } finally {
        await f.close();
      }
    });

    it('serves the call after a violation made in the listener of the reloaded event of a watched file', async () => {
      const f = await start(lang, 'recurse', { watch: { debounceMs: 20 } });
      try {
        const seen = new Promise<string[]>((resolve) => {
          const off = f.host.on('reloaded', (e) => {
            if (e.plugin !== 'p') return;
            off();
            resolve([now(() => f.p.c()), now(() => f.p.recurse()), now(() => f.p.c())]);
          });
        });
        await writeFile(f.file, lang.source(20));
        assert.deepEqual(await seen, ['ok:1', 'ERR_PLUGIN_STACK', 'ok:1']);
      } finally {
        await f.close();
      }
    });
  });
}

/** The built-in engine for `ext` without `loadSync`: what a third-party engine that cannot load synchronously looks like. */
function withoutLoadSync(ext: string): EngineDescriptor[] {
  return builtinEngines.map((d) =>
    d.extensions.includes(ext)
      ? {
          ...d,
          load: async (): Promise<Engine> => {
            const engine = await d.load();
            return { name: engine.name, load: (req) => engine.load(req) };
          },
        }
      : d,
  );
}

describe('the first moment with an engine that has no loadSync', () => {
  it('the Lua engine declares loadSync (the rebuild inside a call relies on it)', async () => {
    const lua = builtinEngines.find((d) => d.extensions.includes('.lua'))!;
    assert.equal(typeof (await lua.load()).loadSync, 'function');
  });

  it('still serves the first violation from the standby built before createHost resolved; the second, faster than a build, fails fast until the background build serves', async () => {
    const f = await start(LUA, 'spin', { engines: withoutLoadSync('.lua') }, (p) => [now(() => p.c()), now(() => p.spin()), now(() => p.c()), now(() => p.spin()), now(() => p.c())]);
    try {
      assert.deepEqual(f.first, ['ok:1', 'ERR_PLUGIN_TIMEOUT', 'ok:1', 'ERR_PLUGIN_TIMEOUT', 'ERR_PLUGIN_UNAVAILABLE']);
      assert.throws(() => f.p.c(), /no standby instance was ready/);
      await f.host.ready();
      assert.equal(f.p.c(), 1, 'the instance built in the background serves, its state fresh');
    } finally {
      await f.close();
    }
  });

  it('with standby: false, the call after a violation is rebuilt inside the call when the engine has loadSync, and fails fast when it has not', async () => {
    const a = await start(LUA, 'spin', { standby: false }, (p) => [now(() => p.c()), now(() => p.spin()), now(() => p.c())]);
    try {
      assert.deepEqual(a.first, ['ok:1', 'ERR_PLUGIN_TIMEOUT', 'ok:1']);
      await a.host.ready();
      assert.equal(a.host.plugins[0]!.standby, 'none', 'the background build the restart started is not kept');
      assert.equal(a.p.c(), 2, 'the instance rebuilt inside the call still serves');
    } finally {
      await a.close();
    }
    const b = await start(LUA, 'spin', { standby: false, engines: withoutLoadSync('.lua') }, (p) => [now(() => p.c()), now(() => p.spin()), now(() => p.c())]);
    try {
      assert.deepEqual(b.first, ['ok:1', 'ERR_PLUGIN_TIMEOUT', 'ERR_PLUGIN_UNAVAILABLE']);
    } finally {
      await b.close();
    }
  });
});


describe('the rebuild inside a call (Lua, loadSync)', () => {
  /** A Lua plugin whose top-level code runs `onLoad(n)` (n: how many times it was loaded so far). */
  async function counted(onLoad: (n: number) => unknown): Promise<{ host: Host; p: P; close(): Promise<void> }> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'terrarium-first-moment-'));
    await writeFile(path.join(dir, 'p.lua'), `local seen = host.loaded()\nlocal n = 0\nreturn { meta = { name = 'p' }, seen = function() return seen end, c = function() n = n + 1; return n end, spin = function() while true do end end }\n`);
    let loads = 0;
    const host = await createHost({ dir, limits: LIMITS, quarantine: { maxViolations: 100 }, capabilities: { loaded: () => onLoad(++loads) } });
    return {
      host,
      p: host.get<P>('p'),
      close: async () => {
        await host.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }

  it('fails the plugin with the load error when the rebuild fails, as the background build would', async () => {
    // Loads 1 and 2: the version and its standby; 3: the background build after the first
    // violation (fengari loads it at once, its checks settle later); 4: the rebuild inside c().
    const f = await counted((n) => {
      if (n >= 4) throw new Error(`load ${n} refused`);
      return n;
    });
    try {
      const results = [now(() => f.p.spin()), now(() => f.p.spin()), now(() => f.p.c())];
      assert.deepEqual(results, ['ERR_PLUGIN_TIMEOUT', 'ERR_PLUGIN_TIMEOUT', 'ERR_PLUGIN_UNAVAILABLE']);
      assert.equal(f.host.plugins[0]!.status, 'failed');
      assert.match(f.host.plugins[0]!.error?.message ?? '', /load 4 refused/);
      assert.throws(() => f.p.c(), /failed to load: .*load 4 refused/);
    } finally {
      await f.close();
    }
  });

  it('a plugin calling itself from its top-level code while being rebuilt finds it restarting, not another rebuild', async () => {
    const seen: string[] = [];
    let p: P | undefined;
    const f = await counted((n) => {
      if (n >= 4) seen.push(now(() => p!.c()));
      return n;
    });
    p = f.p;
    try {
      const results = [now(() => f.p.spin()), now(() => f.p.spin()), now(() => f.p.c())];
      assert.deepEqual(results, ['ERR_PLUGIN_TIMEOUT', 'ERR_PLUGIN_TIMEOUT', 'ok:1']);
      assert.deepEqual(seen, ['ERR_PLUGIN_UNAVAILABLE']);
    } finally {
      await f.close();
    }
  });
});
