/**
 * The guest half of the QuickJS codec, as source text evaluated inside every guest before any
 * plugin code runs. It captures the built-ins it needs first ("primordials"), so nothing a plugin
 * later does to its own globals (`JSON`, `Object`, prototypes, `Function.prototype.call`, setters
 * on `Array.prototype[0]`...) can change what it does:
 *
 * - `encodeValue` walks a value once: every property is read exactly once (a getter runs once,
 *   under the call's deadline), into a fresh copy made of null-prototype objects and arrays, and
 *   only that copy is given to the captured native `JSON.stringify`, which therefore cannot reach
 *   a `toJSON`, a getter or a proxy of the plugin's. Depth, cycles and the number of values are
 *   checked while walking. Proxies are refused (their traps could answer differently each time).
 * - `describeThrown` reads a thrown value without running any plugin code at all: own data
 *   properties only (getters, proxies and `toJSON` are never touched), bounded in depth and size.
 * - `decodeValue` turns wire text from the host into fresh guest values.
 *
 * Everything here must stay free of method calls on values a plugin can reach: captured functions
 * are called through the captured `Reflect.apply`, descriptors are null-prototype literals, and
 * arrays that are written by index have a null prototype (an `Array.prototype[0]` setter must not
 * fire). The host checks the text again (depth) when it decodes it.
 */

/** Prefix of the text `encodeValue` returns when a value cannot cross: "\u0003<path>\u0001<reason>". */
export const WIRE_REFUSED = '\u0003';

export const GUEST_CODEC = `
const G = globalThis;
const apply = Reflect.apply, construct = Reflect.construct;
const create = Object.create, keysOf = Object.keys, gopd = Object.getOwnPropertyDescriptor;
const getProto = Object.getPrototypeOf, setProto = Object.setPrototypeOf, defineProp = Object.defineProperty;
const freezeObj = Object.freeze, ownNames = Object.getOwnPropertyNames;
const isArray = Array.isArray;
const OP = Object.prototype, AP = Array.prototype, FP = Function.prototype;
const hasOwnFn = OP.hasOwnProperty, objToString = OP.toString;
const hasOwn = (o, k) => apply(hasOwnFn, o, [k]);
const jsonStringify = JSON.stringify, jsonParse = JSON.parse;
const U8 = Uint8Array, U8P = U8.prototype, TAP = getProto(U8P);
const taLength = gopd(TAP, 'length').get;
const isView = ArrayBuffer.isView;
const ErrorCtor = Error, ErrorP = Error.prototype, IEP = InternalError.prototype;
const charCodeAt = String.prototype.charCodeAt, strSlice = String.prototype.slice;
const PromiseCtor = Promise, promiseResolve = Promise.resolve, promiseThen = Promise.prototype.then;
const WeakSetCtor = WeakSet, weakHas = WeakSet.prototype.has, weakAdd = WeakSet.prototype.add;
const numberIsFinite = Number.isFinite;
const proxies = new WeakSetCtor();
const isProxy = (o) => apply(weakHas, proxies, [o]);
const nullArray = () => setProto([], null);
const dataDesc = (v) => ({ __proto__: null, value: v, writable: true, enumerable: true, configurable: true });
const put = (o, k, v) => defineProp(o, k, dataDesc(v));
// A data property's value, or undefined (never runs a getter or a trap).
const ownData = (o, k) => {
  if (isProxy(o)) return undefined;
  const d = gopd(o, k);
  return d !== undefined && hasOwn(d, 'value') ? d.value : undefined;
};
const isIdent = (k) => {
  if (k.length === 0) return false;
  for (let i = 0; i < k.length; i++) {
    const c = apply(charCodeAt, k, [i]);
    const letter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36;
    if (!letter && (i === 0 || c < 48 || c > 57)) return false;
  }
  return true;
};
const pathOf = (w) => {
  let p = '$';
  for (let i = 0; i < w.kp; i++) {
    const k = w.keys[i];
    p += typeof k === 'number' ? '[' + k + ']' : isIdent(k) ? '.' + k : '[' + jsonStringify(k) + ']';
  }
  return p;
};
// Refusals travel as a marker object; encodeValue turns them into its refusal text.
const REFUSED = create(null);
const refuse = (w, reason) => { w.reason = reason; w.path = pathOf(w); throw REFUSED; };
// Text is written by concatenation: the native JSON.stringify is only ever given primitive
// strings, because on objects it pushes onto internal arrays (an Array.prototype[0] setter fires).
const tag = (w, t) => { w.special = true; w.out += '{"\\\\u0000":"' + t + '"}'; };
const ctorName = (proto) => {
  const c = ownData(proto, 'constructor');
  const n = typeof c === 'function' ? ownData(c, 'name') : undefined;
  return typeof n === 'string' && n !== '' ? n : 'class';
};
const hexDigits = '0123456789abcdef';
const emitBytes = (w, b) => {
  const n = apply(taLength, b, []);
  if (n * 2 > w.maxText) refuse(w, 'a value larger than ' + w.maxText + ' bytes');
  let hex = '';
  for (let i = 0; i < n; i++) { const x = b[i]; hex += hexDigits[x >> 4] + hexDigits[x & 15]; }
  w.special = true;
  w.out += '{"\\\\u0000":"u8","d":"' + hex + '"}';
};
// One read of a property: a getter runs once (strict mode), a throwing getter is a refusal.
// Lenient mode (error values) reads data properties only and never runs a getter.
const readProp = (w, o, k) => {
  if (!w.strict) { const d = gopd(o, k); return d !== undefined && hasOwn(d, 'value') ? d.value : undefined; }
  try { return o[k]; } catch (e) {
    let m = ownData(e, 'message');
    if (typeof m !== 'string') m = typeof e === 'string' ? e : 'an error';
    return refuse(w, 'a property whose getter threw (' + m + ')');
  }
};
// Lenient mode: anything that cannot be copied becomes undefined instead of a refusal.
const skip = (w, reason) => (w.strict ? refuse(w, reason) : tag(w, 'u'));
const emit = (w, v, depth) => {
  const t = typeof v;
  if (t === 'string') { w.out += jsonStringify(v); if (w.out.length > w.maxText) refuse(w, 'a value larger than ' + w.maxText + ' bytes'); return; }
  if (t === 'boolean') { w.out += v ? 'true' : 'false'; return; }
  if (t === 'number') {
    if (v !== v) return tag(w, 'NaN');
    if (v === Infinity) return tag(w, 'Inf');
    if (v === -Infinity) return tag(w, '-Inf');
    if (v === 0 && 1 / v < 0) return tag(w, '-0');
    w.out += '' + v;
    return;
  }
  if (t === 'undefined') return tag(w, 'u');
  if (v === null) { w.out += 'null'; return; }
  if (t !== 'object') return skip(w, 'a ' + t);
  if (isProxy(v)) return skip(w, 'a Proxy');
  if (depth >= w.maxDepth) return skip(w, 'a value nested deeper than ' + w.maxDepth + ' levels');
  if (++w.count > w.budget) return refuse(w, 'a value larger than ' + w.budget + ' values');
  for (let i = 0; i < w.sp; i++) if (w.stack[i] === v) return skip(w, 'a cycle');
  if (isArray(v)) {
    const n = v.length;
    if (n > w.budget) refuse(w, 'a value larger than ' + w.budget + ' values');
    w.stack[w.sp++] = v;
    w.out += '[';
    for (let i = 0; i < n; i++) {
      if (i) w.out += ',';
      w.keys[w.kp++] = i;
      if (hasOwn(v, i)) emit(w, readProp(w, v, i), depth + 1);
      else tag(w, 'u');
      w.kp--;
    }
    w.out += ']';
    w.sp--;
    return;
  }
  const proto = getProto(v);
  if (proto === U8P) return emitBytes(w, v);
  if (proto !== OP && proto !== null) return skip(w, 'a ' + ctorName(proto) + ' instance');
  w.stack[w.sp++] = v;
  const ks = keysOf(v);
  let escaped = false;
  for (let i = 0; i < ks.length; i++) if (ks[i] === '\\u0000') escaped = true;
  if (escaped) { w.special = true; w.out += '{"\\\\u0000":"o","e":['; } else w.out += '{';
  let first = true;
  for (let i = 0; i < ks.length; i++) {
    const k = ks[i];
    if (!w.strict && !hasOwn(v, k)) continue;
    w.keys[w.kp++] = k;
    if (!first) w.out += ',';
    first = false;
    if (escaped) { w.out += '[' + jsonStringify(k) + ','; emit(w, readProp(w, v, k), depth + 1); w.out += ']'; }
    else { w.out += jsonStringify(k) + ':'; emit(w, readProp(w, v, k), depth + 1); }
    w.kp--;
  }
  w.out += escaped ? ']}' : '}';
  w.sp--;
};
const newWalk = (maxDepth, budget, strict) => ({ __proto__: null, maxDepth, budget, maxText: budget * 16, strict, special: false, count: 0, stack: nullArray(), sp: 0, keys: nullArray(), kp: 0, reason: '', path: '', out: '' });
let valueBudget = 1 << 20;
// Wire text for v, or the refusal text WIRE_REFUSED + path + U+0001 + reason.
const encodeValue = (v, maxDepth) => {
  if (typeof v === 'string') return jsonStringify(v);
  const w = newWalk(maxDepth, valueBudget, true);
  try { emit(w, v, 0); } catch (e) {
    if (e === REFUSED) return '\\u0003' + w.path + '\\u0001' + w.reason;
    throw e;
  }
  return w.special ? '~' + w.out : w.out;
};
// A guest Error carrying a refusal, for the plugin that passed the value (capability arguments).
const refusalError = (text, direction) => {
  const at = apply(strSlice, text, [1]);
  let sep = 0;
  while (apply(charCodeAt, at, [sep]) !== 1) sep++;
  const path = apply(strSlice, at, [0, sep]), reason = apply(strSlice, at, [sep + 1]);
  const e = construct(ErrorCtor, [direction + ': cannot copy ' + reason + ' at ' + path]);
  put(e, 'marshalPath', path);
  put(e, 'marshalReason', reason);
  put(e, 'marshalDirection', direction);
  return e;
};
const hexVal = (c) => (c <= 57 ? c - 48 : c - 87);
const revive = (v) => {
  if (v === null || typeof v !== 'object') return v;
  if (isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = revive(v[i]);
    return v;
  }
  if (hasOwn(v, '\\u0000')) {
    const t = v['\\u0000'];
    if (t === 'u') return undefined;
    if (t === 'NaN') return NaN;
    if (t === 'Inf') return Infinity;
    if (t === '-Inf') return -Infinity;
    if (t === '-0') return -0;
    if (t === 'u8') {
      const hex = v.d, b = construct(U8, [hex.length >> 1]);
      for (let i = 0; i < hex.length >> 1; i++) b[i] = hexVal(apply(charCodeAt, hex, [2 * i])) * 16 + hexVal(apply(charCodeAt, hex, [2 * i + 1]));
      return b;
    }
    if (t === 'o') {
      const out = {}, e = v.e;
      for (let i = 0; i < e.length; i++) put(out, e[i][0], revive(e[i][1]));
      return out;
    }
  }
  const ks = keysOf(v);
  for (let i = 0; i < ks.length; i++) put(v, ks[i], revive(v[ks[i]]));
  return v;
};
const decodeValue = (text) => (apply(charCodeAt, text, [0]) === 126 ? revive(jsonParse(apply(strSlice, text, [1]))) : jsonParse(text));
// The engine's own InternalError ('stack overflow', 'out of memory'), not one a plugin made:
// plugins cannot reach the constructor (removed below), and the object must carry [[ErrorData]].
const engineError = (e) => {
  if (e === null || typeof e !== 'object' || isProxy(e) || getProto(e) !== IEP) return '';
  for (let p = e; p !== null; p = getProto(p)) if (gopd(p, Symbol.toStringTag) !== undefined) return '';
  if (apply(objToString, e, []) !== '[object Error]') return '';
  const m = ownData(e, 'message');
  return m === 'stack overflow' ? 'stack' : m === 'out of memory' ? 'memory' : '';
};
// What the host learns about a thrown value, read without running any plugin code:
// '{"engine":"stack"|"memory"|"","value":<the value, data properties only>}'.
const describeThrown = (e) => {
  const w = newWalk(8, 4096, false);
  let isError = false;
  if (e !== null && typeof e === 'object' && !isProxy(e)) {
    for (let p = getProto(e), n = 0; p !== null && n < 64 && !isProxy(p); p = getProto(p), n++) if (p === ErrorP) isError = true;
  }
  try {
    if (isError) {
      let name = 'Error';
      for (let p = e, n = 0; p !== null && n < 64 && !isProxy(p); p = getProto(p), n++) {
        const nd = gopd(p, 'name');
        if (nd !== undefined) { if (hasOwn(nd, 'value') && typeof nd.value === 'string') name = nd.value; break; }
      }
      const m = ownData(e, 'message'), s = ownData(e, 'stack');
      w.out += '{"name":' + jsonStringify(name) + ',"message":' + jsonStringify(typeof m === 'string' ? m : '');
      if (typeof s === 'string') w.out += ',"stack":' + jsonStringify(s);
      const ks = keysOf(e);
      for (let i = 0; i < ks.length && i < 64; i++) {
        const k = ks[i];
        if (k === 'name' || k === 'message' || k === 'stack' || k === '\\u0000' || !hasOwn(e, k)) continue;
        w.out += ',' + jsonStringify(k) + ':';
        emit(w, readProp(w, e, k), 1);
      }
      w.out += '}';
    } else emit(w, e, 0);
  } catch (err) {
    if (err !== REFUSED) throw err;
    w.out = '';
    tag(w, 'u');
  }
  return (w.special ? '~' : '') + '{"engine":"' + engineError(e) + '","value":' + w.out + '}';
};
// A guest Error with only a host error's name, message and code (no setters of the plugin run).
const hostError = (name, message, code) => {
  const e = construct(ErrorCtor, [message]);
  put(e, 'name', name);
  if (code !== undefined) put(e, 'code', code);
  return e;
};
`;
