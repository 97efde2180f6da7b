/**
 * One conformance suite for every engine: each engine's test file calls `runConformance` with
 * the same fixture plugins written in its own language, then adds engine-specific cases.
 *
 * Fixture contract (every engine supplies all of them):
 * - basic: meta {name:'basic', version:'1.2.3', apiVersion:1, description:'conformance'};
 *   echo(x) -> x; add(a,b) -> a+b; concat(a,b) -> a..b; counter() -> module-level counter + 1;
 *   fail(msg) throws msg from line `lines.fail`; returnFunction() -> a function; noop() -> nothing;
 *   throwTable() throws {code: 42}.
 * - caps: readKv(k) -> host.kv.get(k); readConfig() -> host.config; logIt(msg) -> host.log.info(msg), true;
 *   printIt(msg) -> console.log / print, true; fetchUser(id) -> result of the async host.users.fetch(id);
 *   hostThrows() -> host.fail(); passFunction() -> host.kv.set('k', <function>);
 *   mutateHost() -> tries to change `host`, returns 'mutated' if that did not raise.
 * - spin: spin() loops forever; ok() -> 'ok'; tick() -> module-level counter + 1.
 * - recurse: recurse(n) recurses without bound; viaHost(n) -> host.reenter(n + 1) inside try/pcall, a
 *   capability that calls viaHost again (recursion through the host), returning 'caught' on error; ok() -> 'ok'.
 * - hog: hog() allocates without bound; ok() -> 'ok'.
 * - loadspin: loops forever at top level.
 * - syntax: a syntax error at line `lines.syntax`.
 * - swallow: swallow() tries to catch the timeout around an endless loop, returns 'escaped'.
 * - badname: meta.name 'has spaces!'; ok() -> 'ok'.
 * - fnmeta: meta { name: 'fnmeta', hook: <a function> }; ok() -> 'ok'.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHost, TerrariumError, type Host, type Logger } from 'terrarium-plugins';
import type { EngineDescriptor } from 'terrarium-plugins/engine';

export type FixtureName = 'basic' | 'caps' | 'spin' | 'recurse' | 'hog' | 'loadspin' | 'syntax' | 'swallow' | 'badname' | 'fnmeta';

/**
 * The engine under test. `engines` is what the host is given (`createHost({ engines })`; the
 * built-ins when omitted), so an outside engine runs the same suite. `skip` names cases where the
 * engine really differs, each with the reason (`{ 'case name': 'reason' }`).
 */
export interface EngineSpec {
  /** The engine name the host reports for these plugins. */
  engine: string;
  ext: string;
  /** The fixture sources in the engine's language (see the contract above). */
  fixtures: Record<FixtureName, string>;
  lines: { fail: number; syntax: number };
  engines?: readonly EngineDescriptor[];
  skip?: Readonly<Record<string, string>>;
}

interface BasicApi {
  echo(x: unknown): unknown;
  add(a: number, b: number): number;
  concat(a: string, b: string): string;
  counter(): number;
  fail(msg: string): never;
  returnFunction(): unknown;
  noop(): void;
  throwTable(): never;
}
interface CapsApi {
  readKv(k: string): unknown;
  readConfig(): unknown;
  logIt(msg: string): boolean;
  printIt(msg: string): boolean;
  fetchUser(id: number): Promise<unknown>;
  hostThrows(): unknown;
  passFunction(): unknown;
  mutateHost(): unknown;
}
interface OkApi {
  ok(): string;
}

export interface LogLine {
  level: string;
  obj: Record<string, unknown>;
  msg: string | undefined;
}

/** A real Logger that records what it is given. */
export function recordingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Write fixture sources into a fresh directory; returns its path. */
export async function fixtureDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'terrarium-'));
  for (const [name, src] of Object.entries(files)) await writeFile(path.join(dir, name), src);
  return dir;
}

/** Assert that `fn` throws (or rejects with) a TerrariumError of `code`; returns it. */
export async function expectCode(fn: () => unknown, code: string): Promise<TerrariumError> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof TerrariumError, `expected a TerrariumError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}, but nothing was thrown`);
}

export const LIMITS = { memoryBytes: 32 * 1024 * 1024, callTimeoutMs: 300, loadTimeoutMs: 500, stackBytes: 256 * 1024 };

/** One case's own host: a fresh fixtures directory holding only the fixtures the case uses. */
export interface CaseHost {
  host: Host;
  dir: string;
  log: ReturnType<typeof recordingLogger>;
  /** What the plugins passed to host.kv.set. */
  kvSet: unknown[];
}

export function runConformance(spec: EngineSpec): void {
  const file = (n: FixtureName) => `${n}${spec.ext}`;
  const names = new Set<string>();

  const open = async (fixtures: readonly FixtureName[]): Promise<CaseHost> => {
    const dir = await fixtureDir(Object.fromEntries(fixtures.map((n) => [file(n), spec.fixtures[n]])));
    const log = recordingLogger();
    const kvSet: unknown[] = [];
    let self: Host | undefined;
    try {
      const host = await createHost({
        dir,
        limits: LIMITS,
        ...(spec.engines ? { engines: spec.engines } : {}),
        // These cases break limits many times in a row on purpose: crash-only restarts, not quarantine.
        quarantine: { maxViolations: Infinity },
        // hog must meet its memory cap before its time budget, even on a loaded machine.
        pluginLimits: { hog: { callTimeoutMs: 20_000 } },
        logger: log,
        config: { caps: { greeting: 'hello', retries: 3 } },
        capabilities: {
          kv: { get: (k: string) => (k === 'missing' ? undefined : `value-of-${k}`), set: (k: string, v: unknown) => kvSet.push([k, v]) },
          users: { fetch: async (id: number) => ({ id, name: `user${id}` }) },
          fail: () => {
            throw new Error('nope');
          },
          reenter: (n: number) => self?.get<{ viaHost(n: number): unknown }>('recurse').viaHost(n),
        },
      });
      self = host;
      return { host, dir, log, kvSet };
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
  };

  /**
   * One case on a fresh host with `fixtures`. A case the engine declares in `spec.skip` still runs,
   * as a check that the engine really differs there: it passes when the case fails, and fails
   * (asking for the entry to be removed) once the engine conforms.
   */
  const test = (name: string, fixtures: readonly FixtureName[], body: (c: CaseHost) => unknown): void => {
    assert.ok(!names.has(name), `two conformance cases named "${name}"`);
    names.add(name);
    const run = async () => {
      const c = await open(fixtures);
      try {
        await body(c);
      } finally {
        await c.host.close();
        await rm(c.dir, { recursive: true, force: true });
      }
    };
    const reason = spec.skip?.[name];
    if (reason === undefined) it(name, run);
    else
      it(`${name} [declared difference: ${reason}]`, async () => {
        await assert.rejects(run, (e: unknown) => e instanceof Error, `"${name}" now passes on ${spec.engine}: remove it from the skip list`);
      });
  };

  describe(`${spec.engine} conformance`, () => {
    describe('loading and reflection', () => {
      test('lists every plugin with its engine, status and exports', ['basic'], async ({ host }) => {
        const basic = host.plugins.find((p) => p.name === 'basic');
        assert.ok(basic);
        assert.equal(basic.engine, spec.engine);
        assert.equal(basic.status, 'ready');
        assert.equal(basic.file, file('basic'));
        const names = basic.exports.map((e) => e.name).sort();
        assert.deepEqual(names, ['add', 'concat', 'counter', 'echo', 'fail', 'noop', 'returnFunction', 'throwTable']);
        const add = basic.exports.find((e) => e.name === 'add');
        assert.deepEqual(add, { name: 'add', kind: 'function', arity: 2, async: false });
      });

      test('reads metadata', ['basic'], async ({ host }) => {
        const basic = host.plugins.find((p) => p.name === 'basic');
        assert.deepEqual(basic?.meta, { name: 'basic', version: '1.2.3', apiVersion: 1, description: 'conformance' });
      });

      test('reports a syntax error as ERR_PLUGIN_LOAD with file:line, and loads the others', ['basic', 'syntax'], async ({ host }) => {
        const bad = host.plugins.find((p) => p.file === file('syntax'));
        assert.equal(bad?.status, 'failed');
        assert.equal(bad?.error?.code, 'ERR_PLUGIN_LOAD');
        assert.equal(bad?.error?.line, spec.lines.syntax);
        assert.match(bad?.error?.message ?? '', new RegExp(`${file('syntax')}:${spec.lines.syntax}`));
        assert.equal(host.plugins.find((p) => p.name === 'basic')?.status, 'ready');
      });

      test('fails a plugin with invalid metadata with ERR_PLUGIN_LOAD saying what to fix', ['badname', 'fnmeta'], async ({ host }) => {
        const badname = host.plugins.find((x) => x.file === file('badname'));
        assert.equal(badname?.status, 'failed');
        assert.equal(badname?.error?.code, 'ERR_PLUGIN_LOAD');
        assert.match(badname?.error?.message ?? '', /meta\.name "has spaces!"/);
        const fnmeta = host.plugins.find((x) => x.file === file('fnmeta'));
        assert.equal(fnmeta?.status, 'failed');
        assert.equal(fnmeta?.error?.code, 'ERR_PLUGIN_LOAD');
        assert.match(fnmeta?.error?.message ?? '', /meta\.hook/);
      });

      test('ends an endless loop at load with ERR_PLUGIN_TIMEOUT', ['loadspin'], async ({ host }) => {
        const p = host.plugins.find((x) => x.file === file('loadspin'));
        assert.equal(p?.status, 'failed');
        assert.equal(p?.error?.code, 'ERR_PLUGIN_TIMEOUT');
      });

      test('refuses calls to a failed plugin with ERR_PLUGIN_UNAVAILABLE', ['syntax'], async ({ host }) => {
        await expectCode(() => host.get<OkApi>('syntax').ok(), 'ERR_PLUGIN_UNAVAILABLE');
      });

      test('finds plugins by the functions they export', ['basic', 'spin'], async ({ host }) => {
        const names = host.implementing('spin', 'ok').map((p) => host.plugins.find((x) => host.get(x.name) === p)?.name);
        assert.deepEqual(names, ['spin']);
        assert.equal(host.implementing('echo', 'nothing-exports-this').length, 0);
      });
    });

    describe('calls and marshalling', () => {
      const roundTrip: [string, unknown][] = [
        ['null', null],
        ['true', true],
        ['false', false],
        ['an integer', 42],
        ['a negative integer', -7],
        ['a float', 3.25],
        ['negative zero', -0],
        ['a number past 2^31', 2 ** 31 + 5],
        ['a large integer', 2 ** 40 + 1],
        ['the largest safe integer', Number.MAX_SAFE_INTEGER],
        ['a tiny float', 5e-324],
        ['NaN', NaN],
        ['Infinity', Infinity],
        ['-Infinity', -Infinity],
        ['an ASCII string', 'hello'],
        ['an empty string', ''],
        ['a Unicode string', 'héllo wörld ✓ 日本語 🦀'],
        ['a string with NUL', 'a\u0000b'],
        ['a long string', 'abc'.repeat(5000)],
        ['an array', [1, 'two', true, null]],
        ['a nested object', { a: { b: { c: [1, { d: 'e' }] } } }],
        ['an object with odd keys', { 'x-y': 1, 'with space': 2, '': 3, 'ü': 4 }],
        ['a Uint8Array', new Uint8Array([0, 1, 2, 254, 255])],
        ['an empty Uint8Array', new Uint8Array(0)],
      ];
      for (const [label, value] of roundTrip) {
        test(`copies ${label} in and out unchanged`, ['basic'], async ({ host }) => {
          assert.deepEqual(host.get<BasicApi>('basic').echo(value), value);
        });
      }

      test('copies an empty object as an object and an empty array as an array', ['basic'], async ({ host }) => {
        const b = host.get<BasicApi>('basic');
        assert.deepEqual(b.echo({}), {});
        assert.deepEqual(b.echo([]), []);
      });

      test('copies own enumerable string keys only: symbol keys and non-enumerable properties stay behind', ['basic'], async ({ host }) => {
        const v = Object.assign(Object.create(null) as Record<string | symbol, unknown>, { own: 2, [Symbol('s')]: 3 });
        Object.defineProperty(v, 'hidden', { value: 4, enumerable: false });
        assert.deepEqual(host.get<BasicApi>('basic').echo(v), { own: 2 });
      });

      test('passes several arguments and returns a computed value', ['basic'], async ({ host }) => {
        const b = host.get<BasicApi>('basic');
        assert.equal(b.add(2, 3), 5);
        assert.equal(b.add(0.5, 0.25), 0.75);
        assert.equal(b.concat('Live on time, ', 'emit no evil'), 'Live on time, emit no evil');
      });

      test('returns undefined from an export that returns nothing', ['basic'], async ({ host }) => {
        assert.equal(host.get<BasicApi>('basic').noop(), undefined);
      });

      test('keeps module-level state between calls', ['basic'], async ({ host }) => {
        const b = host.get<BasicApi>('basic');
        const first = b.counter();
        assert.equal(b.counter(), first + 1);
        assert.equal(b.counter(), first + 2);
      });

      test('gives copies: changing a result does not change the plugin, nor the argument', ['basic'], async ({ host }) => {
        const b = host.get<BasicApi>('basic');
        const arg = { list: [1, 2, 3] };
        const out = b.echo(arg) as { list: number[] };
        assert.notEqual(out, arg);
        out.list.push(4);
        assert.deepEqual(arg, { list: [1, 2, 3] });
      });

      test('returns plain host objects with the host prototype', ['basic'], async ({ host }) => {
        const out = host.get<BasicApi>('basic').echo({ a: [1] }) as object;
        assert.equal(Object.getPrototypeOf(out), Object.prototype);
        assert.equal(Object.getPrototypeOf((out as { a: unknown[] }).a), Array.prototype);
      });

      test('carries a __proto__ key as plain data without polluting host prototypes', ['basic'], async ({ host }) => {
        const evil = JSON.parse('{"__proto__": {"polluted": "yes"}, "a": 1}') as object;
        const out = host.get<BasicApi>('basic').echo(evil) as Record<string, unknown>;
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
        assert.equal(Object.getPrototypeOf(out), Object.prototype);
        assert.deepEqual(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, { polluted: 'yes' });
      });

      test('rejects a function argument with ERR_MARSHAL naming the path', ['basic'], async ({ host }) => {
        const e = await expectCode(() => host.get<BasicApi>('basic').echo({ headers: ['a', 'b', () => 1] }), 'ERR_MARSHAL');
        assert.match(e.message, /\$\.headers\[2\]/);
        assert.match(e.message, /plugin "basic" export "echo"/);
      });

      test('rejects class instances, symbols, bigints and cycles with ERR_MARSHAL', ['basic'], async ({ host }) => {
        const b = host.get<BasicApi>('basic');
        await expectCode(() => b.echo(new Date()), 'ERR_MARSHAL');
        await expectCode(() => b.echo(new Map()), 'ERR_MARSHAL');
        await expectCode(() => b.echo(Symbol('s')), 'ERR_MARSHAL');
        await expectCode(() => b.echo(10n), 'ERR_MARSHAL');
        const cyc: Record<string, unknown> = { a: 1 };
        cyc.self = cyc;
        const e = await expectCode(() => b.echo(cyc), 'ERR_MARSHAL');
        assert.match(e.message, /cycle/);
      });

      test('rejects a getter that throws with ERR_MARSHAL', ['basic'], async ({ host }) => {
        const v = {
          get bad() {
            throw new Error('getter exploded');
          },
        };
        const e = await expectCode(() => host.get<BasicApi>('basic').echo(v), 'ERR_MARSHAL');
        assert.match(e.message, /\$\.bad/);
      });

      test('rejects values nested deeper than the documented depth', ['basic'], async ({ host }) => {
        let deep: unknown = 'leaf';
        for (let i = 0; i < 70; i++) deep = [deep];
        await expectCode(() => host.get<BasicApi>('basic').echo(deep), 'ERR_MARSHAL');
      });

      test('rejects a returned function with ERR_MARSHAL', ['basic'], async ({ host }) => {
        const e = await expectCode(() => host.get<BasicApi>('basic').returnFunction(), 'ERR_MARSHAL');
        assert.match(e.message, /returnFunction/);
      });

      test('names an unknown export with ERR_NO_EXPORT and lists the real ones', ['basic'], async ({ host }) => {
        const e = await expectCode(() => (host.get('basic') as unknown as { nope(): void }).nope(), 'ERR_NO_EXPORT');
        assert.match(e.message, /nope/);
        assert.match(e.message, /echo/);
      });

      test('names an unknown plugin with ERR_NO_PLUGIN', [], async ({ host }) => {
        await expectCode(() => host.get('no-such-plugin'), 'ERR_NO_PLUGIN');
      });
    });

    describe('errors thrown by plugins', () => {
      test('reports a throw as ERR_PLUGIN_THROWN with its message and file:line', ['basic'], async ({ host }) => {
        const e = await expectCode(() => host.get<BasicApi>('basic').fail('boom'), 'ERR_PLUGIN_THROWN');
        assert.match(e.message, /boom/);
        assert.equal(e.plugin, 'basic');
        assert.equal(e.exportName, 'fail');
        assert.equal(e.line, spec.lines.fail);
        assert.match(e.pluginStack ?? e.message, new RegExp(`${file('basic')}:${spec.lines.fail}`));
      });

      test('keeps a thrown non-error value', ['basic'], async ({ host }) => {
        const e = await expectCode(() => host.get<BasicApi>('basic').throwTable(), 'ERR_PLUGIN_THROWN');
        assert.match(e.message, /42/);
      });

      test('keeps serving after a throw, with its state intact', ['basic'], async ({ host }) => {
        const b = host.get<BasicApi>('basic');
        const n = b.counter();
        await expectCode(() => b.fail('again'), 'ERR_PLUGIN_THROWN');
        assert.equal(b.counter(), n + 1);
      });
    });

    describe('capabilities', () => {
      test('calls a sync host function and copies its result in', ['caps'], async ({ host }) => {
        assert.equal(host.get<CapsApi>('caps').readKv('color'), 'value-of-color');
      });

      test('maps a missing host value to the engine nil/undefined', ['caps'], async ({ host }) => {
        const v = host.get<CapsApi>('caps').readKv('missing');
        assert.ok(v === undefined || v === null);
      });

      test('reads the per-plugin config', ['caps'], async ({ host }) => {
        assert.deepEqual(host.get<CapsApi>('caps').readConfig(), { greeting: 'hello', retries: 3 });
      });

      test('sends host.log and console/print output to the logger with the plugin name', ['caps'], async ({ host, log }) => {
        const c = host.get<CapsApi>('caps');
        assert.equal(c.logIt('from-log'), true);
        assert.equal(c.printIt('from-print'), true);
        const fromLog = log.lines.find((l) => l.msg === 'from-log');
        const fromPrint = log.lines.find((l) => l.msg === 'from-print');
        assert.equal(fromLog?.level, 'info');
        assert.equal(fromLog?.obj.plugin, 'caps');
        assert.equal(fromPrint?.obj.plugin, 'caps');
      });

      test('awaits an async host function and returns a Promise', ['caps'], async ({ host }) => {
        const r = host.get<CapsApi>('caps').fetchUser(7);
        assert.ok(r instanceof Promise);
        assert.deepEqual(await r, { id: 7, name: 'user7' });
      });

      test('runs several async calls concurrently', ['caps'], async ({ host }) => {
        const c = host.get<CapsApi>('caps');
        const all = await Promise.all([1, 2, 3].map((id) => c.fetchUser(id)));
        assert.deepEqual(all, [1, 2, 3].map((id) => ({ id, name: `user${id}` })));
      });

      test('rejects a call still waiting on the host with ERR_PLUGIN_UNAVAILABLE when the host closes', ['caps'], async ({ dir }) => {
        const other = await createHost({
          files: [path.join(dir, file('caps'))],
          limits: LIMITS,
          ...(spec.engines ? { engines: spec.engines } : {}),
          capabilities: { kv: { get: () => 1, set: () => 1 }, users: { fetch: () => new Promise(() => {}) }, fail: () => 1, reenter: () => 1 },
        });
        const pending = other.get<CapsApi>('caps').fetchUser(1);
        await other.close();
        await expectCode(() => pending, 'ERR_PLUGIN_UNAVAILABLE');
      });

      test('turns a host function error into a plugin error with only its message', ['caps'], async ({ host }) => {
        const e = await expectCode(() => host.get<CapsApi>('caps').hostThrows(), 'ERR_PLUGIN_THROWN');
        assert.match(e.message, /nope/);
        assert.doesNotMatch(e.pluginStack ?? '', /node:internal|conformance\.ts/);
      });

      test('refuses to pass a plugin function to the host with ERR_MARSHAL', ['caps'], async ({ host, kvSet }) => {
        const before = kvSet.length;
        const e = await expectCode(() => host.get<CapsApi>('caps').passFunction(), 'ERR_MARSHAL');
        assert.match(e.message, /host\.kv\.set/);
        assert.equal(kvSet.length, before);
      });

      test('does not let a plugin change the host object', ['caps'], async ({ host }) => {
        assert.notEqual(host.get<CapsApi>('caps').mutateHost(), 'mutated');
        assert.equal(host.get<CapsApi>('caps').readKv('still'), 'value-of-still');
      });
    });

    describe('limits and crash-only recovery', () => {
      test('ends an endless loop with ERR_PLUGIN_TIMEOUT and recreates the instance', ['spin'], async ({ host }) => {
        const e = await expectCode(() => host.get<{ spin(): void }>('spin').spin(), 'ERR_PLUGIN_TIMEOUT');
        assert.equal(e.plugin, 'spin');
        await host.ready();
        assert.equal(host.get<OkApi>('spin').ok(), 'ok');
        const info = host.plugins.find((p) => p.name === 'spin');
        assert.equal(info?.counters.timeouts, 1);
        assert.equal(info?.counters.restarts, 1);
      });

      test('does not let a plugin swallow the timeout', ['swallow'], async ({ host }) => {
        await expectCode(() => host.get<{ swallow(): string }>('swallow').swallow(), 'ERR_PLUGIN_TIMEOUT');
        await host.ready();
      });

      test('ends runaway recursion with ERR_PLUGIN_STACK and recovers', ['recurse'], async ({ host }) => {
        await expectCode(() => host.get<{ recurse(n: number): number }>('recurse').recurse(0), 'ERR_PLUGIN_STACK');
        await host.ready();
        assert.equal(host.get<OkApi>('recurse').ok(), 'ok');
      });

      test('ends runaway recursion through host callbacks with ERR_PLUGIN_STACK, even if the plugin catches it', ['recurse'], async ({ host }) => {
        const e = await expectCode(() => host.get<{ viaHost(n: number): unknown }>('recurse').viaHost(0), 'ERR_PLUGIN_STACK');
        assert.equal(e.plugin, 'recurse');
        await host.ready();
        assert.equal(host.get<OkApi>('recurse').ok(), 'ok');
      });

      test('ends unbounded allocation with ERR_PLUGIN_MEMORY and recovers', ['hog'], async ({ host }) => {
        await expectCode(() => host.get<{ hog(): void }>('hog').hog(), 'ERR_PLUGIN_MEMORY');
        await host.ready();
        assert.equal(host.get<OkApi>('hog').ok(), 'ok');
      });

      test('resets module state when an instance is recreated, and only that instance', ['basic', 'spin'], async ({ host }) => {
        const spin = host.get<{ spin(): void; tick(): number }>('spin');
        const b = host.get<BasicApi>('basic');
        spin.tick();
        assert.equal(spin.tick(), 2);
        const n = b.counter();
        await expectCode(() => spin.spin(), 'ERR_PLUGIN_TIMEOUT');
        await host.ready();
        assert.equal(spin.tick(), 1);
        assert.equal(b.counter(), n + 1);
      });

      test('keeps every other plugin serving while one misbehaves', ['basic', 'caps', 'spin'], async ({ host }) => {
        const spin = host.get<{ spin(): void }>('spin');
        await expectCode(() => spin.spin(), 'ERR_PLUGIN_TIMEOUT');
        assert.equal(host.get<BasicApi>('basic').add(1, 1), 2);
        assert.equal(host.get<CapsApi>('caps').readKv('x'), 'value-of-x');
        await host.ready();
      });
    });

    it('declares skips only for cases that exist, each with a reason', () => {
      for (const [name, reason] of Object.entries(spec.skip ?? {})) {
        assert.ok(names.has(name), `skip names no case: "${name}"`);
        assert.ok(reason.trim().length > 0, `skip "${name}" has no reason`);
      }
    });
  });
}
