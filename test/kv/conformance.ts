/**
 * One conformance suite for every kv backend (memory, redis): `runKvConformance` takes a factory
 * that opens a fresh, empty store for each case, so no case depends on another. Real backend
 * differences are a declared skip list with reasons (`skip: { 'case name': 'reason' }`); a
 * skipped case still runs and must fail there, so an entry goes once the backend conforms.
 *
 * The store is reached through its capability (`store.capability.kv`, key-scoped per plugin by
 * capabilities/kv-scope.ts), as plugins reach it, and directly, as the gateway does.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KvStore } from '../../dist/gateway/kv/open.js';
import { withKeyScope } from '../../dist/capabilities/kv-scope.js';
import { eventually } from '../fixtures/gateway/helpers.js';

export interface KvSpec {
  backend: 'memory' | 'redis';
  /** A fresh store with no keys; the suite disposes it after the case. */
  open(): Promise<KvStore>;
  skip?: Readonly<Record<string, string>>;
}

type Kv = { get(k: unknown): unknown; set(k: unknown, v: unknown, ttlMs?: number): unknown; incr(k: unknown, by?: unknown, ttlMs?: number): number; delete(k: unknown): boolean };

/** `store.kv` as plugin `plugin` sees it under `host.kv`, with shared namespaces `shared`. */
export function asPlugin(store: KvStore, plugin: string, shared: readonly string[] = []): Kv {
  const entries = Object.entries(store.capability.kv).map(([name, fn]) => ({ path: ['kv', name], fn: fn as (...args: unknown[]) => unknown }));
  const scoped = withKeyScope(entries, () => plugin, () => ({ kv: { shared } }));
  return Object.fromEntries(scoped.map((c) => [c.path[1], c.fn])) as unknown as Kv;
}

export function runKvConformance(spec: KvSpec): void {
  const names = new Set<string>();
  const test = (name: string, body: (store: KvStore) => unknown): void => {
    assert.ok(!names.has(name), `two kv cases named "${name}"`);
    names.add(name);
    const run = async () => {
      const store = await spec.open();
      try {
        await body(store);
      } finally {
        store.dispose();
      }
    };
    const reason = spec.skip?.[name];
    if (reason === undefined) it(name, run);
    else
      it(`${name} [declared difference: ${reason}]`, async () => {
        await assert.rejects(run, (e: unknown) => e instanceof Error, `"${name}" now passes on ${spec.backend}: remove it from the skip list`);
      });
  };

  describe(`${spec.backend} kv conformance`, () => {
    test('reports its backend', (store) => {
      assert.equal(store.backend, spec.backend);
    });

    test('reads a key never set as undefined', (store) => {
      assert.equal(store.get('missing'), undefined);
    });

    test('sets and gets JSON values unchanged', (store) => {
      const values: unknown[] = ['text', '', 0, -3.5, true, false, null, [1, 'two', null], { a: { b: [1, { c: 'd' }] } }, 'héllo ✓ 🦀'];
      values.forEach((v, i) => assert.equal(store.set(`k${i}`, v), true));
      values.forEach((v, i) => assert.deepEqual(store.get(`k${i}`), v));
    });

    test('overwrites a key with the last value set', (store) => {
      store.set('k', 1);
      store.set('k', { now: 'two' });
      assert.deepEqual(store.get('k'), { now: 'two' });
    });

    test('counts with incr: from the step, by 1 by default, by fractions and negatives', (store) => {
      assert.equal(store.incr('n'), 1);
      assert.equal(store.incr('n'), 2);
      assert.equal(store.incr('n', 5), 7);
      assert.equal(store.incr('n', 0.5), 7.5);
      assert.equal(store.incr('n', -10), -2.5);
      assert.equal(store.get('n'), -2.5);
      assert.equal(store.incr('fresh', 3), 3);
    });

    test('restarts a counter over a value that is not a number', (store) => {
      store.set('s', 'text');
      assert.equal(store.incr('s', 2), 2);
      assert.equal(store.get('s'), 2);
    });

    test('deletes: true when the key was there, false after', (store) => {
      store.set('k', 1);
      assert.equal(store.delete('k'), true);
      assert.equal(store.delete('k'), false);
      assert.equal(store.get('k'), undefined);
      assert.equal(store.delete('never'), false);
    });

    test('expires a key set with a TTL, and keeps one set without', async (store) => {
      store.set('short', 'gone soon', 1);
      store.set('kept', 'stays');
      await eventually(() => store.get('short') === undefined, 'the 1 ms key to expire');
      assert.equal(store.get('kept'), 'stays');
    });

    test('expires a counter created with a TTL, then counts again from the step', async (store) => {
      assert.equal(store.incr('window', 1, 1), 1);
      await eventually(() => store.get('window') === undefined, 'the 1 ms counter to expire');
      assert.equal(store.incr('window'), 1);
    });

    test('ignores a TTL that is not a positive finite number', (store) => {
      for (const ttl of [0, -5, NaN, Infinity]) store.set(`t${String(ttl)}`, 'v', ttl);
      for (const ttl of [0, -5, NaN, Infinity]) assert.equal(store.get(`t${String(ttl)}`), 'v');
    });

    test('treats a step that is not a finite number as 1', (store) => {
      assert.equal(store.incr('n', NaN), 1);
      assert.equal(store.incr('n', Infinity), 2);
      assert.equal(store.incr('n', 'five' as unknown as number), 3);
    });

    test('stores a Uint8Array', (store) => {
      store.set('bytes', new Uint8Array([1, 2]));
      assert.deepEqual(store.get('bytes'), new Uint8Array([1, 2]));
    });

    describe('through the capability, per plugin', () => {
      test('gives each plugin its own key space', (store) => {
        const a = asPlugin(store, 'a');
        const b = asPlugin(store, 'b');
        a.set('hits', 1);
        assert.equal(b.get('hits'), undefined);
        assert.equal(b.incr('hits'), 1);
        assert.equal(a.incr('hits'), 2);
        assert.equal(b.delete('hits'), true);
        assert.equal(a.get('hits'), 2);
      });

      test('shares a namespace between the plugins granted it', (store) => {
        const a = asPlugin(store, 'a', ['counters']);
        const b = asPlugin(store, 'b', ['counters']);
        assert.equal(a.incr('@counters/total'), 1);
        assert.equal(b.incr('@counters/total'), 2);
        assert.equal(b.get('total'), undefined, 'a shared key is not in the plugin space');
      });

      test('refuses a namespace not granted, naming the grant', (store) => {
        const c = asPlugin(store, 'c');
        assert.throws(() => c.get('@counters/total'), /grants\.c\.kv\.shared: \["counters"\]/);
        assert.throws(() => c.set('@counters', 1), /not granted/);
      });

      test('refuses a key that is not a string', (store) => {
        const a = asPlugin(store, 'a');
        for (const key of [1, null, undefined, { k: 1 }]) assert.throws(() => a.set(key, 1), /kv keys are strings/);
        assert.throws(() => a.incr(5), /kv keys are strings/);
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
