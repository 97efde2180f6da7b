/**
 * Plugin lifecycle through real file changes in a temporary directory (no mocked watcher): hot
 * reload with checks and rollback, debounce, atomic swap under in-flight calls, handshake,
 * self-tests, health and quarantine, signatures, and attributed, rate-limited logs. The
 * language-dependent cases run for both engines.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHost, type Host, type HostEvent, type TerrariumError } from 'terrarium-plugins';
import { DuplicateNameError } from 'terrarium-plugins/errors';
import { generateKeys, signPlugin } from '../dist/host/trust.js';
import { expectCode } from './engines/conformance.js';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'terrarium-lifecycle-'));
}

/** The next event of that kind (for that plugin), or a test failure after 15 s of waiting. */
function next(host: Host, event: HostEvent['event'], plugin?: string): Promise<HostEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no "${event}" event${plugin ? ` for ${plugin}` : ''} arrived`));
    }, 15_000);
    const off = host.on(event, (e) => {
      if (plugin && e.plugin !== plugin) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

const collect = (host: Host) => {
  const seen: HostEvent[] = [];
  for (const e of ['loaded', 'reloaded', 'failed', 'unloaded', 'quarantined', 'recovered'] as const) host.on(e, (x) => seen.push(x));
  return seen;
};


interface Lang {
  ext: string;
  /** A plugin whose `answer()` returns `value`, with meta name/version (and extra meta source). */
  answer(name: string, version: string, value: string, extraMeta?: string): string;
  /** Same plugin with a syntax error on its last line. */
  broken(name: string): string;
  /** A plugin with meta.tests for `double(x)`; `wrong` makes the implementation disagree. */
  tested(name: string, wrong: boolean): string;
  /** A plugin whose health() asks the host (`host.healthy()`). */
  withHealth(name: string): string;
  /** A plugin that logs `n` lines in `chatty(n)`. */
  chatty(name: string): string;
}

const JS: Lang = {
  ext: '.js',
  answer: (name, version, value, extraMeta = '') => `export const meta = { name: '${name}', version: '${version}', apiVersion: 1${extraMeta ? `, ${extraMeta}` : ''} };\nexport function answer() { return '${value}'; }\n`,
  broken: (name) => `export const meta = { name: '${name}', version: '9.9.9' };\nexport function answer() {\n  return 'half\n`,
  tested: (name, wrong) => `export const meta = { name: '${name}', version: '1', tests: { double: [ { args: [2], expect: 4 }, { args: [5], expect: 10 } ] } };\nexport function double(x) { return x * ${wrong ? 3 : 2}; }\n`,
  withHealth: (name) => `export const meta = { name: '${name}' };\nexport function health() { return host.healthy(); }\nexport function work() { return 'done'; }\n`,
  chatty: (name) => `export const meta = { name: '${name}' };\nexport function chatty(n) { for (let i = 0; i < n; i++) console.log('line ' + i); return n; }\n`,
};

const LUA: Lang = {
  ext: '.lua',
  answer: (name, version, value, extraMeta = '') => `local M = { meta = { name = '${name}', version = '${version}', apiVersion = 1${extraMeta ? `, ${extraMeta.replace(/: /g, ' = ')}` : ''} } }\nfunction M.answer() return '${value}' end\nreturn M\n`,
  broken: (name) => `local M = { meta = { name = '${name}', version = '9.9.9' } }\nfunction M.answer()\n  return 'half\n`,
  tested: (name, wrong) => `local M = { meta = { name = '${name}', version = '1', tests = { double = { { args = {2}, expect = 4 }, { args = {5}, expect = 10 } } } } }\nfunction M.double(x) return x * ${wrong ? 3 : 2} end\nreturn M\n`,
  withHealth: (name) => `local M = { meta = { name = '${name}' } }\nfunction M.health() return host.healthy() end\nfunction M.work() return 'done' end\nreturn M\n`,
  chatty: (name) => `local M = { meta = { name = '${name}' } }\nfunction M.chatty(n) for i = 1, n do print('line ' .. i) end return n end\nreturn M\n`,
};

for (const lang of [JS, LUA]) {
  describe(`hot reload (${lang.ext})`, () => {
    let dir: string;
    let host: Host;
    let seen: HostEvent[];
    let stale: { answer(): string } | undefined;
    const file = (n: string) => path.join(dir, `${n}${lang.ext}`);
    before(async () => {
      dir = await tempDir();
      await writeFile(file('greet'), lang.answer('greet', '1.0.0', 'v1'));
      host = await createHost({ dir, watch: { debounceMs: 80 } });
      seen = collect(host);
    });
    after(async () => {
      await host.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('loads a new file dropped into the directory', async () => {
      const loaded = next(host, 'loaded', 'added');
      await writeFile(file('added'), lang.answer('added', '0.1.0', 'fresh'));
      const e = await loaded;
      assert.equal(e.version, '0.1.0');
      assert.equal(host.get<{ answer(): string }>('added').answer(), 'fresh');
    });

    it('swaps a changed file in as a new version, and proxies follow it', async () => {
      const proxy = host.get<{ answer(): string }>('greet');
      assert.equal(proxy.answer(), 'v1');
      const reloaded = next(host, 'reloaded', 'greet');
      await writeFile(file('greet'), lang.answer('greet', '2.0.0', 'v2'));
      const e = await reloaded;
      assert.deepEqual([e.previousVersion, e.version], ['1.0.0', '2.0.0']);
      assert.equal(proxy.answer(), 'v2');
      const info = host.plugins.find((p) => p.name === 'greet')!;
      assert.equal(info.version, '2.0.0');
      assert.equal(info.counters.reloads, 1);
      assert.equal(info.lastReload?.ok, true);
    });

    it('keeps the old version serving when the new one does not load, and reports file:line', async () => {
      const failed = next(host, 'failed', 'greet');
      await writeFile(file('greet'), lang.broken('greet'));
      const e = await failed;
      assert.equal(e.error?.code, 'ERR_PLUGIN_LOAD');
      assert.equal(e.error?.file, `greet${lang.ext}`);
      assert.ok(typeof e.error?.line === 'number' && e.error.line >= 3, `line ${e.error?.line}`);
      assert.match(e.reason ?? '', /version 2\.0\.0 keeps serving/);
      assert.equal(host.get<{ answer(): string }>('greet').answer(), 'v2');
      const info = host.plugins.find((p) => p.name === 'greet')!;
      assert.equal(info.status, 'ready');
      assert.equal(info.lastReload?.ok, false);
      assert.equal(info.lastReload?.error?.code, 'ERR_PLUGIN_LOAD');
      assert.equal(info.counters.rejectedReloads, 1);
    });

    it('does not load a half-written file when the complete one follows within the debounce window', async () => {
      const before = seen.length;
      const reloaded = next(host, 'reloaded', 'greet');
      // Both writes on one stack: the watcher cannot run in between, so they reach it as one batch.
      writeFileSync(file('greet'), lang.broken('greet'));
      writeFileSync(file('greet'), lang.answer('greet', '3.0.0', 'v3'));
      assert.equal((await reloaded).version, '3.0.0');
      await host.ready();
      assert.deepEqual(seen.slice(before).map((x) => x.event), ['reloaded']);
      assert.equal(host.get<{ answer(): string }>('greet').answer(), 'v3');
    });

    it('unloads a deleted file: its name is gone and old proxies say why', async () => {
      const proxy = host.get<{ answer(): string }>('added');
      stale = proxy;
      const unloaded = next(host, 'unloaded', 'added');
      await unlink(file('added'));
      await unloaded;
      await expectCode(() => host.get('added'), 'ERR_NO_PLUGIN');
      const err = await expectCode(() => proxy.answer(), 'ERR_PLUGIN_UNAVAILABLE');
      assert.match(err.message, /unloaded/);
      assert.ok(!host.plugins.some((p) => p.name === 'added'));
    });

    it('serves again through a proxy held from before when the file comes back', async () => {
      const loaded = next(host, 'loaded', 'added');
      await writeFile(file('added'), lang.answer('added', '0.2.0', 'back'));
      await loaded;
      const held = stale;
      assert.ok(held, 'the previous test kept a proxy');
      assert.equal(held.answer(), 'back');
    });

    it('ignores a save that changes nothing', async () => {
      const before = host.plugins.find((p) => p.name === 'greet')!.counters.reloads;
      await writeFile(file('greet'), lang.answer('greet', '3.0.0', 'v3'));
      await host.reload();
      await host.ready();
      assert.equal(host.plugins.find((p) => p.name === 'greet')!.counters.reloads, before);
    });
  });

  describe(`self-tests (${lang.ext})`, () => {
    it('blocks activation with the expected and actual values, and keeps the old version on reload', async () => {
      const dir = await tempDir();
      const f = path.join(dir, `math${lang.ext}`);
      await writeFile(f, lang.tested('math', true));
      await using host = await createHost({ dir, watch: { debounceMs: 50 } });
      const info = host.plugins[0]!;
      assert.equal(info.status, 'failed');
      assert.equal(info.error?.code, 'ERR_SELFTEST');
      assert.match(info.error!.message, /double#1: double\(2\): expected 4, got 6/);
      assert.match(info.error!.message, /double#2: double\(5\): expected 10, got 15/);

      const loaded = next(host, 'loaded', 'math');
      await writeFile(f, lang.tested('math', false));
      await loaded;
      assert.equal(host.get<{ double(x: number): number }>('math').double(21), 42);
      assert.deepEqual(host.plugins[0]!.selftests, { passed: 2, failed: 0 });

      const failed = next(host, 'failed', 'math');
      await writeFile(f, lang.tested('math', true));
      assert.equal((await failed).error?.code, 'ERR_SELFTEST');
      assert.equal(host.get<{ double(x: number): number }>('math').double(21), 42);
      await rm(dir, { recursive: true, force: true });
    });
  });

  describe(`health and quarantine (${lang.ext})`, () => {
    it('quarantines a plugin whose health() fails, fails calls fast, and restores it when healthy', async () => {
      const dir = await tempDir();
      await writeFile(path.join(dir, `svc${lang.ext}`), lang.withHealth('svc'));
      let healthy = true;
      await using host = await createHost({
        dir,
        capabilities: { healthy: () => healthy },
        health: { intervalMs: 20 },
        quarantine: { healthFailures: 2, backoffMs: 20 },
      });
      assert.equal(host.get<{ work(): string }>('svc').work(), 'done');
      const quarantined = next(host, 'quarantined', 'svc');
      healthy = false;
      const q = await quarantined;
      assert.match(q.reason ?? '', /2 consecutive failed health probes/);
      const err = await expectCode(() => host.get<{ work(): string }>('svc').work(), 'ERR_PLUGIN_UNAVAILABLE');
      assert.match(err.message, /quarantined/);
      assert.deepEqual(host.implementing('work'), []);
      const info = host.plugins[0]!;
      assert.equal(info.status, 'quarantined');
      assert.ok(info.counters.healthFailures >= 2);
      assert.equal(info.counters.quarantines, 1);

      const recovered = next(host, 'recovered', 'svc');
      healthy = true;
      await recovered;
      assert.equal(host.get<{ work(): string }>('svc').work(), 'done');
      assert.equal(host.implementing('work').length, 1);
      await rm(dir, { recursive: true, force: true });
    });
  });

  describe(`plugin logs (${lang.ext})`, () => {
    it('attributes output to its plugin and drops what is over the rate, counting it', async () => {
      const dir = await tempDir();
      await writeFile(path.join(dir, `noisy${lang.ext}`), lang.chatty('noisy'));
      const lines: { level: string; obj: Record<string, unknown>; msg: string | undefined }[] = [];
      const rec = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
      const logger = { debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') };
      const host = await createHost({ dir, logger, logRate: { lines: 5, intervalMs: 60_000 } });
      assert.equal(host.get<{ chatty(n: number): number }>('noisy').chatty(200), 200);
      const output = lines.filter((l) => l.obj.event === 'plugin-log');
      assert.equal(output.length, 5);
      for (const l of output) {
        assert.equal(l.obj.plugin, 'noisy');
        assert.equal(l.obj.export, 'chatty');
        assert.equal(l.obj.engine, lang.ext === '.lua' ? 'lua' : 'quickjs');
      }
      assert.deepEqual(output.map((l) => l.msg), ['line 0', 'line 1', 'line 2', 'line 3', 'line 4'].map((m) => (lang.ext === '.lua' ? m.replace(/\d$/, (d) => String(Number(d) + 1)) : m)));
      await host.close(); // reports what was dropped
      const dropped = lines.find((l) => l.obj.event === 'log-dropped');
      assert.equal(dropped?.obj.dropped, 195);
      assert.equal(dropped?.obj.plugin, 'noisy');
      await rm(dir, { recursive: true, force: true });
    });
  });
}

describe('atomic swap', () => {
  it('finishes in-flight async calls on the old version while new calls go to the new one; none fails', async () => {
    const dir = await tempDir();
    const f = path.join(dir, 'slow.js');
    const src = (v: string) => `export const meta = { name: 'slow', version: '${v}' };\nexport async function work() { await host.wait(); return '${v}'; }\n`;
    await writeFile(f, src('1'));
    const waiting: (() => void)[] = [];
    let open = false;
    await using host = await createHost({ dir, watch: { debounceMs: 30 }, capabilities: { wait: () => (open ? Promise.resolve() : new Promise<void>((r) => waiting.push(r))) } });
    const proxy = host.get<{ work(): Promise<string> }>('slow');
    const inflight = [proxy.work(), proxy.work(), proxy.work()];
    const reloaded = next(host, 'reloaded', 'slow');
    await writeFile(f, src('2'));
    await reloaded;
    const after = proxy.work();
    open = true;
    for (const release of waiting.splice(0)) release();
    assert.deepEqual(await Promise.all(inflight), ['1', '1', '1']);
    assert.equal(await after, '2');
    await rm(dir, { recursive: true, force: true });
  });
});

describe('duplicate names', () => {
  it('loads the second file declaring a name once the first one is deleted', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'a.js'), "export const meta = { name: 'same' }; export function who() { return 'a'; }\n");
    await writeFile(path.join(dir, 'b.js'), "export const meta = { name: 'same' }; export function who() { return 'b'; }\n");
    await using host = await createHost({ dir, watch: { debounceMs: 30 } });
    const same = host.get<{ who(): string }>('same');
    assert.equal(same.who(), 'a');
    const duplicate = host.plugins.find((p) => p.file === 'b.js')?.error;
    assert.match(duplicate?.message ?? '', /duplicate plugin name "same"/);
    assert.ok(duplicate instanceof DuplicateNameError && duplicate.otherFile === 'a.js' && duplicate.code === 'ERR_PLUGIN_LOAD');
    const loaded = next(host, 'loaded', 'same');
    await unlink(path.join(dir, 'a.js'));
    assert.equal((await loaded).file, 'b.js');
    assert.equal(same.who(), 'b');
    assert.deepEqual(host.plugins.map((p) => [p.file, p.status]), [['b.js', 'ready']]);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('rewrites under load', () => {
  // Regression: an editor's truncate-then-write could straddle the debounce timer of an earlier
  // event, and the empty file in between was loaded as a version without exports.
  it('never serves a truncated file while a plugin is rewritten over and over', async () => {
    const dir = await tempDir();
    const f = path.join(dir, 'busy.js');
    const src = (n: number) => `export const meta = { version: '${n}' };\nexport function ping() { return 'pong'; }\n// ${'x'.repeat(2000)}\n`;
    await writeFile(f, src(0));
    await using host = await createHost({ dir, watch: { debounceMs: 20 } });
    const busy = host.get<{ ping(): string }>('busy');
    const failures: string[] = [];
    let running = true;
    const caller = (async () => {
      while (running) {
        try {
          busy.ping();
        } catch (e) {
          failures.push((e as Error).message);
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    // Writes back to back, each also applied at once by host.reload(), so that the watcher's
    // timer of one write tends to fire inside the next write's truncate-then-write.
    for (let i = 1; i <= 40; i++) {
      await writeFile(f, src(i));
      await host.reload();
    }
    await host.ready();
    running = false;
    await caller;
    assert.deepEqual(failures, []);
    assert.equal(host.plugins[0]!.version, '40');
    await rm(dir, { recursive: true, force: true });
  });
});

describe('quarantine after repeated limit violations', () => {
  it('stops a plugin that keeps timing out, then restores a fresh instance after backoff', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'spin.js'), `export function spin(on) { while (on) {} return 'ok'; }\n`);
    await using host = await createHost({ dir, limits: { callTimeoutMs: 50 }, quarantine: { maxViolations: 2, windowMs: 60_000, backoffMs: 50 } });
    const spin = host.get<{ spin(on: boolean): string }>('spin');
    await expectCode(() => spin.spin(true), 'ERR_PLUGIN_TIMEOUT');
    await host.ready();
    const quarantined = next(host, 'quarantined', 'spin');
    await expectCode(() => spin.spin(true), 'ERR_PLUGIN_TIMEOUT');
    const q = await quarantined;
    assert.match(q.reason ?? '', /2 limit violations/);
    assert.equal(q.error?.code, 'ERR_PLUGIN_TIMEOUT');
    await expectCode(() => spin.spin(false), 'ERR_PLUGIN_UNAVAILABLE');
    await next(host, 'recovered', 'spin');
    assert.equal(spin.spin(false), 'ok');
    const c = host.plugins[0]!.counters;
    assert.deepEqual([c.timeouts, c.restarts, c.quarantines], [2, 1, 1]);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('handshake', () => {
  it('rejects a plugin whose meta.apiVersion the host does not support, naming both', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'old.js'), `export const meta = { apiVersion: 1 }; export function f() { return 1; }\n`);
    await writeFile(path.join(dir, 'future.lua'), `return { meta = { apiVersion = 3 }, f = function() return 1 end }\n`);
    await writeFile(path.join(dir, 'none.js'), `export function f() { return 1; }\n`);
    await using host = await createHost({ dir, apiVersions: [1, '2'] });
    const by = Object.fromEntries(host.plugins.map((p) => [p.name, p]));
    assert.equal(by.old?.status, 'ready');
    assert.equal(by.future?.error?.code, 'ERR_API_VERSION');
    assert.match(by.future!.error!.message, /declares meta\.apiVersion 3; the host supports 1, 2/);
    assert.equal(by.none?.error?.code, 'ERR_API_VERSION');
    assert.match(by.none!.error!.message, /declares no meta\.apiVersion/);
    await expectCode(() => host.get<{ f(): number }>('future').f(), 'ERR_PLUGIN_UNAVAILABLE');
    await rm(dir, { recursive: true, force: true });
  });
});

describe('signatures', () => {
  const keys = generateKeys();
  const stranger = generateKeys();
  const plugin = (v: string) => `export const meta = { name: 'signed', version: '${v}' };\nhost.ran();\nexport function v() { return '${v}'; }\n`;

  it('loads signed plugins and rejects unsigned, tampered and stranger-signed ones before any code runs', async () => {
    const dir = await tempDir();
    const ran: string[] = [];
    const write = async (name: string, text: string, signer?: string) => {
      const f = path.join(dir, `${name}.js`);
      await writeFile(f, text.replace("'signed'", `'${name}'`));
      if (signer) await writeFile(`${f}.sig`, signPlugin(Buffer.from(text.replace("'signed'", `'${name}'`)), signer));
    };
    await write('good', plugin('1'), keys.privateKey);
    await write('unsigned', plugin('1'));
    await write('stranger', plugin('1'), stranger.privateKey);
    await write('tampered', plugin('1'), keys.privateKey);
    await writeFile(path.join(dir, 'tampered.js'), plugin('1').replace("'signed'", "'tampered'").replace("return '1'", "return 'evil'"));
    await using host = await createHost({ dir, trust: { publicKeys: [keys.publicKey] }, capabilities: { ran: () => void ran.push('x') } });
    const by = Object.fromEntries(host.plugins.map((p) => [p.file.replace('.js', ''), p]));
    assert.equal(by.good?.status, 'ready');
    assert.equal(by.good?.signedBy, keys.fingerprint);
    assert.match(by.unsigned?.error?.message ?? '', /ERR_SIGNATURE.*is not signed/);
    assert.match(by.stranger?.error?.message ?? '', new RegExp(`ERR_SIGNATURE.*signed by key ${stranger.fingerprint}, which is not trusted`));
    assert.match(by.tampered?.error?.message ?? '', /ERR_SIGNATURE.*changed after it was signed/);
    // Its serving instance and its standby, both built before createHost resolves.
    assert.equal(ran.length, 2, 'only the good plugin ran any code');
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the signed version running when a tampered file arrives, and takes a properly signed update', async () => {
    const dir = await tempDir();
    const f = path.join(dir, 'signed.js');
    await writeFile(f, plugin('1'));
    await writeFile(`${f}.sig`, signPlugin(Buffer.from(plugin('1')), keys.privateKey));
    await using host = await createHost({ dir, watch: { debounceMs: 50 }, trust: { publicKeys: [keys.publicKey], requireSignature: true }, capabilities: { ran: () => undefined } });
    const proxy = host.get<{ v(): string }>('signed');
    const failed = next(host, 'failed', 'signed');
    await writeFile(f, plugin('2'));
    const e = await failed;
    assert.equal((e.error as TerrariumError).code, 'ERR_SIGNATURE');
    assert.equal(proxy.v(), '1');

    const reloaded = next(host, 'reloaded', 'signed');
    await writeFile(`${f}.sig`, signPlugin(Buffer.from(plugin('2')), keys.privateKey));
    await reloaded;
    assert.equal(proxy.v(), '2');
    await rm(dir, { recursive: true, force: true });
  });

  it('rejects a bad trust option with ERR_OPTIONS', async () => {
    await expectCode(() => createHost({ dir: '.', trust: { publicKeys: ['not a key'] } }), 'ERR_OPTIONS');
    await expectCode(() => createHost({ dir: '.', trust: { publicKeys: [], requireSignature: true } }), 'ERR_OPTIONS');
  });
});

describe('lifecycle options', () => {
  it('rejects bad watch, health, quarantine, logRate and apiVersions options with ERR_OPTIONS', async () => {
    await expectCode(() => createHost({ dir: '.', watch: { debounceMs: -1 } }), 'ERR_OPTIONS');
    await expectCode(() => createHost({ dir: '.', health: { intervalMs: 0 } }), 'ERR_OPTIONS');
    await expectCode(() => createHost({ dir: '.', quarantine: { maxViolations: 0 } }), 'ERR_OPTIONS');
    await expectCode(() => createHost({ dir: '.', quarantine: { often: 1 } as never }), 'ERR_OPTIONS');
    await expectCode(() => createHost({ dir: '.', logRate: { lines: 'many' } as never }), 'ERR_OPTIONS');
    await expectCode(() => createHost({ dir: '.', apiVersions: [] }), 'ERR_OPTIONS');
  });

  it('survives a listener that throws', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'a.js'), `export function f() { return 1; }\n`);
    const errors: string[] = [];
    await using host = await createHost({ dir, watch: { debounceMs: 30 }, logger: { debug() {}, info() {}, warn() {}, error: (_o, m) => void errors.push(m ?? '') } });
    host.on('loaded', () => {
      throw new Error('listener bug');
    });
    const loaded = next(host, 'loaded', 'b');
    await writeFile(path.join(dir, 'b.js'), `export function f() { return 2; }\n`);
    await loaded;
    assert.equal(host.get<{ f(): number }>('b').f(), 2);
    assert.ok(errors.some((m) => /listener threw: listener bug/.test(m)));
    await rm(dir, { recursive: true, force: true });
  });
});
