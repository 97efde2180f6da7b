/**
 * The glue evaluated inside every QuickJS guest before the plugin: the hardened codec
 * (guest-codec.ts), the built-in guards (guest-guards.ts), the frozen `host` global with the
 * granted capabilities, `console`, reflection of a module's exports, and one trampoline per
 * export that decodes arguments and encodes the result as wire text, so a call crosses the
 * boundary as one string each way. Nothing here calls a method a plugin could have replaced: the
 * codec captured every built-in it uses before the plugin ran.
 */
import { MAX_DEPTH } from '../../binding/wire.js';
import { GUEST_CODEC } from './guest-codec.js';
import { GUEST_GUARDS } from './guest-guards.js';
import { GUEST_DIRECT } from './guest-direct.js';
import { GUEST_PLATFORM } from '../../platform/index.js';

/** Guest file name of this glue; frames from it are stripped from plugin stacks. */
export const GLUE_FILE = 'terrarium:glue';
/** Result prefix of a trampoline call whose export returned a promise: "\u0001<id>". */
export const ASYNC_PREFIX = '\u0001';
/** What `poll(id)` returns while the promise of call `id` is still pending. */
export const PENDING = '\u0002';
/** Prefix of what `poll(id)` returns when the promise rejected: "\u0004" + describeThrown text. */
export const REJECTED = '\u0004';
/** Reserved hostcall ids: 0 reads host.config, -1 is console output, -2 asks whether time is up. */
export const HOSTCALL_CONFIG = 0;
export const HOSTCALL_CONSOLE = -1;
export const HOSTCALL_TICK = -2;
/** Reserved hostcall id of the Web platform APIs (src/platform/): args are [op, ...args] as wire text. */
export const HOSTCALL_PLATFORM = -3;
/** Reserved hostcall id of outbound HTTP (src/outbound/): args are [op, args, id]; 'fetch' answers with a host promise. */
export const HOSTCALL_OUTBOUND = -4;
/** Longest console line (UTF-16 units) a guest sends; the host bounds it again in bytes. */
export const CONSOLE_LINE_CHARS = 16384;
/** What a hostcall returns once the running call's deadline has passed (or the instance broke). */
export const TIME_UP = '\u0005';

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
${GUEST_CODEC}
${GUEST_GUARDS}
const MAXD = ${MAX_DEPTH};
${GUEST_PLATFORM}
const pending = create(null);
let nextId = 1;
const AsyncFunctionP = getProto(async function () {});
// Start an async call on thenable r: its settlement is recorded for poll. Returns its id.
const track = (r) => {
  const id = nextId++;
  const entry = create(null);
  entry.state = 0;
  entry.value = undefined;
  pending[id] = entry;
  const p = apply(promiseResolve, PromiseCtor, [r]);
  apply(promiseThen, p, [(v) => { entry.state = 1; entry.value = v; }, (e) => { entry.state = 2; entry.value = e; }]);
  return id;
};
// The id of a new async call when r is a thenable, else 0.
const asyncId = (r) => (r !== null && (typeof r === 'object' || typeof r === 'function') && typeof r.then === 'function' ? track(r) : 0);
${GUEST_DIRECT}
return {
  install(hostcall, capsText, dataText, arrayLimit, bigint) {
    valueBudget = arrayLimit;
    installGuards(arrayLimit, () => { if (hostcall(${HOSTCALL_TICK}, '') === '${TIME_UP}') throw timeUp(); }, bigint);
    const safeStringify = JSON.stringify;
    const caps = jsonParse(capsText);
    const host = decodeValue(dataText);
    const call = (id, label, args) => {
      if (dead) throw timeUp();
      const text = encodeValue(args, MAXD);
      if (apply(charCodeAt, text, [0]) === 3) throw refusalError(text, 'arguments of ' + label);
      const r = hostcall(id, text);
      if (r === '${TIME_UP}') throw timeUp();
      return typeof r === 'string' ? decodeValue(r) : apply(promiseThen, r, [decodeValue]);
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
    defineProp(host, 'config', { __proto__: null, enumerable: true, get() { return call(${HOSTCALL_CONFIG}, 'host.config', []); } });
    const freeze = (o) => {
      freezeObj(o);
      const ks = keysOf(o);
      for (let i = 0; i < ks.length; i++) {
        const d = gopd(o, ks[i]);
        if (d && hasOwn(d, 'value') && d.value !== null && typeof d.value === 'object') freeze(d.value);
      }
    };
    freeze(host);
    defineProp(G, 'host', { __proto__: null, value: host, enumerable: false, configurable: false, writable: false });
    const fmt = (v) => {
      if (typeof v === 'string') return v;
      try { const s = safeStringify(v); return s === undefined ? '' + typeof v : s; } catch (e) { return '[' + typeof v + ']'; }
    };
    const out = (level) => function (...args) {
      let line = '';
      for (let i = 0; i < args.length && line.length <= ${CONSOLE_LINE_CHARS}; i++) line += (i ? ' ' : '') + fmt(args[i]);
      if (line.length > ${CONSOLE_LINE_CHARS}) line = apply(strSlice, line, [0, ${CONSOLE_LINE_CHARS + 1}]);
      if (dead) throw timeUp();
      if (hostcall(${HOSTCALL_CONSOLE}, level + line) === '${TIME_UP}') throw timeUp();
    };
    installPlatform((op, a, b, c, d) => {
      if (dead) throw timeUp();
      const text = encodeValue([op, a, b, c, d], MAXD);
      if (apply(charCodeAt, text, [0]) === 3) throw refusalError(text, 'arguments of ' + op);
      const r = hostcall(${HOSTCALL_PLATFORM}, text);
      if (r === '${TIME_UP}') throw timeUp();
      return decodeValue(r);
    }, (op, a, id) => {
      if (dead) throw timeUp();
      const text = encodeValue([op, a, id], MAXD);
      if (apply(charCodeAt, text, [0]) === 3) throw refusalError(text, 'arguments of ' + op);
      const r = hostcall(${HOSTCALL_OUTBOUND}, text);
      if (r === '${TIME_UP}') throw timeUp();
      return typeof r === 'string' ? decodeValue(r) : apply(promiseThen, r, [decodeValue]);
    });
    const con = freezeObj({ __proto__: null, log: out('1'), info: out('1'), debug: out('0'), warn: out('2'), error: out('3') });
    defineProp(G, 'console', { __proto__: null, value: con, enumerable: false, configurable: false, writable: false });
  },
  describe(ns) {
    let text = '{"exports":[';
    const names = ownNames(ns);
    let n = 0;
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      const v = ns[name];
      if (typeof v === 'function') {
        const arity = ownData(v, 'length');
        text += (n++ ? ',' : '') + '{"name":' + jsonStringify(name) + ',"arity":' + (typeof arity === 'number' && arity >= 0 ? arity : 0) + ',"async":' + (getProto(v) === AsyncFunctionP) + '}';
      }
    }
    let meta = null;
    for (let i = 0; i < names.length; i++) {
      if (names[i] !== 'meta' || ns.meta === undefined) continue;
      meta = encodeValue(ns.meta, 8);
      if (apply(charCodeAt, meta, [0]) === 3) throw refusalError(meta, 'export meta');
    }
    return text + '],"meta":' + (meta === null ? 'null' : jsonStringify(meta)) + '}';
  },
  bind(fn, name) {
    const finish = this.finish;
    return function (argsText) { return finish(apply(fn, undefined, decodeValue(argsText)), name); };
  },
  finish(r, name) {
    const id = asyncId(r);
    return id === 0 ? encodeValue(r, MAXD) : '${ASYNC_PREFIX}' + id;
  },
  poll(id) {
    const e = pending[id];
    if (e === undefined) return '${PENDING}';
    if (e.state === 0) return '${PENDING}';
    delete pending[id];
    if (e.state === 2) return '${REJECTED}' + describeThrown(e.value);
    return encodeValue(e.value, MAXD);
  },
  drop(id) { delete pending[id]; },
  describeThrown,
  hostError,
  inspect,
  ownOr,
  getterFailure,
  makeArray,
  encodeValue,
  asyncWith,
  getProto,
  setProto,
  keysOf,
  OP
};
})()`;

/** The glue as evaluated, without comment lines and indentation: every plugin load parses it. */
export const GUEST_GLUE = stripComments(GLUE_SOURCE);
