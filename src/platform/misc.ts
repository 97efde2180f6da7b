/**
 * structuredClone, queueMicrotask and performance for QuickJS guests. structuredClone copies by
 * the marshalling rules (docs/marshalling.md), the value set that crosses the boundary, through
 * the glue's own codec: what a plugin could send to the host is what it can clone, and anything
 * else is a DataCloneError. performance.now() asks the host for a monotonic clock.
 */
export const GUEST_MISC = `
const structuredClone = function structuredClone(value) {
  const text = encodeValue(value, MAXD);
  if (apply(charCodeAt, text, [0]) === 3) {
    const sep = apply(strIndexOf, text, ['\\u0001']);
    throw domErr('DataCloneError', 'structuredClone: cannot clone ' + apply(strSlice, text, [sep + 1]) + ' at ' + apply(strSlice, text, [1, sep]));
  }
  return decodeValue(text);
};
const queueMicrotask = function queueMicrotask(callback) {
  if (typeof callback !== 'function') throw typeErr('queueMicrotask: callback must be a function');
  apply(promiseThen, apply(promiseResolve, PromiseCtor, [undefined]), [() => { apply(callback, undefined, []); }]);
};
const makePerformance = (pcall) => {
  const origin = pcall('now');
  const timeOrigin = pcall('timeOrigin') - 0;
  return {
    now() { return pcall('now') - origin; },
    get timeOrigin() { return timeOrigin + origin; },
  };
};
`;
