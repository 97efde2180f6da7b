/**
 * Host code never runs without stack headroom (src/binding/headroom.ts). A plugin (or the
 * application calling it) that used up nearly all of V8's stack and then calls a capability must
 * get ERR_PLUGIN_STACK before any of the capability's host code runs, never a capability that ran
 * half way (the vm2 attack "exhaust the stack so that code you do not control fails").
 *
 * Each case varies the depth over a range with a fine step around the depth where calls start to
 * fail (found by bisection in the same run), so the worst depth, whatever V8 version or tier, is
 * covered. The capability does several steps (a push, JSON work, another push) and the test
 * asserts that each call ran all of them or none.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHost, type Host } from 'terrarium-plugins';
import { HOST_STACK_RESERVE_BYTES, freeStackBytes } from '../dist/binding/headroom.js';

type Api = Record<string, (...a: unknown[]) => unknown>;
const SLOW = { timeout: 300_000 };
/** The largest stackBytes any engine allows (README: QuickJS 4 MiB). */
const MAX_STACK = 4 * 1024 * 1024;

const JS = `
export function f(depth) { const down = (n) => (n === 0 ? host.step('x') : down(n - 1)); return down(depth); }
export function app() { return host.step('x'); }
`;
// fengari runs Lua calls in one loop; only calls through C (gsub callbacks here) nest on V8's
// stack, at most ~200 deep. The plugin reaches further by re-entering itself through a
// capability (plugin -> host.again -> plugin), which pads the stack by a few bytes of its choosing.
const LUA = `
local function nest(n, k, pad)
  if n == 0 then
    if k == 0 then return host.step('x') end
    return host.again(k - 1, pad)
  end
  local r
  string.gsub('a', 'a', function() r = nest(n - 1, k, pad) end)
  return r
end
return {
  f = function(k, pad) return nest(150, k, pad) end,
  app = function() return host.step('x') end,
}
`;

const noop = () => 0;
/**
 * What a capability's own code is promised: the reserve checked when the plugin calls in, less
 * the host's own frames up to the capability's first line (argument copy, proxy).
 */
const GUARANTEE = HOST_STACK_RESERVE_BYTES - 16 * 1024;
const guaranteeSlots = new Array<number>(GUARANTEE / 8).fill(0);
/** Whether GUARANTEE bytes of V8 stack are free here. */
function guaranteeFree(): boolean {
  try {
    Reflect.apply(noop, undefined, guaranteeSlots);
    return true;
  } catch {
    return false;
  }
}

describe('stack headroom for host code (limits.stackBytes at its maximum)', () => {
  let dir: string;
  let host: Host;
  /** What the capability did in the current call: ['a', 'b'] or [] are the only right answers. */
  let steps: string[] = [];
  /** A capability started with less than the documented guarantee free (since the case began). */
  let startedTight = false;
  beforeEach(() => {
    startedTight = false;
  });

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'terrarium-stack-'));
    await writeFile(path.join(dir, 'p.js'), JS);
    await writeFile(path.join(dir, 'q.lua'), LUA);
    const step = (x: string) => {
      if (!guaranteeFree()) startedTight = true;
      steps.push('a');
      let deep: unknown = x;
      for (let i = 0; i < 40; i++) deep = { deep, list: [1, 2, 3] };
      const copy = JSON.parse(JSON.stringify(deep)) as { list: number[] };
      steps.push(`b${copy.list.length}`);
      return 'done';
    };
    const again = (k: number, pad: number) => Reflect.apply(() => (host.get<Api>('q').f as (k: number, p: number) => unknown)(k, pad), undefined, new Array(pad));
    host = await createHost({
      dir,
      capabilities: { step, again },
      limits: { stackBytes: MAX_STACK, callTimeoutMs: 10_000, loadTimeoutMs: 10_000, memoryBytes: 64 * 1024 * 1024 },
      quarantine: { maxViolations: Infinity },
    });
  });
  after(async () => {
    await host?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Run one attack call; returns 'ok' or the error code, and checks the capability ran all or nothing. */
  /**
   * `luaOverflowThrown`: on Node 24 a Lua plugin nested through itself up to V8's limit can see
   * fengari's own error path run out of stack and report ERR_PLUGIN_THROWN ("(a Lua function)")
   * instead of ERR_PLUGIN_STACK (docs/limits.md, Known limitations); the capability still runs all
   * or nothing, which is what this checks in every case.
   */
  async function attempt(run: () => unknown, what: string, allowAppOverflow = false, luaOverflowThrown = false): Promise<string> {
    steps = [];
    let outcome: string;
    try {
      const v = await run();
      assert.equal(v, 'done', what);
      outcome = 'ok';
    } catch (e) {
      const err = e as { code?: string; message?: string };
      // Only when the application itself calls with no stack left may its own call fail as any
      // JS call would there (the host's proxy cannot even start); never from inside a plugin.
      if (allowAppOverflow && e instanceof RangeError && steps.length === 0) outcome = 'app-overflow';
      else if (luaOverflowThrown && err.code === 'ERR_PLUGIN_THROWN' && /\(a Lua function\)/.test(err.message ?? '')) outcome = 'ERR_PLUGIN_STACK';
      else {
        assert.equal(err.code, 'ERR_PLUGIN_STACK', `${what}: ${err.message}`);
        outcome = 'ERR_PLUGIN_STACK';
      }
    }
    assert.ok(steps.length === 0 || (steps.length === 2 && steps[1] === 'b3'), `${what}: the capability ran part way: ${JSON.stringify(steps)}`);
    await host.ready();
    return outcome;
  }

  /** Largest x in [lo, hi] for which ok(x), assuming ok is true below a threshold and false above. */
  async function boundary(lo: number, hi: number, ok: (x: number) => Promise<boolean>): Promise<number> {
    while (lo < hi) {
      const m = Math.ceil((lo + hi) / 2);
      if (await ok(m)) lo = m;
      else hi = m - 1;
    }
    return lo;
  }

  /**
   * Every capability that ran started with most of the reserve free: it is checked when the
   * plugin calls in, and the host's own frames up to the capability's first line (argument
   * copy, proxy) take a little of it.
   */
  function assertReserveKept(): void {
    assert.equal(startedTight, false, `a capability started with less than ${GUARANTEE} bytes of stack free`);
  }

  /** Every `coarse`th x of a range, and every `step`th x within `fine` of the boundary. */
  function sweep(from: number, to: number, coarse: number, edge: number, fine: number, step = 1): number[] {
    const xs = new Set<number>();
    for (let x = from; x <= to; x += coarse) xs.add(x);
    for (let x = edge - fine; x <= edge + fine; x += step) if (x >= 0) xs.add(x);
    return [...xs].sort((a, b) => a - b);
  }

  it('a JavaScript plugin recursing to any depth before a capability call gets ERR_PLUGIN_STACK or a capability that ran whole', SLOW, async () => {
    const f = (d: number) => () => host.get<Api>('p').f!(d);
    const edge = await boundary(0, 20_000, async (d) => (await attempt(f(d), `depth ${d}`)) === 'ok');
    assert.ok(edge > 100, `a capability call succeeds at ordinary depths (it failed from depth ${edge + 1})`);
    const seen = new Set<string>();
    for (const d of sweep(1500, 3000, 50, edge, 60)) seen.add(await attempt(f(d), `depth ${d}`));
    assert.deepEqual([...seen].sort(), ['ERR_PLUGIN_STACK', 'ok']);
    assert.equal(await attempt(f(10), 'after the attack'), 'ok');
    assertReserveKept();
  });

  it('a Lua plugin nesting through itself and a capability gets ERR_PLUGIN_STACK or a capability that ran whole', SLOW, async () => {
    // Re-entries k (each ~150 levels of C nesting) coarsely, then the pad in 8-byte slots finely.
    const f = (k: number, pad: number) => () => host.get<Api>('q').f!(k, pad);
    const ks = await boundary(0, 30, async (k) => (await attempt(f(k, 0), `${k} re-entries`, false, true)) === 'ok');
    const seen = new Set<string>();
    for (const k of [ks, ks + 1]) {
      const edge = await boundary(0, 60_000, async (pad) => (await attempt(f(k, pad), `${k} re-entries, pad ${pad}`, false, true)) === 'ok');
      for (const pad of sweep(0, 60_000, 5000, edge, 1200, 16)) seen.add(await attempt(f(k, pad), `${k} re-entries, pad ${pad}`, false, true));
    }
    assert.ok(seen.has('ok') && seen.has('ERR_PLUGIN_STACK'), JSON.stringify([...seen]));
    assert.equal(await attempt(f(0, 0), 'after the attack'), 'ok');
    assertReserveKept();
  });

  for (const plugin of ['p', 'q']) {
    it(`an application calling ${plugin === 'p' ? 'a JavaScript' : 'a Lua'} plugin with little stack left never gets a capability that ran half way`, SLOW, async () => {
      // The application's own frames use the stack: `slots` arguments of 8 bytes below the call.
      const call = (slots: number) => () => Reflect.apply(() => host.get<Api>(plugin).app!(), undefined, new Array(slots));
      const total = freeStackBytes() / 8;
      const edge = await boundary(0, total, async (s) => (await attempt(call(s), `${s} slots used`, true)) === 'ok');
      const seen = new Set<string>();
      for (const s of sweep(Math.max(0, edge - 40_000), Math.min(total, edge + 40_000), 5000, edge, 1200, 16)) seen.add(await attempt(call(s), `${s} slots used`, true));
      assert.ok(seen.has('ok') && seen.has('ERR_PLUGIN_STACK'), JSON.stringify([...seen]));
      assertReserveKept();
    });
  }
});
