/**
 * Built-ins the platform glue captures before any plugin code runs (it is evaluated inside the
 * glue's closure, after guest-codec.ts's own primordials): a plugin that later replaces
 * `Uint8Array.prototype.subarray` or `String.fromCharCode` changes its own code, never what
 * TextDecoder or crypto.subtle do.
 */
export const GUEST_PRIMS = `
const AP_slice = AP.slice, strIndexOf = String.prototype.indexOf;
const fromCharCode = String.fromCharCode, u8Slice = U8P.slice, u8Set = U8P.set;
const taBuffer = gopd(TAP, 'buffer').get, taOffset = gopd(TAP, 'byteOffset').get, taBytes = gopd(TAP, 'byteLength').get;
const taTag = gopd(TAP, Symbol.toStringTag).get;
const ABCtor = ArrayBuffer, abBytes = gopd(ArrayBuffer.prototype, 'byteLength').get;
const dvBuffer = gopd(DataView.prototype, 'buffer').get, dvOffset = gopd(DataView.prototype, 'byteOffset').get, dvBytes = gopd(DataView.prototype, 'byteLength').get;
const TypeErrorCtor = TypeError, RangeErrorCtor = RangeError;
const WeakMapCtor = WeakMap, wmGet = WeakMap.prototype.get, wmSet = WeakMap.prototype.set, wmHas = WeakMap.prototype.has;
const strToLower = String.prototype.toLowerCase, strTrim = String.prototype.trim;
const StringCtor = String, NumberCtor = Number, mathFloor = Math.floor;
const symIterator = Symbol.iterator, symTag = Symbol.toStringTag;
const apIndexOf = AP.indexOf, apSort = AP.sort, apSplice = AP.splice, apValues = AP.values, strToUpper = String.prototype.toUpperCase;
const reTest = RegExp.prototype.test;
const typeErr = (m) => construct(TypeErrorCtor, [m]);
// The getter of one glue class's private state (kept in a WeakMap only the glue holds): a
// TypeError naming the class for anything else, so a plugin's look-alike object gets no further.
const stateGetter = (map, what) => (o) => {
  const st = o !== null && (typeof o === 'object' || typeof o === 'function') ? apply(wmGet, map, [o]) : undefined;
  if (st === undefined) throw typeErr('Illegal invocation: not a ' + what);
  return st;
};
const domErr = (name, m) => hostError(name, m);
// A fresh Uint8Array viewing the bytes of a BufferSource (ArrayBuffer, typed array or DataView), or undefined.
const viewBytes = (v) => {
  if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return undefined;
  if (isView(v)) {
    if (apply(taTag, v, []) !== undefined) return construct(U8, [apply(taBuffer, v, []), apply(taOffset, v, []), apply(taBytes, v, [])]);
    return construct(U8, [apply(dvBuffer, v, []), apply(dvOffset, v, []), apply(dvBytes, v, [])]);
  }
  try { apply(abBytes, v, []); } catch (e) { return undefined; }
  return construct(U8, [v]);
};
const bufferSource = (v, what) => {
  const b = viewBytes(v);
  if (b === undefined) throw typeErr(what + ': expected an ArrayBuffer, a typed array or a DataView');
  return b;
};
// A copy of the bytes (the host call must not see later writes; slice also detaches from a shared buffer).
const copyBytes = (v, what) => apply(u8Slice, bufferSource(v, what), []);
const bufferOf = (u8) => apply(taBuffer, u8, []);
// Define read-only, non-configurable globals, with frozen constructors and prototypes (like console).
const defineGlobals = (o) => {
  const ks = keysOf(o);
  for (let i = 0; i < ks.length; i++) {
    const v = o[ks[i]];
    if (typeof v === 'function' && v.prototype) freezeObj(v.prototype);
    freezeObj(v);
    defineProp(G, ks[i], { __proto__: null, value: v, enumerable: false, configurable: false, writable: false });
  }
};
const U16 = Uint16Array, u16Sub = Uint16Array.prototype.subarray;
// The string of the first n UTF-16 units in codes (a Uint16Array), in chunks the argument list can take.
const fromCodes = (codes, n) => {
  let s = '';
  for (let i = 0; i < n; i += 4096) s += apply(fromCharCode, null, apply(u16Sub, codes, [i, i + 4096 < n ? i + 4096 : n]));
  return s;
};
`;
