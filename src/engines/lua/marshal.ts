/**
 * Copying values between the host and a fengari state, written against fengari's object model
 * (TValue, Table, TString) rather than its C-like API: the API copies and re-hashes every key,
 * which made a 10-header request cost ~24 µs to build. Here tables are built with
 * entries appended directly (append) and string keys come from a bounded cache of TString objects whose hash is
 * computed once, so a request table costs a few µs.
 *
 * The rule table is documented in the README (Marshalling rules); refusals use the same reasons and `$.a[2]`
 * paths as the JavaScript engine (classifyValue / wirePath from binding/wire).
 */
import { classifyValue, wirePath, type WireFailure } from '../../binding/wire.js';
import { fengari } from './fengari.js';
import { utf8 } from './hooks.js';

const { lobject, ltable, lstring } = fengari.internals as {
  lobject: { TValue: new (type: number, value: unknown) => TValue };
  ltable: {
    luaH_new(L: LuaState): Table;
    luaH_setfrom(L: LuaState, t: Table, k: TValue, v: TValue): void;
    luaH_setint(t: Table, k: number, v: TValue): void;
    luaH_getn(t: Table): number;
  };
  lstring: { luaS_bless(L: LuaState | null, s: Uint8Array): TString; luaS_hashlongstr(ts: TString): string };
};

/** fengari's value cell. */
export interface TValue {
  type: number;
  value: unknown;
}
export interface TString {
  realstring: Uint8Array;
  hash: unknown;
}
export interface TableEntry {
  key: TValue;
  value: TValue;
  p: TableEntry | undefined | null;
  n: TableEntry | undefined;
}
export interface Table {
  strong: Map<unknown, TableEntry>;
  f: TableEntry | undefined;
  l: TableEntry | undefined;
  metatable: Table | null;
  /** Metamethods known absent when this table is a metatable (ltm.js fasttm); 0 = none known. */
  flags: number;
}
export interface LuaState {
  stack: TValue[];
  top: number;
  l_G: unknown;
}

export { T } from './tags.js';
import { T } from './tags.js';

export const TValueCtor = lobject.TValue;
export const luaH_new = ltable.luaH_new;

/**
 * Where a value sits, built only when a refusal needs the text: a root (`$`, `$[0]`) or one step
 * below a parent. Formatting `$.headers["x-y"]` for every key on every call cost more than the
 * copy itself.
 */
export type Path = string | { readonly up: Path; readonly key: string | number };
const step = (up: Path, key: string | number): Path => ({ up, key });
function pathText(p: Path): string {
  const keys: (string | number)[] = [];
  let at = p;
  while (typeof at !== 'string') {
    keys.push(at.key);
    at = at.up;
  }
  return at + wirePath(keys.reverse()).slice(1);
}

const fail = (where: Path, reason: string): never => {
  const path = pathText(where);
  const e = new Error(`cannot copy ${reason} at ${path}`) as Error & WireFailure;
  e.marshalPath = path;
  e.marshalReason = reason;
  throw e;
};

const strictDecoder = new TextDecoder('utf-8', { fatal: true });


/**
 * Lua string bytes to a JS string, or undefined when they are not valid UTF-8. Short ASCII strings
 * are decoded by hand (TextDecoder costs ~0.3 µs a call).
 */
export function fromUtf8(b: Uint8Array): string | undefined {
  const n = b.length;
  if (n < 32) {
    let s = '';
    for (let i = 0; i < n; i++) {
      const c = b[i]!;
      if (c > 127) return decodeSlow(b);
      s += String.fromCharCode(c);
    }
    return s;
  }
  return decodeSlow(b);
}
function decodeSlow(b: Uint8Array): string | undefined {
  try {
    return strictDecoder.decode(b);
  } catch {
    return undefined;
  }
}

/**
 * Interned TStrings for short strings (object keys, header names, enum-like values): fengari has
 * no interning and hashes a string key by building a string of its bytes, once per TString.
 * Sharing TStrings between states is safe: they are immutable and their hash is a pure function.
 * Header values up to INTERN_MAX_LEN (user agents, cookies) are interned too: a request repeats
 * most of them, and the whole cache is dropped when it is full, so it stays bounded.
 */
const internCache = new Map<string, TString>();
const INTERN_MAX_LEN = 256;
const INTERN_MAX_ENTRIES = 4096;
/**
 * The JS text of a TString made by luaString (host text, so valid UTF-8): copying it back out
 * (a header value the plugin returns unchanged) skips the decoding.
 */
const textOf = new WeakMap<TString, string>();
export function luaString(s: string): TString {
  if (s.length <= INTERN_MAX_LEN) {
    let ts = internCache.get(s);
    if (ts === undefined) {
      if (internCache.size >= INTERN_MAX_ENTRIES) internCache.clear();
      ts = lstring.luaS_bless(null, utf8(s));
      internCache.set(s, ts);
      textOf.set(ts, s);
    }
    return ts;
  }
  const ts = lstring.luaS_bless(null, utf8(s));
  textOf.set(ts, s);
  return ts;
}

/**
 * Decoded table keys by their fengari hash ('|' + the bytes as latin1 up to 4096 bytes, a
 * length-prefixed SHA-256 above: one hash, one byte string). Every string key in a table already
 * has its hash, so a key the plugin built (`'x-echo-' .. k`, a fresh TString each call) is
 * decoded once, not once per call. Keys that are not valid UTF-8 are not cached (they are refused).
 */
const keyTextCache = new Map<string, string>();
const KEY_CACHE_MAX_ENTRIES = 4096;
const KEY_CACHE_MAX_HASH = 130;
function stringKeyText(ts: TString): string | undefined {
  const h = ts.hash;
  if (typeof h !== 'string' || h.length > KEY_CACHE_MAX_HASH) return textOf.get(ts) ?? fromUtf8(ts.realstring);
  let s = keyTextCache.get(h);
  if (s === undefined) {
    s = fromUtf8(ts.realstring);
    if (s === undefined) return undefined;
    if (keyTextCache.size >= KEY_CACHE_MAX_ENTRIES) keyTextCache.clear();
    keyTextCache.set(h, s);
  }
  return s;
}

/**
 * Appends key -> value to a table being built by toLua. The table is fresh and its keys distinct
 * (Object.keys, array indexes), so no lookup, dead-key bookkeeping or TValue copies are needed:
 * the entry has the shape ltable.js's `add` gives (key, value, p, n), and the TValues are owned.
 */
export function appendEntry(t: Table, hash: unknown, key: TValue, value: TValue): void {
  const prev = t.l;
  const entry: TableEntry = { key, value, p: prev, n: undefined };
  if (!t.f) t.f = entry;
  if (prev) prev.n = entry;
  t.strong.set(hash, entry);
  t.l = entry;
}

/**
 * t[name] = v without the VM, for the tables the engine builds (no metamethods, no traversal in
 * progress), with an interned key; a key already present keeps its place in the iteration order.
 */
export function setField(t: Table, name: string, v: TValue): void {
  const key = luaString(name);
  const hash = lstring.luaS_hashlongstr(key);
  const e = t.strong.get(hash);
  if (e) {
    e.value.type = v.type;
    e.value.value = v.value;
  } else appendEntry(t, hash, new TValueCtor(T.LNGSTR, key), new TValueCtor(v.type, v.value));
  // what the VM does after a store: no metamethod absence stays cached (ltm.js fasttm)
  t.flags = 0;
}

/** Per-state markers created by the engine (host.null, host.array, host.object, host.bytes). */
export interface Markers {
  /** The Udata behind host.null. */
  nullUd: unknown;
  /** Metatables marking a table as an array / an object. */
  arrayMt: Table;
  objectMt: Table;
  /** Udata created by host.bytes(s) -> the bytes they carry. */
  bytes: WeakMap<object, Uint8Array>;
  /** Lua strings made from a host Uint8Array: returned unchanged, they cross back as Uint8Array. */
  fromBytes: WeakSet<object>;
  /**
   * Bytes one copy out of Lua may produce (the plugin's memoryBytes): a table marked with
   * host.array is as long as its largest index, so its copy is sized by that index, not by the
   * values present, and `host.array({[2^31-1] = true})` would otherwise build a 2^31-slot array.
   */
  copyBudget: number;
  /** How deep a copy may nest (the host's MAX_DEPTH), per instance rather than a module setting. */
  maxDepth: number;
}

/** Bytes left in the copy being made (reset by every outermost toJS). */
let budget = Infinity;
/** JS bytes a copied array slot / object property / string costs, for the budget. */
const SLOT_COST = 8;
const PROP_COST = 48;
function charge(path: Path, bytes: number, what: () => string): void {
  budget -= bytes;
  if (budget < 0) fail(path, what());
}
const overBudget = () => `a value whose copy is larger than the plugin's memoryBytes`;

/** Largest integer a fengari (32-bit) integer holds; larger JS integers become Lua floats. */
const INT_MIN = -2147483648;
const INT_MAX = 2147483647;

/** A JS value as a fresh TValue (tables are built directly, never through the stack). */
export function toLua(L: LuaState, v: unknown, m: Markers, path: Path, depth: number, seen: unknown[], inContainer: boolean): TValue {
  switch (typeof v) {
    case 'string':
      return new TValueCtor(T.LNGSTR, luaString(v));
    case 'number':
      if ((v | 0) === v && !(v === 0 && 1 / v < 0)) return new TValueCtor(T.NUMINT, v);
      return new TValueCtor(T.NUMFLT, v);
    case 'boolean':
      return new TValueCtor(T.BOOLEAN, v);
    case 'undefined':
      // Inside an array a hole must keep its position: host.null (it comes back as null).
      return inContainer ? new TValueCtor(T.USERDATA, m.nullUd) : new TValueCtor(T.NIL, null);
    case 'object': {
      if (v === null) return new TValueCtor(T.USERDATA, m.nullUd);
      const kind = classifyValue(v);
      if (kind === 'bytes') {
        const ts = lstring.luaS_bless(null, new Uint8Array(v as Uint8Array));
        m.fromBytes.add(ts);
        return new TValueCtor(T.LNGSTR, ts);
      }
      if (kind !== 'array' && kind !== 'object') return fail(path, kind.slice(1));
      if (depth >= m.maxDepth) fail(path, `a value nested deeper than ${m.maxDepth} levels`);
      if (seen.indexOf(v) !== -1) fail(path, 'a cycle');
      seen.push(v);
      const t = ltable.luaH_new(L);
      // Built without the VM, which clears this on every store: a table the plugin later uses as a
      // metatable (a copied `{ __index = ... }`) must not claim its metamethods are absent.
      t.flags = 0;
      if (kind === 'array') {
        const a = v as unknown[];
        t.metatable = m.arrayMt;
        for (let i = 0; i < a.length; i++) {
          const val = read(a, i, path);
          // Strings inline: no path object for a value that cannot fail.
          const tv = typeof val === 'string' ? new TValueCtor(T.LNGSTR, luaString(val)) : toLua(L, val, m, step(path, i), depth + 1, seen, true);
          appendEntry(t, i + 1, new TValueCtor(T.NUMINT, i + 1), tv);
        }
      } else {
        const o = v as Record<string, unknown>;
        const keys = Object.keys(o);
        if (keys.length === 0) t.metatable = m.objectMt;
        for (let i = 0; i < keys.length; i++) {
          const k = keys[i]!;
          const val = read(o, k, path);
          if (val === undefined) continue; // like JSON: an undefined property is an absent key
          const ks = luaString(k);
          const tv = typeof val === 'string' ? new TValueCtor(T.LNGSTR, luaString(val)) : toLua(L, val, m, step(path, k), depth + 1, seen, true);
          appendEntry(t, lstring.luaS_hashlongstr(ks), new TValueCtor(T.LNGSTR, ks), tv);
        }
      }
      seen.pop();
      return new TValueCtor(T.TABLE, t);
    }
    default:
      return fail(path, classifyValue(v).slice(1));
  }
}

/** o[k], a throwing getter refused at `up` + k. */
function read(o: Record<string, unknown> | unknown[], k: string | number, up: Path): unknown {
  try {
    return (o as Record<string | number, unknown>)[k];
  } catch (err) {
    return fail(step(up, k), 'a property whose getter threw (' + String(err && (err as Error).message) + ')');
  }
}

const TYPE_NAMES: Record<number, string> = {
  [T.LCL]: 'a Lua function',
  [T.LCF]: 'a Lua function',
  [T.CCL]: 'a Lua function',
  [T.THREAD]: 'a Lua coroutine',
  [T.USERDATA]: 'a Lua userdata',
  [T.LIGHTUSERDATA]: 'a Lua userdata',
};

/** A Lua value as a fresh JS value. `top` is true for the outermost value (nil -> undefined). */
export function toJS(v: TValue, m: Markers, path: Path, depth: number, seen: Table[]): unknown {
  if (depth === 0 && typeof path === 'string') budget = m.copyBudget;
  switch (v.type) {
    case T.NIL:
      return undefined;
    case T.BOOLEAN:
      return v.value as boolean;
    case T.NUMINT:
    case T.NUMFLT:
      return v.value as number;
    case T.SHRSTR:
    case T.LNGSTR: {
      const ts = v.value as TString;
      const b = ts.realstring;
      if (b.length > 4096) charge(path, b.length, overBudget);
      const known = textOf.get(ts);
      if (known !== undefined) return known;
      if (m.fromBytes.has(ts)) return new Uint8Array(b);
      const s = fromUtf8(b);
      return s === undefined ? new Uint8Array(b) : s;
    }
    case T.USERDATA: {
      if (v.value === m.nullUd) return null;
      const bytes = m.bytes.get(v.value as object);
      if (bytes) return new Uint8Array(bytes);
      return fail(path, 'a Lua userdata');
    }
    case T.TABLE:
      return tableToJS(v.value as Table, m, path, depth, seen);
    default:
      return fail(path, TYPE_NAMES[v.type] ?? 'a Lua value of an unknown type');
  }
}

function keyText(k: TValue, path: Path): string {
  switch (k.type) {
    case T.SHRSTR:
    case T.LNGSTR: {
      const s = stringKeyText(k.value as TString);
      if (s === undefined) return fail(path, 'a table key that is not valid UTF-8');
      return s;
    }
    case T.NUMINT:
    case T.NUMFLT:
      return String(k.value);
    case T.BOOLEAN:
      return fail(path, 'a table key of type boolean');
    default:
      return fail(path, 'a table key of type ' + (k.type === T.TABLE ? 'table' : (TYPE_NAMES[k.type] ?? 'unknown').replace(/^an? Lua /, '')));
  }
}

function tableToJS(t: Table, m: Markers, path: Path, depth: number, seen: Table[]): unknown {
  if (depth >= m.maxDepth) fail(path, `a value nested deeper than ${m.maxDepth} levels`);
  if (seen.indexOf(t) !== -1) fail(path, 'a cycle');
  seen.push(t);
  const mt = t.metatable;
  let out: unknown;
  if (mt === m.arrayMt) {
    // Marked array: 1..max positive integer key; nil positions become null; other keys are refused.
    let max = 0;
    for (let e = t.f; e; e = e.n) {
      const k = e.key;
      if (k.type !== T.NUMINT || (k.value as number) < 1) fail(path, 'a non-index key in a table marked with host.array');
      if ((k.value as number) > max) max = k.value as number;
    }
    // Sized by the largest index, which the plugin chooses: charged before anything is allocated.
    let n = 0;
    for (let e = t.f; e; e = e.n) n++;
    charge(path, max * SLOT_COST, () => `a host.array of length ${max} holding ${n} values (its copy would be larger than the plugin's memoryBytes)`);
    const a: unknown[] = new Array(max).fill(null);
    for (let e = t.f; e; e = e.n) {
      const i = (e.key.value as number) - 1;
      a[i] = elem(e.value, m, step(path, i), depth, seen);
    }
    out = a;
  } else {
    // Unmarked: keys exactly 1..n (n >= 1) -> array; empty -> array unless marked with host.object;
    // anything else -> object with string keys (integer keys written in decimal).
    let n = 0;
    let max = 0;
    let sequence = mt !== m.objectMt;
    for (let e = t.f; e; e = e.n) {
      n++;
      if (sequence) {
        const k = e.key;
        if (k.type === T.NUMINT && (k.value as number) >= 1) {
          if ((k.value as number) > max) max = k.value as number;
        } else sequence = false;
      }
    }
    if (sequence && max === n) {
      charge(path, n * SLOT_COST, overBudget);
      const a: unknown[] = new Array(n);
      for (let e = t.f; e; e = e.n) {
        const i = (e.key.value as number) - 1;
        a[i] = elem(e.value, m, step(path, i), depth, seen);
      }
      out = a;
    } else {
      charge(path, n * PROP_COST, overBudget);
      const o: Record<string, unknown> = {};
      for (let e = t.f; e; e = e.n) {
        const k = keyText(e.key, path);
        const p = step(path, k);
        const val = elem(e.value, m, p, depth, seen);
        // A plain store is several times faster than defineProperty, but only a key the object
        // does not reach yet may take it: '__proto__' and other Object.prototype names (possibly
        // frozen or accessors on a hardened host) must become own data properties, untouched.
        if (k in o) Object.defineProperty(o, k, { value: val, enumerable: true, writable: true, configurable: true });
        else o[k] = val;
      }
      out = o;
    }
  }
  seen.pop();
  return out;
}

function elem(v: TValue, m: Markers, path: Path, depth: number, seen: Table[]): unknown {
  const type = v.type;
  if (type === T.NUMINT || type === T.NUMFLT || type === T.BOOLEAN) return v.value;
  return toJS(v, m, path, depth + 1, seen);
}
