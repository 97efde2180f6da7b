/**
 * The one rule for an engine whose empty table cannot say what it is (EngineTraits.emptyTable
 * `array`: Lua's `{}` is a list or a map, and copies out as `[]`). The host marks every such
 * empty array in what the plugin returned (results and metadata, host/guard.ts); whoever expects
 * a mapping, or compares values, asks `isEmptyTable`, and reads it as the empty mapping. Values of
 * an engine that tells `[]` from `{}` are never marked: a JavaScript plugin's `[]` stays a list.
 * The mark is a non-enumerable symbol: the value is still a plain `[]` to JSON, structuredClone,
 * deep equality and the application.
 */
const EMPTY_TABLE = Symbol('terrarium.emptyTable');

/** Deepest level the walk goes to (the wire format's own bound is lower). */
const MAX_WALK = 256;

/**
 * Mark every empty array in a value an engine with an ambiguous empty table returned (in place:
 * the value is the host's own copy).
 * @example const r = markEmptyTables(luaResult) // r.state is [] and isEmptyTable(r.state)
 */
export function markEmptyTables<T>(v: T): T {
  walk(v, 0);
  return v;
}

function walk(v: unknown, depth: number): void {
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array || depth > MAX_WALK) return;
  if (Array.isArray(v)) {
    if (v.length === 0) {
      if (Object.isExtensible(v)) Object.defineProperty(v, EMPTY_TABLE, { value: true });
      return;
    }
    for (const x of v) walk(x, depth + 1);
    return;
  }
  for (const k in v) walk((v as Record<string, unknown>)[k], depth + 1);
}

/** An empty table of an engine that cannot tell a list from a map: read it as either. */
export function isEmptyTable(v: unknown): boolean {
  return Array.isArray(v) && v.length === 0 && (v as unknown as Record<symbol, unknown>)[EMPTY_TABLE] === true;
}

/** Two values that are both empty, one of them an ambiguous empty table: the same value. */
export function sameEmpty(a: unknown, b: unknown): boolean {
  return (isEmptyTable(a) && isEmptyContainer(b)) || (isEmptyTable(b) && isEmptyContainer(a));
}

const isEmptyContainer = (v: unknown): boolean => v !== null && typeof v === 'object' && !(v instanceof Uint8Array) && Object.keys(v).length === 0;
