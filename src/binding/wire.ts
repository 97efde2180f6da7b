/**
 * The marshalling rule table, written once and run on both sides of the QuickJS boundary: the
 * host uses these functions directly, and the QuickJS engine injects their source text
 * (`WIRE_SOURCE`) into every guest, so both realms apply exactly the same rules. They must stay
 * self-contained: no imports, no helpers outside this list, nothing the TypeScript compiler would
 * rewrite into a helper call.
 *
 * The wire format is JSON text. Values JSON cannot carry (undefined, NaN, +-Infinity, -0, array
 * holes, Uint8Array, objects that own a "\u0000" key) are written as tagged objects
 * `{"\u0000": tag, ...}`; the decoder only walks the tree when such a tag can be present, so
 * plain data costs one JSON.stringify and one JSON.parse.
 *
 * The Lua engine marshals table <-> value directly, but classifies host values with
 * `classifyValue`, so it raises the same ERR_MARSHAL reasons at the same paths.
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

/** Property path in the `$.a.b[2]["x-y"]` form used by ERR_MARSHAL. */
export function wirePathKey(path: string, key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? path + '.' + key : path + '[' + JSON.stringify(key) + ']';
}

/**
 * Encode a value as wire text. Throws a plain Error carrying `marshalPath`/`marshalReason`
 * (see WireFailure) for anything that cannot cross.
 */
export function encodeWire(value: unknown, maxDepth: number): string {
  let special = false;
  const stack: unknown[] = [];
  const fail = (path: string, reason: string): never => {
    const e = new Error('cannot copy ' + reason + ' at ' + path) as Error & WireFailure;
    e.marshalPath = path;
    e.marshalReason = reason;
    throw e;
  };
  const read = (o: Record<string, unknown>, k: string, path: string): unknown => {
    try {
      return o[k];
    } catch (err) {
      return fail(path, 'a property whose getter threw (' + String(err && (err as Error).message) + ')');
    }
  };
  const check = (v: unknown, path: string, depth: number): void => {
    const kind = classifyValue(v);
    switch (kind) {
      case 'string':
      case 'boolean':
      case 'null':
        return;
      case 'number':
        if (v !== v || v === Infinity || v === -Infinity || (v === 0 && 1 / (v as number) < 0)) special = true;
        return;
      case 'undefined':
      case 'bytes':
        special = true;
        return;
      case 'array':
      case 'object': {
        if (depth >= maxDepth) fail(path, 'a value nested deeper than ' + maxDepth + ' levels');
        if (stack.indexOf(v) !== -1) fail(path, 'a cycle');
        const o = v as Record<string, unknown>;
        if (Object.getOwnPropertySymbols(o).length) fail(path, 'a symbol-keyed property');
        stack.push(v);
        if (kind === 'array') {
          const a = v as unknown[];
          for (let i = 0; i < a.length; i++) {
            if (!(i in a)) special = true;
            check(read(o, String(i), path + '[' + i + ']'), path + '[' + i + ']', depth + 1);
          }
        } else {
          const keys = Object.keys(o);
          for (let i = 0; i < keys.length; i++) {
            const k = keys[i] as string;
            if (k === '\u0000') special = true;
            const p = wirePathKey(path, k);
            check(read(o, k, p), p, depth + 1);
          }
        }
        stack.pop();
        return;
      }
      default:
        fail(path, kind.slice(1));
    }
  };
  const tag = (t: string, extra?: Record<string, unknown>): Record<string, unknown> => {
    const o: Record<string, unknown> = { '\u0000': t };
    if (extra) for (const k in extra) o[k] = extra[k];
    return o;
  };
  const toJsonSafe = (v: unknown): unknown => {
    if (v === undefined) return tag('u');
    if (typeof v === 'number') {
      if (v !== v) return tag('NaN');
      if (v === Infinity) return tag('Inf');
      if (v === -Infinity) return tag('-Inf');
      if (v === 0 && 1 / v < 0) return tag('-0');
      return v;
    }
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) {
      const out: unknown[] = new Array(v.length);
      for (let i = 0; i < v.length; i++) out[i] = i in v ? toJsonSafe(v[i]) : tag('u');
      return out;
    }
    if (Object.getPrototypeOf(v) === Uint8Array.prototype) {
      const b = v as Uint8Array;
      const digits = '0123456789abcdef';
      let hex = '';
      for (let i = 0; i < b.length; i++) hex += digits[b[i]! >> 4]! + digits[b[i]! & 15]!;
      return tag('u8', { d: hex });
    }
    const keys = Object.keys(v);
    if (keys.indexOf('\u0000') !== -1) {
      return tag('o', { e: keys.map((k) => [k, toJsonSafe((v as Record<string, unknown>)[k])]) });
    }
    const out: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      Object.defineProperty(out, k, { value: toJsonSafe((v as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  check(value, '$', 0);
  return JSON.stringify(special ? toJsonSafe(value) : value) as string;
}

/** Decode wire text made by encodeWire into fresh values of the realm this runs in. */
export function decodeWire(text: string): unknown {
  const parsed: unknown = JSON.parse(text);
  if (text.indexOf('\\u0000') === -1) return parsed;
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

/** The source text that defines classifyValue, wirePathKey, encodeWire and decodeWire inside a guest. */
export const WIRE_SOURCE = [classifyValue, wirePathKey, encodeWire, decodeWire].map((f) => f.toString()).join('\n');

/** True when an error came out of encodeWire/decodeWire's refusal (in either realm). */
export function isWireFailure(e: unknown): e is WireFailure {
  return typeof e === 'object' && e !== null && typeof (e as WireFailure).marshalPath === 'string';
}
