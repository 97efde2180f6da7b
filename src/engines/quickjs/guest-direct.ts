/**
 * The guest half of the direct path (marshal-in.ts, marshal-out.ts), as source text evaluated in
 * every guest after the codec: small helpers the host calls through the raw FFI while it builds
 * argument values or walks a result itself. Like the codec, they use only built-ins captured
 * before any plugin code ran, and run no plugin code except what the marshalling rules allow (a
 * getter of a result runs once, when the host reads that property).
 *
 * - `inspect(v)` tells the host what a non-scalar value is, without running plugin code: a
 *   refusal reason ("!..." refused at once, "?..." refused after the depth, size and cycle checks,
 *   the order the codec checks them in), an array's length (negative, -1 - length, when it has
 *   holes), `true` for a Uint8Array, 0 for a string the host cannot read itself, or the own
 *   enumerable string keys of a plain object.
 * - `asyncWith(r, then)` is finish()'s thenable rule for a result whose `then` the host has read
 *   (once): a function there starts an async call and its id comes back, else 0.
 * - `ownOr(a, i)` reads an element of an array with holes (a hole is undefined, never a
 *   prototype's element); `getterFailure(e)` is the refusal reason for a getter that threw.
 * - `makeArray(...items)` makes a real array of the host's items. (The host gives the objects it
 *   built with a null prototype Object.prototype through the captured native setPrototypeOf.)
 */
export const GUEST_DIRECT = `
const inspect = (v) => {
  const t = typeof v;
  if (t === 'string') return 0;
  if (t !== 'object' || v === null) return '!a ' + t;
  if (isProxy(v)) return '!a Proxy';
  if (isArray(v)) {
    const n = v.length;
    if (n > valueBudget) return '?a value larger than ' + valueBudget + ' values';
    for (let i = 0; i < n; i++) if (!hasOwn(v, i)) return -1 - n;
    return n;
  }
  const proto = getProto(v);
  if (proto === U8P) return true;
  if (proto !== OP && proto !== null) return '?a ' + ctorName(proto) + ' instance';
  return keysOf(v);
};
const asyncWith = (r, then) => (typeof then === 'function' ? track(r) : 0);
const ownOr = (a, i) => (hasOwn(a, i) ? a[i] : undefined);
const getterFailure = (e) => {
  let m = ownData(e, 'message');
  if (typeof m !== 'string') m = typeof e === 'string' ? e : 'an error';
  return 'a property whose getter threw (' + m + ')';
};
const makeArray = (...items) => items;
`;
