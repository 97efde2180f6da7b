/**
 * Regressions for the JavaScript sandbox (issue 11): every path that runs plugin code is bounded.
 * Each case names the class of attack. Each runs in a worker thread with its own host, because
 * what they guard against is a host that hangs for ever: the worker is terminated after
 * HANG_MS (a liveness bound far above every limit used here, never a timing assertion).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';

const HANG_MS = Number(process.env.TERRARIUM_HANG_MS ?? 60_000);
const LIMITS = { memoryBytes: 32 * 1024 * 1024, callTimeoutMs: 300, loadTimeoutMs: 1000, stackBytes: 256 * 1024 };
type Outcome = { value?: unknown; code?: string; message?: string };

/** Run `body` (see test/fixtures/js-sandbox/attack-worker.mjs) against a host over `files`. */
function attack<T = Record<string, Outcome>>(files: Record<string, string>, body: string, options: Record<string, unknown> = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./fixtures/js-sandbox/attack-worker.mjs', import.meta.url), {
      workerData: { files, options: { limits: LIMITS, quarantine: { maxViolations: Infinity }, ...options }, body },
    });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`the host did not answer within ${HANG_MS} ms: it hung`));
    }, HANG_MS);
    worker.once('message', (m: { result?: T; error?: string }) => {
      clearTimeout(timer);
      void worker.terminate();
      if (m.error) reject(new Error(m.error));
      else resolve(m.result as T);
    });
    worker.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** A plugin module with an `ok()` export next to the attack. */
const plugin = (src: string) => ({ 'p.js': `${src}\nlet n = 0;\nexport function ok() { return ++n; }\n` });
/** Call the attack export, then ok() twice: whether the instance was kept (state) or recreated. */
const attackThenOk = (fn: string, ...args: unknown[]) => `
  const a = await call('p', ${JSON.stringify(fn)}${args.map((x) => `, ${JSON.stringify(x)}`).join('')});
  await host.ready();
  const b = await call('p', 'ok');
  return { a, b };
`;

describe('js sandbox: the error path runs no plugin code', () => {
  const thrown = {
    'toJSON that never returns': `throw { toJSON() { for (;;) {} }, code: 7 };`,
    'enumerable getter that loops': `throw { get boom() { for (;;) {} }, code: 7 };`,
    'name getter that loops': `const e = new Error('seven'); Object.defineProperty(e, 'name', { get() { for (;;) {} } }); throw e;`,
    'Proxy whose ownKeys loops': `throw new Proxy({}, { ownKeys() { for (;;) {} }, get() { for (;;) {} }, getPrototypeOf() { for (;;) {} } });`,
    'Error.prototype.toJSON and message getter that loop': `Object.defineProperty(Error.prototype, 'toJSON', { value() { for (;;) {} } }); Object.defineProperty(Error.prototype, 'message', { get() { for (;;) {} } }); throw new TypeError();`,
  };
  for (const [what, body] of Object.entries(thrown)) {
    it(`error-path attack: a sync export throws an object with a ${what}: ERR_PLUGIN_THROWN, instance kept`, async () => {
      const r = await attack(plugin(`export function f() { ${body} }`), attackThenOk('f'));
      assert.equal(r.a!.code, 'ERR_PLUGIN_THROWN', r.a!.message);
      assert.equal(r.b!.value, 1);
    });
    it(`error-path attack: an async export rejects with an object with a ${what}: ERR_PLUGIN_THROWN`, async () => {
      const r = await attack(plugin(`export async function f() { await host.slow(); ${body} }`), attackThenOk('f'));
      assert.equal(r.a!.code, 'ERR_PLUGIN_THROWN', r.a!.message);
      assert.equal(r.b!.value, 1);
    });
  }

  it('error-path attack: a top-level throw of an object whose toJSON never returns fails the load, createHost returns', async () => {
    const r = await attack<{ status?: string; code?: string }>(
      { 'p.js': `throw { toJSON() { for (;;) {} } };\nexport function ok() { return 1; }\n` },
      `const p = host.plugins.find((x) => x.file === 'p.js'); return { status: p.status, code: p.error?.code };`,
    );
    assert.equal(r.status, 'failed');
    assert.equal(r.code, 'ERR_PLUGIN_LOAD');
  });

  it('error-path attack: selftest() throwing an object with a looping getter fails the self-test, createHost returns', async () => {
    const r = await attack<{ status?: string; code?: string }>(
      { 'p.js': `export function selftest() { throw { get x() { for (;;) {} } }; }\nexport function ok() { return 1; }\n` },
      `const p = host.plugins.find((x) => x.file === 'p.js'); return { status: p.status, code: p.error?.code };`,
      // Loading (copying meta.tests out) gets all the time and memory it needs: what is tested is the total self-test budget.
      { limits: { ...LIMITS, loadTimeoutMs: 30_000, memoryBytes: 64 * 1024 * 1024 } },
    );
    assert.equal(r.status, 'failed');
    assert.equal(r.code, 'ERR_SELFTEST');
  });

  it('error-path attack: a throw whose message says "stack overflow" or "out of memory" is ERR_PLUGIN_THROWN and keeps the instance (classified by engine signals, not text)', async () => {
    const r = await attack(
      plugin(`
export function so() { throw new Error('stack overflow'); }
export function oom() { throw new Error('out of memory'); }
export function forged() { const e = new RangeError('out of memory'); Object.defineProperty(e, 'name', { value: 'InternalError' }); throw e; }
export function hidden() { return typeof InternalError; }
`),
      `const out = {};
       for (const f of ['so', 'oom', 'forged']) out[f] = await call('p', f);
       out.hidden = await call('p', 'hidden');
       out.state = await call('p', 'ok');
       out.state2 = await call('p', 'ok');
       return out;`,
    );
    for (const f of ['so', 'oom', 'forged']) assert.equal(r[f]!.code, 'ERR_PLUGIN_THROWN', `${f}: ${r[f]!.message}`);
    assert.equal(r.hidden!.value, 'undefined');
    assert.deepEqual([r.state!.value, r.state2!.value], [1, 2]);
  });
});

describe('js sandbox: the settle path runs plugin code only under the deadline', () => {
  it('settle-path attack: an async export resolving to an object with a looping getter ends in ERR_PLUGIN_TIMEOUT', async () => {
    const r = await attack(plugin(`export async function f() { await host.slow(); return { get x() { for (;;) {} } }; }`), attackThenOk('f'));
    assert.equal(r.a!.code, 'ERR_PLUGIN_TIMEOUT', r.a!.message);
    assert.equal(r.b!.value, 1);
  });

  it('settle-path attack: tampered Map.prototype, Promise.prototype.then and Error setters do not reach the glue', async () => {
    const r = await attack(
      plugin(`
for (const k of ['get', 'set', 'has', 'delete']) Object.defineProperty(Map.prototype, k, { value() { for (;;) {} } });
Object.defineProperty(Error.prototype, 'name', { get() { return 'Error'; }, set() { for (;;) {} } });
Object.defineProperty(Error.prototype, 'code', { set() { for (;;) {} } });
Object.defineProperty(Array.prototype, '0', { set() { for (;;) {} } });
Object.defineProperty(Object.prototype, 'value', { __proto__: null, set() { for (;;) {} } });
Object.defineProperty(Object.prototype, 'get', { __proto__: null, get() { for (;;) {} } });
Promise.prototype.then = function () { for (;;) {} };
Function.prototype.call = function () { for (;;) {} };
Function.prototype.apply = function () { for (;;) {} };
export async function f(x) { const a = await host.slow(); return { a, x }; }
export async function g() { try { await host.fail(); } catch (e) { return 'caught ' + e.message; } }
`),
      `return { f: await call('p', 'f', [1, { y: 2 }]), g: await call('p', 'g') };`,
    );
    assert.deepEqual(r.f!.value, { a: 1, x: [1, { y: 2 }] });
    assert.equal(r.g!.value, 'caught host says no');
  });

  it('settle-path attack: a health() probe resolving to a looping getter cannot hang the host', async () => {
    const r = await attack<{ ok: Outcome; failures: number }>(
      plugin(`export async function health() { await host.slow(); return { get ok() { for (;;) {} } }; }`),
      `// Wait for the state: the first probe has broken an instance (a timeout, counted).
       while (host.plugins[0].counters.timeouts === 0) await new Promise((resolve) => setTimeout(resolve, 10));
       await host.ready();
       return { ok: await call('p', 'ok'), failures: host.plugins[0].counters.timeouts };`,
      { health: { intervalMs: 50, timeoutMs: 1000 } },
    );
    assert.ok(r.failures >= 1);
    assert.equal(typeof r.ok.value, 'number');
  });
});

describe('js sandbox: long built-ins are bounded', () => {
  it('built-in attack: [new Array(2**32-1)].flat() and flatMap are refused, not run in C for ever', async () => {
    const r = await attack(
      plugin(`
export function flat() { return [new Array(2 ** 32 - 1)].flat().length; }
export function flatDeep() { return [[[new Array(2 ** 32 - 1)]]].flat(Infinity).length; }
export function flatMap() { return [1].flatMap(() => new Array(2 ** 32 - 1)).length; }
export function ordinary() { return [[1, [2, [3, [4]]]].flat(), [1, [2, [3, [4]]]].flat(Infinity), [1, 2].flatMap((x) => [x, x * 10]), [, 1].flat()]; }
`),
      `return { flat: await call('p', 'flat'), flatDeep: await call('p', 'flatDeep'), flatMap: await call('p', 'flatMap'), ordinary: await call('p', 'ordinary') };`,
    );
    for (const f of ['flat', 'flatDeep', 'flatMap']) {
      assert.equal(r[f]!.code, 'ERR_PLUGIN_THROWN', `${f}: ${JSON.stringify(r[f])}`);
      assert.match(r[f]!.message!, /cannot be interrupted/);
    }
    assert.deepEqual(r.ordinary!.value, [[1, 2, [3, [4]]], [1, 2, 3, 4], [1, 10, 2, 20], [1]]);
  });

  it('built-in attack: JSON.stringify of a DAG 1000 levels deep is refused or interrupted, the host answers', async () => {
    const r = await attack(
      plugin(`
export function dag() { let a = []; for (let i = 0; i < 1000; i++) a = [a, a]; return JSON.stringify(a).length; }
export function ordinary() { return JSON.stringify({ a: [1, 'x', null, undefined, () => 1], d: { toJSON(k) { return 'k=' + k; } }, n: new Number(3) }, (k, v) => (k === 'x' ? undefined : v), 1); }
`),
      `const dag = await call('p', 'dag'); await host.ready(); return { dag, ordinary: await call('p', 'ordinary') };`,
    );
    // Refused (RangeError), or stopped by a limit (the walk is interruptible and recursive): all bounded.
    assert.ok(['ERR_PLUGIN_THROWN', 'ERR_PLUGIN_TIMEOUT', 'ERR_PLUGIN_STACK'].includes(r.dag!.code!), JSON.stringify(r.dag));
    assert.equal(r.ordinary!.value, JSON.stringify({ a: [1, 'x', null, undefined, () => 1], d: { toJSON: (k: string) => 'k=' + k }, n: new Number(3) }, (k, v) => (k === 'x' ? undefined : v), 1));
  });

  const granular = {
    'lastIndexOf over a 16 MiB string': `const s = 'x'.repeat(1 << 24); export function f() { let k = 0; for (;;) k += s.lastIndexOf('y'); }`,
    'indexOf over a 16 MiB typed array': `const b = new Uint8Array(1 << 24); export function f() { let k = 0; for (;;) k += b.indexOf(1); }`,
    'capability round trips of a 4 MiB string': `const s = 'x'.repeat(1 << 22); export function f() { for (;;) { try { host.echo(s); } catch (e) {} } }`,
    'sorting the largest array the guard allows': `const a = Array.from({ length: 1 << 20 }, (_, i) => (i * 7919) % 1000003); export function f() { for (;;) a.slice().sort(); }`,
  };
  for (const [what, src] of Object.entries(granular)) {
    it(`interrupt-granularity attack: a loop of ${what} ends in ERR_PLUGIN_TIMEOUT`, async () => {
      // 160 MiB: this test is about time. At 96 MiB the sort case has reached the memory cap first
      // (ERR_PLUGIN_MEMORY) since the fetch and timer glue was merged; what grows is not found yet.
      const r = await attack(plugin(src), attackThenOk('f'), { limits: { ...LIMITS, memoryBytes: 160 * 1024 * 1024, loadTimeoutMs: 30_000 } });
      assert.equal(r.a!.code, 'ERR_PLUGIN_TIMEOUT', r.a!.message);
      assert.equal(r.b!.value, 1);
    });
  }
});

describe('js sandbox: marshalling rules hold whatever the plugin does to its globals', () => {
  it('codec attack: a getter answering a plain value first and a 300-deep array second cannot pass the depth rule', async () => {
    const r = await attack(
      plugin(`
let reads = 0;
const deep = () => { let d = 'leaf'; for (let i = 0; i < 300; i++) d = [d]; return d; };
export function f() { return { get x() { return reads++ === 0 ? 1 : deep(); } }; }
`),
      `const a = await call('p', 'f'); return { a, depth: (() => { let d = 0, v = a.value?.x; while (Array.isArray(v)) { d++; v = v[0]; } return d; })() };`,
    );
    const out = r as unknown as { a: Outcome; depth: number };
    assert.ok(out.a.code === 'ERR_MARSHAL' || out.depth <= 64, JSON.stringify(out.a).slice(0, 200));
  });

  it('codec attack: a plugin that replaced JSON.stringify cannot send a result or capability argument 100,000 levels deep', async () => {
    const r = await attack(
      plugin(`
const deep = (n) => '['.repeat(n) + ']'.repeat(n);
JSON.stringify = () => deep(100000);
JSON.parse = () => 1;
export function result() { return [1]; }
export function arg() { try { host.echo([1]); return 'sent'; } catch (e) { return 'refused ' + (e && e.message); } }
`),
      `return { result: await call('p', 'result'), arg: await call('p', 'arg') };`,
    );
    assert.deepEqual(r.result!.value, [1]);
    assert.equal(r.arg!.value, 'sent');
  });
});

describe('js sandbox: host resources', () => {
  it('host-stack attack: a capability called on a nearly exhausted stack at the largest stackBytes never surfaces a host RangeError', async () => {
    const r = await attack(
      plugin(`
export function f() {
  let depth = 0;
  const down = (n) => { depth = n; try { return down(n + 1); } catch (e) { return host.echo('x'.repeat(1000)); } };
  return typeof down(0);
}
export function g() { const down = (n) => (n % 50 === 0 ? host.kv.get('k') : 0) + down(n + 1); return down(0); }
`),
      `const a = await call('p', 'f'); await host.ready(); const g = await call('p', 'g'); await host.ready(); return { a, g, b: await call('p', 'ok') };`,
      { limits: { ...LIMITS, stackBytes: 4 * 1024 * 1024 } },
    );
    for (const k of ['a', 'g']) {
      const o = r[k]!;
      assert.ok(o.code === undefined || ['ERR_PLUGIN_STACK', 'ERR_PLUGIN_THROWN'].includes(o.code), `${k}: ${JSON.stringify(o)}`);
      // The host's own stack overflow never reaches the plugin or the application as a RangeError.
      assert.doesNotMatch(`${o.message ?? ''} ${String(o.value)}`, /Maximum call stack/);
    }
    assert.equal(typeof r.b!.value, 'number');
  });

  it('log-flood attack: 60 lines of 8 MiB reach the logger bounded per line and per second, always as strings under host fields', async () => {
    const r = await attack<{ bytes: number; lines: number; types: string[]; fields: string[] }>(
      plugin(`
const big = 'y'.repeat(8 << 20);
export function flood() { for (let i = 0; i < 30; i++) { console.log(big); host.log.info(big); } return 1; }
export function forge() {
  JSON.stringify = () => '["info", {"msg": "forged", "level": 60, "plugin": "other", "__proto__": {"x": 1}}]';
  console.log({ a: 1 });
  host.log.info({ msg: 'forged', plugin: 'other' });
  return 1;
}
`),
      `await call('p', 'flood'); await call('p', 'forge');
       const mine = logs.filter((l) => l.obj?.event === 'plugin-log');
       return { bytes: mine.reduce((n, l) => n + (typeof l.msg === 'string' ? l.msg.length : 1e9), 0), lines: mine.length,
                types: [...new Set(mine.map((l) => l.msgType))], fields: [...new Set(mine.map((l) => l.obj.plugin))] };`,
      { logRate: { lines: 1000, intervalMs: 1000 } },
    );
    assert.deepEqual(r.types, ['string']);
    assert.deepEqual(r.fields, ['p']);
    assert.ok(r.bytes < 2 * 1024 * 1024, `the logger received ${r.bytes} bytes`);
  });

  it('transpile attack: a 450-byte .ts plugin that makes sucrase go exponential cannot hold the host past loadTimeoutMs', async () => {
    let src = 'x';
    for (let i = 0; i < 30; i++) src = `(a = (b = ${src}) => b) => a`;
    const r = await attack<{ status: string; code: string; other: Outcome }>(
      { 'slow.ts': `export const f = ${src};\nexport function ok() { return 1; }\n`, 'other.js': 'export function ok() { return 2; }\n' },
      `const p = host.plugins.find((x) => x.file === 'slow.ts'); return { status: p.status, code: p.error?.code, other: await call('other', 'ok') };`,
    );
    assert.equal(r.status, 'failed');
    assert.equal(r.code, 'ERR_PLUGIN_TIMEOUT');
    assert.equal(r.other.value, 2);
  });

  it('self-test attack: 100,000 declared cases cannot keep createHost from returning (total self-test budget)', async () => {
    const r = await attack<{ status: string; code: string }>(
      {
        'p.js': `export const meta = { tests: { slow: Array.from({ length: 100000 }, () => ({ args: [], expect: 1 })) } };
export function slow() { const t = Date.now(); while (Date.now() - t < 20) {} return 1; }\n`,
      },
      `const p = host.plugins.find((x) => x.file === 'p.js'); return { status: p.status, code: p.error?.code };`,
      // Loading (copying meta.tests out) gets all the time and memory it needs: what is tested is the total self-test budget.
      { limits: { ...LIMITS, loadTimeoutMs: 30_000, memoryBytes: 64 * 1024 * 1024 } },
    );
    assert.equal(r.status, 'failed');
    assert.equal(r.code, 'ERR_SELFTEST');
  });

  it('memory-retention attack: discarded instances are freed although the application keeps their errors and pending promises', async () => {
    const r = await attack<{ before: number; afterErrors: number; afterPending: number; codes: string[] }>(
      {
        'p.js': `const keep = [];
export function bomb() { for (;;) keep.push(new Uint8Array(1 << 20)); }
export async function growThenWait() { for (let i = 0; i < 24; i++) keep.push(new Uint8Array(1 << 20)); await host.hang(); }
export function ok() { return 1; }\n`,
      },
      `const { setFlagsFromString } = await import('node:v8');
       const { runInNewContext } = await import('node:vm');
       setFlagsFromString('--expose-gc');
       const gc = runInNewContext('gc');
       const rss = async () => { for (let i = 0; i < 3; i++) { gc(); await new Promise((r) => setImmediate(r)); } return process.memoryUsage().rss; };
       await call('p', 'ok');
       const before = await rss();
       const kept = [];
       for (let i = 0; i < 12; i++) { kept.push(await call('p', 'bomb')); await host.ready(); }
       const afterErrors = await rss();
       for (let i = 0; i < 12; i++) { kept.push(await call('p', 'growThenWait')); await host.ready(); }
       const afterPending = await rss();
       globalThis.kept = kept;
       return { before, afterErrors, afterPending, codes: [...new Set(kept.map((k) => k.code))] };`,
      { limits: { ...LIMITS, callTimeoutMs: 2000 } },
    );
    assert.deepEqual(r.codes.sort(), ['ERR_PLUGIN_MEMORY', 'ERR_PLUGIN_TIMEOUT']);
    // 12 discarded instances of 32 MiB each would be 384 MiB; allow the live one and a constant.
    const bound = 4 * LIMITS.memoryBytes;
    assert.ok(r.afterErrors - r.before < bound, `RSS grew by ${((r.afterErrors - r.before) / 2 ** 20).toFixed(0)} MiB with the errors retained`);
    assert.ok(r.afterPending - r.before < bound, `RSS grew by ${((r.afterPending - r.before) / 2 ** 20).toFixed(0)} MiB with pending promises retained`);
  });
});
