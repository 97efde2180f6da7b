/**
 * Recovery that never fails a call, and reloads that never serve a broken version (issue 10):
 * the call right after a limit violation is served by the standby (sync exports stay sync), for
 * JavaScript, TypeScript and Lua; activation is gated on the contract (empty files, files still
 * being written, versions that drop exports); `loaded`/`reloaded` mean callable now; pins keep a
 * unit of work on one version, bounded by reload.pinMs. No case sleeps in place of an event: the
 * file changes are applied with host.reload(), or awaited through events and log lines.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHost, type Host, type HostEvent, type HostOptions, type Logger, type TerrariumError } from 'terrarium-plugins';
import { type Engine, type EngineDescriptor, builtinEngines } from 'terrarium-plugins/engine';
import { expectCode } from './engines/conformance.js';
import { nextEvent } from './helpers.js';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'terrarium-recovery-'));
}

const next = nextEvent;

/** Call synchronously; the code of what it threw, or 'ok:' + the value. Never awaits. */
function now(fn: () => unknown): string {
  try {
    const v = fn();
    return v instanceof Promise ? 'promise' : `ok:${String(v)}`;
  } catch (e) {
    return (e as TerrariumError).code ?? String(e);
  }
}

/** A logger whose lines can be awaited by their `event` field. */
function waitableLogger(): Logger & { next(event: string): Promise<Record<string, unknown>> } {
  const waiters: { event: string; resolve(o: Record<string, unknown>): void }[] = [];
  const at = (obj: object) => {
    const o = obj as Record<string, unknown>;
    for (const w of [...waiters]) {
      if (w.event === o.event) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(o);
      }
    }
  };
  return {
    debug: at,
    info: at,
    warn: at,
    error: at,
    next: (event) => new Promise((resolve) => waiters.push({ event, resolve })),
  };
}

interface Lang {
  name: string;
  ext: string;
  /** Exports tick() (module state), spin(), recurse(), hog(), and later() (async: awaits host.pause()). */
  breaker: string;
  /** A plugin exporting `answer()` -> value, and `extra()` unless `withoutExtra`. */
  answer(version: string, value: string, withoutExtra?: boolean): string;
}

const JS: Lang = {
  name: 'JavaScript',
  ext: '.js',
  breaker: `export const meta = { name: 'breaker', version: '1' };
let ticks = 0;
export function tick() { return ++ticks; }
export function spin() { for (;;) {} }
function f(n) { return f(n + 1) + 1; }
export function recurse() { return f(0); }
const keep = [];
export function hog() { for (let i = 0; ; i++) keep.push('x'.repeat(1024) + i); }
export async function later() { await host.pause(); return ++ticks; }
export async function spinLater() { await host.pause(); for (;;) {} }
`,
  answer: (version, value, withoutExtra) =>
    `export const meta = { name: 'svc', version: '${version}' };\nexport function answer() { return '${value}'; }\n${withoutExtra ? '' : "export function extra() { return 'extra'; }\n"}`,
};

const TS: Lang = {
  name: 'TypeScript',
  ext: '.ts',
  breaker: `export const meta = { name: 'breaker', version: '1' };
let ticks: number = 0;
export function tick(): number { return ++ticks; }
export function spin(): void { for (;;) {} }
function f(n: number): number { return f(n + 1) + 1; }
export function recurse(): number { return f(0); }
const keep: string[] = [];
export function hog(): void { for (let i = 0; ; i++) keep.push('x'.repeat(1024) + i); }
declare const host: { pause(): Promise<void> };
export async function later(): Promise<number> { await host.pause(); return ++ticks; }
export async function spinLater(): Promise<void> { await host.pause(); for (;;) {} }
`,
  answer: (version, value, withoutExtra) =>
    `export const meta = { name: 'svc', version: '${version}' };\nexport function answer(): string { return '${value}'; }\n${withoutExtra ? '' : "export function extra(): string { return 'extra'; }\n"}`,
};

const LUA: Lang = {
  name: 'Lua',
  ext: '.lua',
  breaker: `local ticks = 0
local function f(n) return f(n + 1) + 1 end
local keep = {}
local chunk = string.rep('x', 1024)
return {
  meta = { name = 'breaker', version = '1' },
  tick = function() ticks = ticks + 1; return ticks end,
  spin = function() while true do end end,
  recurse = function() return f(0) end,
  hog = function() local i = 0 while true do i = i + 1; keep[#keep + 1] = chunk .. i end end,
  later = function() host.pause(); ticks = ticks + 1; return ticks end,
  spinLater = function() host.pause(); while true do end end,
}
`,
  answer: (version, value, withoutExtra) =>
    `local M = { meta = { name = 'svc', version = '${version}' } }\nfunction M.answer() return '${value}' end\n${withoutExtra ? '' : "function M.extra() return 'extra' end\n"}return M\n`,
};

interface Breaker {
  tick(): number;
  spin(): void;
  recurse(): number;
  hog(): void;
  later(): Promise<number>;
  spinLater(): Promise<void>;
}

const LIMITS = { memoryBytes: 32 << 20, callTimeoutMs: 300, loadTimeoutMs: 2000, stackBytes: 256 * 1024 };

async function breakerHost(lang: Lang, extra: Partial<HostOptions> = {}): Promise<{ host: Host; dir: string }> {
  const dir = await tempDir();
  await writeFile(path.join(dir, `breaker${lang.ext}`), lang.breaker);
  const host = await createHost({
    dir,
    limits: LIMITS,
    // hog must meet its memory cap before its time budget, even on a loaded machine.
    pluginLimits: { breaker: { callTimeoutMs: 300 } },
    capabilities: { pause: () => Promise.resolve() },
    quarantine: { maxViolations: 100 },
    ...extra,
  });
  await host.ready(); // the standby is built
  return { host, dir };
}

for (const lang of [JS, TS, LUA]) {
  describe(`the call after a limit violation (${lang.name})`, () => {
    for (const [violation, code] of [
      ['spin', 'ERR_PLUGIN_TIMEOUT'],
      ['recurse', 'ERR_PLUGIN_STACK'],
      ['hog', 'ERR_PLUGIN_MEMORY'],
    ] as const) {
      it(`is served at once by a fresh instance after ${code}, synchronously, with module state reset`, async () => {
        const { host, dir } = await breakerHost(lang, violation === 'hog' ? { pluginLimits: { breaker: { callTimeoutMs: 20_000 } } } : {});
        try {
          const b = host.get<Breaker>('breaker');
          assert.equal(b.tick(), 1);
          assert.equal(b.tick(), 2);
          assert.equal(host.plugins[0]!.standby, 'ready');
          // Both calls on the same stack: nothing is awaited between the violation and the next call.
          const results = [now(() => b[violation]()), now(() => b.tick())];
          assert.deepEqual(results, [code, 'ok:1']);
          const info = host.plugins[0]!;
          assert.equal(info.status, 'ready');
          assert.equal(info.counters.restarts, 1);
          await host.ready();
          assert.equal(host.plugins[0]!.standby, 'ready', 'a new standby is built in the background');
        } finally {
          await host.close();
          await rm(dir, { recursive: true, force: true });
        }
      });
    }

    it('serves an async call made right after a violation, and a sync call right after an async violation', async () => {
      const { host, dir } = await breakerHost(lang);
      try {
        const b = host.get<Breaker>('breaker');
        assert.equal(now(() => b.spin()), 'ERR_PLUGIN_TIMEOUT');
        const after = b.later();
        assert.ok(after instanceof Promise);
        assert.equal(await after, 1);
        await host.ready();
        const failing = b.spinLater();
        const followUp = failing.then(
          () => 'resolved',
          (e: TerrariumError) => [e.code, now(() => b.tick())].join(' '),
        );
        assert.equal(await followUp, 'ERR_PLUGIN_TIMEOUT ok:1');
      } finally {
        await host.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}

/**
 * The built-in engines with the JavaScript one stripped of `loadSync`: what an engine that cannot
 * load synchronously does when no standby is ready (with `loadSync`, the next call rebuilds the
 * instance itself: test/recovery-first-moment.test.ts).
 */
const jsWithoutLoadSync: EngineDescriptor[] = builtinEngines.map((d) =>
  d.extensions.includes('.js')
    ? {
        ...d,
        load: async (): Promise<Engine> => {
          const engine = await d.load();
          return { name: engine.name, load: (req) => engine.load(req) };
        },
      }
    : d,
);

describe('when no standby is ready', () => {
  it('with standby: false, a sync call during the rebuild fails fast and an async one waits for it (an engine without loadSync)', async () => {
    const { host, dir } = await breakerHost(JS, { standby: false, engines: jsWithoutLoadSync });
    try {
      const b = host.get<Breaker>('breaker');
      assert.equal(host.plugins[0]!.standby, 'none');
      const results = [now(() => b.spin()), now(() => b.tick())];
      assert.deepEqual(results, ['ERR_PLUGIN_TIMEOUT', 'ERR_PLUGIN_UNAVAILABLE']);
      assert.equal(await b.later(), 1, 'the async call waited for the fresh instance');
      assert.equal(host.plugins[0]!.standby, 'none');
    } finally {
      await host.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('two violations faster than a build: the second restart has no standby, async calls wait, the message says why (an engine without loadSync)', async () => {
    const { host, dir } = await breakerHost(JS, { engines: jsWithoutLoadSync });
    try {
      const b = host.get<Breaker>('breaker');
      // The first violation uses the standby; the second finds the next one still building.
      const results = [now(() => b.spin()), now(() => b.spin()), now(() => b.tick())];
      assert.deepEqual(results, ['ERR_PLUGIN_TIMEOUT', 'ERR_PLUGIN_TIMEOUT', 'ERR_PLUGIN_UNAVAILABLE']);
      const err = await expectCode(() => b.tick(), 'ERR_PLUGIN_UNAVAILABLE');
      assert.match(err.message, /no standby instance was ready/);
      assert.equal(await b.later(), 1);
      await host.ready();
      assert.equal(b.tick(), 2);
    } finally {
      await host.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a reload while the standby is being built ends with a standby of the new version', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'svc.js');
    // selftest() awaits host.gate(): the third build (the standby rebuilt after the violation
    // below; the first two, the version and its standby, are built before createHost resolves)
    // is held until released.
    let gates = 0;
    let release: (() => void) | undefined;
    const gate = () => (++gates === 3 ? new Promise<void>((r) => (release = r)) : Promise.resolve());
    const src = (v: string) =>
      `export const meta = { name: 'svc', version: '${v}' };\nexport async function selftest() { await host.gate(); return true; }\nexport function which() { return '${v}'; }\nfunction f(n) { return f(n + 1) + 1; }\nexport function recurse() { return f(0); }\n`;
    await writeFile(file, src('1'));
    await using host = await createHost({ dir, capabilities: { gate }, limits: { callTimeoutMs: 10_000 } });
    assert.equal(now(() => host.get<{ recurse(): number }>('svc').recurse()), 'ERR_PLUGIN_STACK');
    while (!release) await new Promise((r) => setImmediate(r));
    assert.equal(host.plugins[0]!.standby, 'building');
    await writeFile(file, src('2'));
    await host.reload();
    release();
    await host.ready();
    assert.equal(host.plugins[0]!.standby, 'ready');
    const svc = host.get<{ which(): string; recurse(): number }>('svc');
    assert.deepEqual([now(() => svc.recurse()), now(() => svc.which())], ['ERR_PLUGIN_STACK', 'ok:2']);
    await rm(dir, { recursive: true, force: true });
  });

  it('standby: 2 serves the call after two violations faster than a build', async () => {
    const { host, dir } = await breakerHost(JS, { standby: 2 });
    try {
      const b = host.get<Breaker>('breaker');
      const results = [now(() => b.spin()), now(() => b.spin()), now(() => b.tick())];
      assert.deepEqual(results, ['ERR_PLUGIN_TIMEOUT', 'ERR_PLUGIN_TIMEOUT', 'ok:1']);
      await host.ready();
      assert.equal(host.plugins[0]!.standby, 'ready');
      assert.deepEqual([now(() => b.spin()), now(() => b.spin()), now(() => b.tick())], ['ERR_PLUGIN_TIMEOUT', 'ERR_PLUGIN_TIMEOUT', 'ok:1']);
    } finally {
      await host.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('quarantine is what fails calls fast, naming when the plugin is probed again', async () => {
    const { host, dir } = await breakerHost(JS, { quarantine: { maxViolations: 2, backoffMs: 60_000 } });
    try {
      const b = host.get<Breaker>('breaker');
      assert.deepEqual([now(() => b.spin()), now(() => b.tick())], ['ERR_PLUGIN_TIMEOUT', 'ok:1']);
      await host.ready();
      assert.equal(now(() => b.spin()), 'ERR_PLUGIN_TIMEOUT');
      const err = await expectCode(() => b.tick(), 'ERR_PLUGIN_UNAVAILABLE');
      assert.match(err.message, /is quarantined after ERR_PLUGIN_TIMEOUT; the next probe of a fresh instance is in \d+ ms \(\d{4}-\d\d-\d\dT/);
    } finally {
      await host.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects a bad standby or reload option with ERR_OPTIONS', async () => {
    const dir = await tempDir();
    try {
      for (const bad of [{ standby: 9 }, { standby: 1.5 }, { standby: 'yes' }, { reload: { pinMs: 0 } }, { reload: { allowRemovedExports: 'yes' } }, { reload: { requiredExports: ['x'] } }, { reload: { nope: true } }]) {
        await expectCode(() => createHost({ dir, ...(bad as object) }), 'ERR_OPTIONS');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

for (const lang of [JS, LUA]) {
  describe(`activation is gated on the contract (${lang.name})`, () => {
    const setup = async (options: Partial<HostOptions> = {}) => {
      const dir = await tempDir();
      const file = path.join(dir, `svc${lang.ext}`);
      await writeFile(file, lang.answer('1', 'v1'));
      const host = await createHost({ dir, ...options });
      return {
        host,
        file,
        svc: host.get<{ answer(): string; extra(): string }>('svc'),
        async [Symbol.asyncDispose]() {
          await host.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    };

    it('never reads a zero-length file as a version (host.reload())', async () => {
      await using t = await setup();
      let events = 0;
      for (const e of ['reloaded', 'failed', 'unloaded'] as const) t.host.on(e, () => events++);
      await writeFile(t.file, '');
      await t.host.reload();
      assert.equal(t.svc.answer(), 'v1');
      assert.equal(t.host.plugins[0]!.version, '1');
      assert.equal(events, 0);
      await writeFile(t.file, lang.answer('2', 'v2'));
      await t.host.reload();
      assert.equal(t.svc.answer(), 'v2');
    });

    it('rejects a version that drops exports with ERR_EXPORTS_REMOVED naming them; the serving version keeps serving', async () => {
      await using t = await setup();
      const failed = next(t.host, 'failed', 'svc');
      await writeFile(t.file, lang.answer('2', 'v2', true));
      await t.host.reload();
      const e = await failed;
      assert.equal(e.error?.code, 'ERR_EXPORTS_REMOVED');
      assert.deepEqual((e.error as TerrariumError & { missing: string[] }).missing, ['extra']);
      assert.match(e.error!.message, /version 2 does not export extra, which version 1 serves/);
      assert.deepEqual([t.svc.answer(), t.svc.extra()], ['v1', 'extra']);
      const info = t.host.plugins[0]!;
      assert.deepEqual([info.status, info.version, info.lastReload?.ok, info.lastReload?.error?.code], ['ready', '1', false, 'ERR_EXPORTS_REMOVED']);
    });

    it('activates such a version with reload.allowRemovedExports, but never without a required export', async () => {
      const required: string[] = [];
      await using t = await setup({ reload: { allowRemovedExports: true, requiredExports: () => required } });
      await writeFile(t.file, lang.answer('2', 'v2', true));
      await t.host.reload();
      assert.equal(t.svc.answer(), 'v2');
      await expectCode(() => t.svc.extra(), 'ERR_NO_EXPORT');
      required.push('answer');
      const failed = next(t.host, 'failed', 'svc');
      await writeFile(t.file, `${lang.answer('3', 'v3', true)}`.replace(/answer/g, 'other'));
      await t.host.reload();
      const e = await failed;
      assert.equal(e.error?.code, 'ERR_EXPORTS_REMOVED');
      assert.match(e.error!.message, /does not export answer/);
      assert.equal(t.svc.answer(), 'v2');
    });

    it('watching: a truncated file is skipped, a half-written one that drops exports is rejected, the complete one is activated', async () => {
      const logger = waitableLogger();
      await using t = await setup({ watch: { debounceMs: 20 }, logger });
      const skipped = logger.next('empty-skipped');
      await writeFile(t.file, '');
      assert.equal((await skipped).plugin, 'svc');
      assert.equal(t.svc.answer(), 'v1');
      // A slow writer: the first half stays on disk until the host has looked at it.
      const failed = next(t.host, 'failed', 'svc');
      await writeFile(t.file, lang.answer('2', 'v2', true));
      assert.equal((await failed).error?.code, 'ERR_EXPORTS_REMOVED');
      assert.equal(t.svc.answer(), 'v1');
      const reloaded = next(t.host, 'reloaded', 'svc');
      await writeFile(t.file, lang.answer('2', 'v2'));
      assert.equal((await reloaded).version, '2');
      assert.deepEqual([t.svc.answer(), t.svc.extra()], ['v2', 'extra']);
    });
  });
}

describe('events mean callable now', () => {
  it('a loaded or reloaded listener can call the plugin, and host.plugins lists it ready', async () => {
    const dir = await tempDir();
    await using host = await createHost({ dir });
    const seen: string[] = [];
    const listener = (e: HostEvent) => {
      const info = host.plugins.find((p) => p.name === e.plugin);
      seen.push(`${e.event} ${info?.status} ${host.get<{ answer(): string }>(e.plugin).answer()}`);
    };
    host.on('loaded', listener);
    host.on('reloaded', listener);
    await writeFile(path.join(dir, 'svc.js'), JS.answer('1', 'v1'));
    await host.reload();
    await writeFile(path.join(dir, 'svc.js'), JS.answer('2', 'v2'));
    await host.reload();
    assert.deepEqual(seen, ['loaded ready v1', 'reloaded ready v2']);
    await rm(dir, { recursive: true, force: true });
  });

  it('a file that failed to load and is fixed is callable in its loaded listener', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'svc.lua');
    await writeFile(file, 'return {');
    await using host = await createHost({ dir });
    assert.equal(host.plugins[0]!.status, 'failed');
    const answers: string[] = [];
    host.on('loaded', (e) => answers.push(host.get<{ answer(): string }>(e.plugin).answer()));
    await writeFile(file, LUA.answer('1', 'fixed'));
    await host.reload();
    assert.deepEqual(answers, ['fixed']);
    await rm(dir, { recursive: true, force: true });
  });

  it('replacing a file by another of the same name is one reloaded event, even when the deletion is seen first', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'svc.js'), JS.answer('1', 'js'));
    await using host = await createHost({ dir, watch: { debounceMs: 50 } });
    const events: string[] = [];
    for (const e of ['loaded', 'reloaded', 'unloaded', 'failed'] as const) host.on(e, (x) => events.push(`${x.event} ${x.file}`));
    const svc = host.get<{ answer(): string }>('svc');
    const reloaded = next(host, 'reloaded', 'svc');
    // The deletion is seen first (node's fs.watch reports it at once), the new file second.
    await unlink(path.join(dir, 'svc.js'));
    await writeFile(path.join(dir, 'svc.lua'), LUA.answer('2', 'lua'));
    await reloaded;
    await host.ready();
    assert.deepEqual(events, ['reloaded svc.lua']);
    assert.equal(svc.answer(), 'lua');
    await rm(dir, { recursive: true, force: true });
  });

  it('an empty file at start fails to load with ERR_PLUGIN_LOAD and loads once written', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'svc.js');
    await writeFile(file, '');
    await using host = await createHost({ dir });
    assert.equal(host.plugins[0]!.error?.code, 'ERR_PLUGIN_LOAD');
    assert.match(host.plugins[0]!.error!.message, /the file is empty/);
    await writeFile(file, JS.answer('1', 'v1'));
    await host.reload();
    assert.equal(host.get<{ answer(): string }>('svc').answer(), 'v1');
    await rm(dir, { recursive: true, force: true });
  });
});

describe('pins: a unit of work keeps its version', () => {
  const stateful = (v: string) => `export const meta = { name: 'svc', version: '${v}' };\nlet n = 0;\nexport function first() { n = 10; return '${v}'; }\nexport function second() { return '${v}:' + n; }\nexport function spin() { for (;;) {} }\n`;

  it('runs every call of a pin on the version it started on, across a reload; new work gets the new version', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'svc.js');
    await writeFile(file, stateful('1'));
    await using host = await createHost({ dir });
    const pin = host.pin('svc');
    assert.equal(pin.version, '1');
    assert.equal(pin.call('first', []), '1');
    await writeFile(file, stateful('2'));
    await host.reload();
    assert.equal(host.get<{ second(): string }>('svc').second(), '2:0');
    assert.equal(pin.call('second', []), '1:10', 'the old version, with its state');
    assert.equal(pin.has('second'), true);
    pin.release();
    pin.release(); // idempotent
    await expectCode(() => pin.call('second', []), 'ERR_PLUGIN_UNAVAILABLE');
    const fresh = host.pin('svc');
    assert.equal(fresh.call('second', []), '2:0');
    fresh.release();
    await expectCode(() => host.pin('nope'), 'ERR_NO_PLUGIN');
    await rm(dir, { recursive: true, force: true });
  });

  it('lets a retired version go reload.pinMs after it was retired, even if a pin is never released', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'svc.js');
    await writeFile(file, stateful('1'));
    await using host = await createHost({ dir, reload: { pinMs: 5 } });
    const stuck = host.pin('svc');
    await writeFile(file, stateful('2'));
    await host.reload();
    assert.equal(stuck.call('second', []), '1:0');
    // Timers of equal duration fire in the order they were set: this one after the host's.
    await new Promise((r) => setTimeout(r, 5));
    const err = await expectCode(() => stuck.call('second', []), 'ERR_PLUGIN_UNAVAILABLE');
    assert.match(err.message, /retired more than 5 ms ago/);
    stuck.release();
    await rm(dir, { recursive: true, force: true });
  });

  it('follows the fresh instance of the same source when its instance is thrown away after a violation', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'svc.js'), stateful('1'));
    await using host = await createHost({ dir, limits: { callTimeoutMs: 200 } });
    await host.ready();
    const pin = host.pin('svc');
    assert.equal(pin.call('first', []), '1');
    assert.deepEqual([now(() => pin.call('spin', [])), now(() => pin.call('second', []))], ['ERR_PLUGIN_TIMEOUT', 'ok:1:0']);
    pin.release();
    await rm(dir, { recursive: true, force: true });
  });
});
