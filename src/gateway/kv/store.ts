/**
 * What every kv backend is (memory, redis): the synchronous store behind `host.kv`, and the
 * capability tree a store is granted to plugins as.
 */

import { keyScoped } from '../../capabilities/kv-scope.js';

/** The store behind `host.kv`. */
export interface KvStore extends Disposable {
  /** `memory` or `redis`. */
  readonly backend: 'memory' | 'redis';
  /** The capability tree to grant: `{ kv: { get, set, incr, delete } }`. */
  readonly capability: { kv: Record<string, (...args: never[]) => unknown> };
  /** Keys held (memory backend; the redis backend answers -1). */
  readonly size: number;
  get(key: string): unknown;
  set(key: string, value: unknown, ttlMs?: number): true;
  incr(key: string, by?: number, ttlMs?: number): number;
  delete(key: string): boolean;
  dispose(): void;
}

/**
 * The capability tree of a store (functions only: nothing of the store is reachable). Key-scoped:
 * the host gives every plugin its own key space (grants.<plugin>.kv.shared opens named ones).
 */
export function kvCapability(store: Pick<KvStore, 'get' | 'set' | 'incr' | 'delete'>): KvStore['capability'] {
  return {
    kv: {
      get: keyScoped((key: string) => store.get(key)),
      set: keyScoped((key: string, value: unknown, ttlMs?: number) => store.set(key, value, ttlMs)),
      incr: keyScoped((key: string, by?: number, ttlMs?: number) => store.incr(key, by, ttlMs)),
      delete: keyScoped((key: string) => store.delete(key)),
    },
  };
}
