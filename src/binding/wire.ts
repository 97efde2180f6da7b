/**
 * The marshalling rule table on the host side. The QuickJS guest side is its own hardened
 * implementation of the same rules (src/engines/quickjs/guest-codec.ts: it must not use any
 * built-in a plugin could replace, so it cannot share this source); the conformance suite holds
 * both to the same behaviour, and the host re-checks the depth of every text a guest sends
 * (`decodeWire(text, maxDepth)`).
 *
 * The wire format is JSON text. Values JSON cannot carry (undefined, NaN, +-Infinity, -0, array
 * holes, Uint8Array, objects that own a "\u0000" key) are written as tagged objects
 * `{"\u0000": tag, ...}` and the text is prefixed with "~"; only then does the decoder walk the
 * tree, so plain data costs one cheap walk, one JSON.stringify and one JSON.parse.
 *
 * The Lua engine marshals table <-> value directly, but classifies host values with
 * `classifyValue` and names paths with `wirePath`, so it raises the same ERR_MARSHAL reasons at
 * the same paths.
 */

/** How deep values may nest (objects and arrays) before ERR_MARSHAL. */
export const MAX_DEPTH = 64;

/** A failure to marshal; engines turn it into a MarshalError (ERR_MARSHAL) with plugin context. */
export interface WireFailure {
  marshalPath: string;
  marshalReason: string;
}

/**
 * What crosses: returns the kind of a value, or a string starting with "!" that says why it cannot.
 * @example classifyValue(new Map()) // "!a Map instance"
 */
export function classifyValue(v: unknown): string {
  const t = typeof v;
  if (t === 'string' || t === 'boolean' || t === 'number' || t === 'undefined') return t;
  if (t === 'object') {
    if (v === null) return 'null';
    if (Array.isArray(v)) return 'array';
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) return 'object';
    if (proto === Uint8Array.prototype) return 'bytes';
    let ctor = 'class';
    try {
      const c = proto && proto.constructor;
      if (typeof c === 'function' && typeof c.name === 'string' && c.name) ctor = c.name;
    } catch (e) {
      /* a hostile constructor getter: keep the generic name */
    }
    return '!a ' + ctor + ' instance';
  }
  if (t === 'bigint') return '!a bigint';
  return '!a ' + t;
}

/** Property path in the `$.a.b[2]["x-y"]` form used by ERR_MARSHAL, from the keys walked so far. */
export function wirePath(keys: readonly (string | number)[]): string {
  let path = '$';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (typeof k === 'number') path += '[' + k + ']';
    else path += /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k as string) ? '.' + k : '[' + JSON.stringify(k) + ']';
  }
  return path;
}

/** Throw the refusal encodeWire reports: a plain Error carrying marshalPath/marshalReason. */
export function wireFail(keys: readonly (string | number)[], reason: string): never {
  const path = wirePath(keys);
  const e = new Error('cannot copy ' + reason + ' at ' + path) as Error & WireFailure;
  e.marshalPath = path;
  e.marshalReason = reason;
  throw e;
}

/** Walk state of one encodeWire call. */
interface WireWalk {
  special: boolean;
  maxDepth: number;
  stack: unknown[];
  keys: (string | number)[];
}

/** Read a property, turning a throwing getter into a refusal at that path. */
export function wireRead(o: Record<string, unknown>, k: string, w: WireWalk): unknown {
  try {
    return o[k];
  } catch (err) {
    return wireFail(w.keys, 'a property whose getter threw (' + String(err && (err as Error).message) + ')');
  }
}

/** Validate a value (paths are only built on failure); sets w.special when tags are needed. */
export function wireCheck(v: unknown, depth: number, w: WireWalk): void {
  const t = typeof v;
  if (t === 'string' || t === 'boolean') return;
  if (t === 'number') {
    if (v !== v || v === Infinity || v === -Infinity || (v === 0 && 1 / (v as number) < 0)) w.special = true;
    return;
  }
  if (t === 'undefined') {
    w.special = true;
    return;
  }
  const kind = classifyValue(v);
  if (kind === 'null') return;
  if (kind === 'bytes') {
    w.special = true;
    return;
  }
  if (kind !== 'array' && kind !== 'object') wireFail(w.keys, kind.slice(1));
  if (depth >= w.maxDepth) wireFail(w.keys, 'a value nested deeper than ' + w.maxDepth + ' levels');
  if (w.stack.indexOf(v) !== -1) wireFail(w.keys, 'a cycle');
  const o = v as Record<string, unknown>;
  w.stack.push(v);
  if (kind === 'array') {
    const a = v as unknown[];
    for (let i = 0; i < a.length; i++) {
      w.keys.push(i);
      if (!(i in a)) w.special = true;
      wireCheck(wireRead(o, String(i), w), depth + 1, w);
      w.keys.pop();
    }
  } else {
    const keys = Object.keys(o);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      w.keys.push(k);
      if (k === '\u0000') w.special = true;
      wireCheck(wireRead(o, k, w), depth + 1, w);
      w.keys.pop();
    }
  }
  w.stack.pop();
}

/** A tagged stand-in for a value JSON cannot carry. */
export function wireTag(t: string, key?: string, value?: unknown): Record<string, unknown> {
  const o: Record<string, unknown> = { '\u0000': t };
  if (key !== undefined) o[key] = value;
  return o;
}

/** The JSON-safe copy of an already validated value, with tags for what JSON cannot carry. */
export function wireSafe(v: unknown): unknown {
  if (v === undefined) return wireTag('u');
  if (typeof v === 'number') {
    if (v !== v) return wireTag('NaN');
    if (v === Infinity) return wireTag('Inf');
    if (v === -Infinity) return wireTag('-Inf');
    if (v === 0 && 1 / v < 0) return wireTag('-0');
    return v;
  }
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const out: unknown[] = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = i in v ? wireSafe(v[i]) : wireTag('u');
    return out;
  }
  if (Object.getPrototypeOf(v) === Uint8Array.prototype) {
    const b = v as Uint8Array;
    const digits = '0123456789abcdef';
    let hex = '';
    for (let i = 0; i < b.length; i++) hex += digits[b[i]! >> 4]! + digits[b[i]! & 15]!;
    return wireTag('u8', 'd', hex);
  }
  const keys = Object.keys(v);
  if (keys.indexOf('\u0000') !== -1) {
    return wireTag('o', 'e', keys.map((k) => [k, wireSafe((v as Record<string, unknown>)[k])]));
  }
  const out: Record<string, unknown> = {};
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    Object.defineProperty(out, k, { value: wireSafe((v as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * The fast test: true when JSON.stringify carries `v` exactly (finite numbers other than -0,
 * strings, booleans, null, dense arrays and plain objects of those). Anything else, including a
 * cycle (caught by the depth bound) or a throwing getter, sends the value down the checked path.
 */
export function wirePlain(v: unknown, depth: number, maxDepth: number): boolean {
  const t = typeof v;
  if (t === 'string' || t === 'boolean') return true;
  if (t === 'number') return (v as number) - (v as number) === 0 && (v !== 0 || 1 / (v as number) > 0);
  if (t !== 'object') return false;
  if (v === null) return true;
  if (depth >= maxDepth) return false;
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) {
    for (const k in v as Record<string, unknown>) {
      if (k === '\u0000' || !wirePlain((v as Record<string, unknown>)[k], depth + 1, maxDepth)) return false;
    }
    return true;
  }
  if (proto !== Array.prototype) return false;
  const a = v as unknown[];
  for (let i = 0; i < a.length; i++) if (!(i in a) || !wirePlain(a[i], depth + 1, maxDepth)) return false;
  return true;
}

/**
 * Encode a value as wire text: JSON, prefixed with "~" when it holds tags. Throws a plain Error
 * carrying `marshalPath`/`marshalReason` (see WireFailure) for anything that cannot cross.
 */
export function encodeWire(value: unknown, maxDepth: number): string {
  if (typeof value === 'string') return JSON.stringify(value);
  let plain = false;
  try {
    plain = wirePlain(value, 0, maxDepth);
  } catch (e) {
    plain = false;
  }
  if (plain) return JSON.stringify(value) as string;
  const w: WireWalk = { special: false, maxDepth, stack: [], keys: [] };
  wireCheck(value, 0, w);
  return w.special ? '~' + JSON.stringify(wireSafe(value)) : (JSON.stringify(value) as string);
}

/**
 * How deeply wire text nests (arrays and objects), counted without parsing it: the host checks
 * text from a guest before trusting it to obey the depth rule. Stops counting past `limit`.
 * @example wireDepth('[{"a":[1]}]', 64) // 3
 */
export function wireDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      // Skip a string, escapes included.
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 34) break;
      }
    } else if (c === 91 || c === 123) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 93 || c === 125) depth--;
  }
  return max;
}

/**
 * Decode wire text made by encodeWire into fresh values of the realm this runs in. With
 * `maxDepth`, text nested deeper than that (counting the tagged stand-ins' own level) is refused
 * with a WireFailure before it is parsed.
 */
export function decodeWire(text: string, maxDepth?: number): unknown {
  // Tagged stand-ins nest up to three levels deeper than the value they carry.
  const limit = maxDepth === undefined ? 0 : text.charCodeAt(0) === 126 ? 3 * maxDepth + 1 : maxDepth;
  if (maxDepth !== undefined && wireDepth(text, limit) > limit) {
    wireFail([], 'a value nested deeper than ' + maxDepth + ' levels');
  }
  if (text.charCodeAt(0) !== 126) return JSON.parse(text);
  const parsed: unknown = JSON.parse(text.slice(1));
  const put = (o: Record<string, unknown>, k: string, v: unknown) =>
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  const revive = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = revive(v[i]);
      return v;
    }
    const o = v as Record<string, unknown>;
    if (Object.prototype.hasOwnProperty.call(o, '\u0000')) {
      const t = o['\u0000'];
      if (t === 'u') return undefined;
      if (t === 'NaN') return NaN;
      if (t === 'Inf') return Infinity;
      if (t === '-Inf') return -Infinity;
      if (t === '-0') return -0;
      if (t === 'u8') {
        const hex = String(o.d);
        const b = new Uint8Array(hex.length >> 1);
        for (let i = 0; i < b.length; i++) b[i] = parseInt(hex.substr(i * 2, 2), 16);
        return b;
      }
      if (t === 'o') {
        const out: Record<string, unknown> = {};
        const entries = o.e as [string, unknown][];
        for (let i = 0; i < entries.length; i++) put(out, String(entries[i]![0]), revive(entries[i]![1]));
        return out;
      }
    }
    const keys = Object.keys(o);
    for (let i = 0; i < keys.length; i++) put(o, keys[i] as string, revive(o[keys[i] as string]));
    return o;
  };
  return revive(parsed);
}

/** True when an error came out of encodeWire/decodeWire's refusal (in either realm). */
export function isWireFailure(e: unknown): e is WireFailure {
  return typeof e === 'object' && e !== null && typeof (e as WireFailure).marshalPath === 'string';
}
