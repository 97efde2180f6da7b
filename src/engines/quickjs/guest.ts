/**
 * The glue evaluated inside every QuickJS guest before the plugin: the shared marshalling rules
 * (WIRE_SOURCE), the frozen `host` global with the granted capabilities, `console`, reflection of
 * a module's exports, and one trampoline per export that decodes arguments and encodes the result
 * as wire text, so a call crosses the boundary as one string each way.
 */
import { MAX_DEPTH, WIRE_SLOW_SOURCE, WIRE_SOURCE } from '../../binding/wire.js';

/** Guest file name of this glue; frames from it are stripped from plugin stacks. */
export const GLUE_FILE = 'terrarium:glue';
/** Result prefix of a trampoline call whose export returned a promise: "\u0001<id>". */
export const ASYNC_PREFIX = '\u0001';
/** What `poll(id)` returns while the promise of call `id` is still pending. */
export const PENDING = '\u0002';
/** Reserved hostcall ids: 0 reads host.config, -1 is console output. */
export const HOSTCALL_CONFIG = 0;
export const HOSTCALL_CONSOLE = -1;

/*
 * The Array guard (guardArrays in the glue):
 * QuickJS cannot interrupt one built-in call, and the Array methods loop up to `length` in C:
 * `new Array(2 ** 32 - 1).join('')` or `[].indexOf.call({ length: 2 ** 40 })` would hold the
 * host forever without allocating anything the memory cap could stop. So before any plugin code
 * runs, every Array.prototype method that iterates is wrapped: the receiver's length is read once,
 * from a data property of a non-proxy object, and refused above what the plugin's memory could
 * hold as a real array. Proxies are tracked from their construction (Proxy is wrapped too),
 * because a proxy's `get` trap could report a small length first and a huge one to the C loop.
 */
/**
 * Remove comment-only lines and indentation (QuickJS parses the glue on every plugin load, at
 * about 0.1 ms per KB). Safe for this code: it has no multi-line strings or templates.
 */
function stripComments(source: string): string {
  return source
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('//'))
    .join('\n');
}

const GLUE_SOURCE = `(function () {
"use strict";
${WIRE_SOURCE}
// The checked path of the codec, compiled on first use (captured eval: plugin code runs later).
const indirectEval = eval;
let slowPath;
const slow = () => slowPath || (slowPath = indirectEval(${JSON.stringify(stripComments(WIRE_SLOW_SOURCE))}));
function wireCheck(v, depth, w) { return slow().wireCheck(v, depth, w); }
function wireSafe(v) { return slow().wireSafe(v); }
const MAXD = ${MAX_DEPTH};
const pending = new Map();
let nextId = 1;
const tagMarshal = (e, direction) => {
  if (e !== null && typeof e === 'object' && typeof e.marshalPath === 'string' && e.marshalDirection === undefined) e.marshalDirection = direction;
  return e;
};
const fmt = (v) => {
  if (typeof v === 'string') return v;
  try { const s = JSON.stringify(v); return s === undefined ? String(v) : s; } catch (e) { return String(v); }
};
const guardArrays = (limit) => {
  const OrigProxy = Proxy, proxies = new WeakSet(), reflectApply = Reflect.apply, reflectConstruct = Reflect.construct;
  const gopd = Object.getOwnPropertyDescriptor, getProto = Object.getPrototypeOf, isArray = Array.isArray;
  const define = Object.defineProperty, weakHas = WeakSet.prototype.has, weakAdd = WeakSet.prototype.add;
  const spreadable = Symbol.isConcatSpreadable;
  // Bound natives: calling them never looks anything up on a prototype the plugin could change.
  const bind = Function.prototype.call.bind(Function.prototype.bind);
  const addProxy = bind(weakAdd, proxies), isProxy = bind(weakHas, proxies);
  const track = (p) => { addProxy(p); return p; };
  const WrappedProxy = function Proxy(target, handler) {
    if (new.target === undefined) throw new TypeError("Constructor Proxy requires 'new'");
    return track(reflectConstruct(OrigProxy, [target, handler]));
  };
  const origRevocable = OrigProxy.revocable;
  define(WrappedProxy, 'revocable', { value: function revocable(t, h) { const r = reflectApply(origRevocable, OrigProxy, [t, h]); track(r.proxy); return r; }, writable: true, configurable: true });
  define(globalThis, 'Proxy', { value: WrappedProxy, writable: true, configurable: true, enumerable: false });
  const lengthOf = (o, name) => {
    if (o === null || o === undefined || (typeof o !== 'object' && typeof o !== 'function')) return 0;
    for (let p = o; p !== null; p = getProto(p)) {
      if (isProxy(p)) throw new TypeError('terrarium: Array.prototype.' + name + ' on a Proxy is not allowed in plugins (its length could change under the built-in)');
      const d = gopd(p, 'length');
      if (d === undefined) continue;
      if (!('value' in d)) throw new TypeError('terrarium: Array.prototype.' + name + ' needs a length data property, not a getter');
      const n = +d.value;
      return n > 0 ? n : 0;
    }
    return 0;
  };
  const check = (o, name) => {
    // A real array (not a proxy) has its length as an own data property: read it directly.
    const n = isArray(o) && !isProxy(o) ? o.length : lengthOf(o, name);
    if (n > limit) throw new RangeError('terrarium: Array.prototype.' + name + ' over ' + n + ' elements cannot be interrupted; plugins are limited to ' + limit + ' (what their memory could hold)');
  };
  const AP = Array.prototype;
  const names = ['concat', 'copyWithin', 'every', 'fill', 'filter', 'find', 'findIndex', 'findLast', 'findLastIndex', 'flat', 'flatMap', 'forEach', 'includes', 'indexOf', 'join', 'lastIndexOf', 'map', 'reduce', 'reduceRight', 'reverse', 'shift', 'slice', 'some', 'sort', 'splice', 'toLocaleString', 'toReversed', 'toSorted', 'toSpliced', 'toString', 'unshift', 'with'];
  for (let i = 0; i < names.length; i++) {
    const name = names[i], orig = AP[name];
    if (typeof orig !== 'function') continue;
    const wrapped = name === 'concat'
      ? { concat() {
          check(this, name);
          for (let j = 0; j < arguments.length; j++) {
            const a = arguments[j];
            if (isArray(a) || (a !== null && typeof a === 'object' && a[spreadable])) check(a, name);
          }
          return reflectApply(orig, this, arguments);
        } }.concat
      : { [name]() { check(this, name); return reflectApply(orig, this, arguments); } }[name];
    define(wrapped, 'length', { value: orig.length });
    define(AP, name, { value: wrapped, writable: true, configurable: true, enumerable: false });
  }
};
return {
  install(hostcall, capsText, dataText, arrayLimit) {
    guardArrays(arrayLimit);
    const caps = JSON.parse(capsText);
    const host = decodeWire(dataText);
    const call = (id, label, args) => {
      let text;
      try { text = encodeWire(args, MAXD); } catch (e) { throw tagMarshal(e, 'arguments of ' + label); }
      const r = hostcall(id, text);
      return typeof r === 'string' ? decodeWire(r) : r.then(decodeWire);
    };
    for (let c = 0; c < caps.length; c++) {
      const id = caps[c][0], path = caps[c][1];
      let node = host;
      for (let i = 0; i < path.length - 1; i++) {
        const k = path[i];
        if (node[k] === null || typeof node[k] !== 'object') node[k] = {};
        node = node[k];
      }
      const name = path[path.length - 1];
      const label = 'host.' + path.join('.');
      node[name] = { [name]: function (...args) { return call(id, label, args); } }[name];
    }
    Object.defineProperty(host, 'config', { enumerable: true, get() { return call(${HOSTCALL_CONFIG}, 'host.config', []); } });
    const freeze = (o) => {
      Object.freeze(o);
      for (const k of Object.keys(o)) {
        const d = Object.getOwnPropertyDescriptor(o, k);
        if (d && 'value' in d && d.value !== null && typeof d.value === 'object') freeze(d.value);
      }
    };
    freeze(host);
    Object.defineProperty(globalThis, 'host', { value: host, enumerable: false, configurable: false, writable: false });
    const out = (level) => function (...args) { hostcall(${HOSTCALL_CONSOLE}, JSON.stringify([level, args.map(fmt).join(' ')])); };
    const con = Object.freeze({ log: out('info'), info: out('info'), debug: out('debug'), warn: out('warn'), error: out('error') });
    Object.defineProperty(globalThis, 'console', { value: con, enumerable: false, configurable: false, writable: false });
  },
  describe(ns) {
    const exps = [];
    const names = Object.getOwnPropertyNames(ns);
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      const v = ns[name];
      if (typeof v === 'function') exps.push({ name, arity: v.length, async: Object.prototype.toString.call(v) === '[object AsyncFunction]' });
    }
    let meta = null;
    if (names.indexOf('meta') !== -1 && ns.meta !== undefined) {
      try { meta = encodeWire(ns.meta, 8); } catch (e) { throw tagMarshal(e, 'export meta'); }
    }
    return JSON.stringify({ exports: exps, meta });
  },
  bind(fn, name) {
    const finish = this.finish;
    return function (argsText) { return finish(fn.apply(undefined, decodeWire(argsText)), name); };
  },
  finish(r, name) {
    if (r !== null && typeof r === 'object' && typeof r.then === 'function') {
      const id = nextId++;
      const entry = { state: 0, value: undefined };
      pending.set(id, entry);
      Promise.resolve(r).then((v) => { entry.state = 1; entry.value = v; }, (e) => { entry.state = 2; entry.value = e; });
      return '${ASYNC_PREFIX}' + id;
    }
    try { return encodeWire(r, MAXD); } catch (e) { throw tagMarshal(e, 'return value of ' + name); }
  },
  poll(id, name) {
    const e = pending.get(id);
    if (e === undefined) throw new Error('terrarium: unknown call ' + id);
    if (e.state === 0) return '${PENDING}';
    pending.delete(id);
    if (e.state === 2) throw e.value;
    try { return encodeWire(e.value, MAXD); } catch (err) { throw tagMarshal(err, 'resolved value of ' + name); }
  },
  drop(id) { pending.delete(id); }
};
})()`;

/** The glue as evaluated, without comment lines and indentation: every plugin load parses it. */
export const GUEST_GLUE = stripComments(GLUE_SOURCE);
