/**
 * The glue evaluated inside every QuickJS guest before the plugin: the shared marshalling rules
 * (WIRE_SOURCE), the frozen `host` global with the granted capabilities, `console`, reflection of
 * a module's exports, and one trampoline per export that decodes arguments and encodes the result
 * as wire text, so a call crosses the boundary as one string each way.
 */
import { MAX_DEPTH, WIRE_SOURCE } from '../../binding/wire.js';

/** Guest file name of this glue; frames from it are stripped from plugin stacks. */
export const GLUE_FILE = 'terrarium:glue';
/** Result prefix of a trampoline call whose export returned a promise: "\u0001<id>". */
export const ASYNC_PREFIX = '\u0001';
/** What `poll(id)` returns while the promise of call `id` is still pending. */
export const PENDING = '\u0002';
/** Reserved hostcall ids: 0 reads host.config, -1 is console output. */
export const HOSTCALL_CONFIG = 0;
export const HOSTCALL_CONSOLE = -1;

export const GUEST_GLUE = `(function () {
"use strict";
${WIRE_SOURCE}
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
return {
  install(hostcall, capsText, dataText) {
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
