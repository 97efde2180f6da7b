/**
 * Guards around the built-ins that QuickJS runs as one long C loop without reaching its interrupt
 * handler, as source text evaluated in every guest (after GUEST_CODEC, before plugin code).
 *
 * QuickJS polls its interrupt handler on loop back-edges and function calls, once every 10,000
 * of them. A built-in that works through a large input in C (`s.lastIndexOf` over 16 MiB, an
 * `indexOf` over a big typed array, `JSON.stringify`, `Array.prototype.join`) does not poll at
 * all, so a loop of such calls reaches the handler only after 10,000 of them: minutes. Three
 * measures close that gap:
 *
 * 1. Work accounting ("ticks"): every guarded built-in adds the size of its input to a counter;
 *    past 4 Mi units the guest asks the host (one hostcall) whether the deadline has passed, and
 *    the host breaks the instance if it has. Once broken, every guarded call fails before it
 *    starts, so the plugin's loop spins fast and reaches the interrupt handler at once.
 * 2. Length bounds (the Array guard): an Array method whose receiver is longer than what the
 *    plugin's memory could hold as a real array is refused (`new Array(2 ** 32 - 1).join('')`
 *    allocates nothing the memory cap could stop).
 * 3. Replacements written in JavaScript (which polls like any plugin code) where a C loop cannot
 *    be bounded up front: `Array.prototype.flat`/`flatMap` (they walk nested arrays the receiver
 *    check cannot see) and `JSON.stringify` (its cycle check makes a shared sub-object DAG cost
 *    output size times depth). The JS `JSON.stringify` resolves `toJSON`, the replacer and
 *    getters once into a null-prototype copy, and the captured native then prints that copy.
 *
 * Proxies are tracked from their construction (Proxy is wrapped), because a proxy's traps could
 * report one length to a check and another to the C loop; a guarded method refuses them.
 */
import { BIGINT_HINT, BIGINT_LITERAL_SOURCE } from './bigint-gate.js';

export const GUEST_GUARDS = `
const TICK = 1 << 22;
let work = 0;
let tickHost = () => {};
// Set once the host has said the deadline passed: every guarded call and capability call then
// fails before doing any work, so the plugin's loop reaches the interrupt handler at once.
let dead = false;
const timeUp = () => { dead = true; return new Error('terrarium: the call ran past its time limit'); };
const tick = (n) => { if (dead) throw timeUp(); work += n; if (work >= TICK) { work = 0; tickHost(); } };
const sizeOf = (x) => {
  if (typeof x === 'string') return x.length;
  if (x === null || typeof x !== 'object') return 0;
  if (isArray(x) && !isProxy(x)) return x.length;
  // Only views can have a typed-array length: asking anything else would throw, and an
  // exception (with its backtrace) costs QuickJS about 10 µs per guarded call.
  if (!isView(x)) return 0;
  try { return apply(taLength, x, []); } catch (e) { return 0; }
};
const installGuards = (limit, hostTick, bigint) => {
  tickHost = hostTick;
  // Captured before the RegExp guards below wrap them.
  const reTest = RegExp.prototype.test;
  const bigintLiteral = new RegExp(${JSON.stringify(BIGINT_LITERAL_SOURCE)});
  const OrigProxy = Proxy;
  const track = (p) => { apply(weakAdd, proxies, [p]); return p; };
  const WrappedProxy = function Proxy(target, handler) {
    if (new.target === undefined) throw new TypeError("Constructor Proxy requires 'new'");
    return track(construct(OrigProxy, [target, handler]));
  };
  const origRevocable = OrigProxy.revocable;
  defineProp(WrappedProxy, 'revocable', { __proto__: null, value: function revocable(t, h) { const r = apply(origRevocable, OrigProxy, [t, h]); track(r.proxy); return r; }, writable: true, configurable: true });
  defineProp(G, 'Proxy', { __proto__: null, value: WrappedProxy, writable: true, configurable: true, enumerable: false });
  // Only the engine raises InternalError (stack overflow, out of memory): hide its constructor.
  delete G.InternalError;
  delete IEP.constructor;
  const lengthOf = (o, name) => {
    if (o === null || o === undefined || (typeof o !== 'object' && typeof o !== 'function')) return 0;
    for (let p = o; p !== null; p = getProto(p)) {
      if (isProxy(p)) throw new TypeError('terrarium: Array.prototype.' + name + ' on a Proxy is not allowed in plugins (its length could change under the built-in)');
      const d = gopd(p, 'length');
      if (d === undefined) continue;
      if (!hasOwn(d, 'value')) throw new TypeError('terrarium: Array.prototype.' + name + ' needs a length data property, not a getter');
      const n = +d.value;
      return n > 0 ? n : 0;
    }
    return 0;
  };
  const check = (o, name) => {
    const n = isArray(o) && !isProxy(o) ? o.length : lengthOf(o, name);
    if (n > limit) throw new RangeError('terrarium: Array.prototype.' + name + ' over ' + n + ' elements cannot be interrupted; plugins are limited to ' + limit + ' (what their memory could hold)');
    tick(n);
    return n;
  };
  const wrap = (obj, name, make) => {
    const orig = obj[name];
    if (typeof orig !== 'function') return;
    const wrapped = make(orig);
    defineProp(wrapped, 'length', { __proto__: null, value: orig.length });
    defineProp(wrapped, 'name', { __proto__: null, value: orig.name });
    defineProp(obj, name, { __proto__: null, value: wrapped, writable: true, configurable: true, enumerable: false });
  };
  const spreadable = Symbol.isConcatSpreadable;
  const arrayNames = ['concat', 'copyWithin', 'every', 'fill', 'filter', 'find', 'findIndex', 'findLast', 'findLastIndex', 'forEach', 'includes', 'indexOf', 'join', 'lastIndexOf', 'map', 'reduce', 'reduceRight', 'reverse', 'shift', 'slice', 'some', 'sort', 'splice', 'toLocaleString', 'toReversed', 'toSorted', 'toSpliced', 'toString', 'unshift', 'with'];
  for (let i = 0; i < arrayNames.length; i++) {
    const name = arrayNames[i];
    wrap(AP, name, (orig) => name === 'concat'
      ? { concat() {
          check(this, name);
          for (let j = 0; j < arguments.length; j++) {
            const a = arguments[j];
            if (isArray(a) || (a !== null && typeof a === 'object' && a[spreadable])) check(a, name);
          }
          return apply(orig, this, arguments);
        } }.concat
      : { [name]() { check(this, name); return apply(orig, this, arguments); } }[name]);
  }
  // sort / toSorted without a comparator compare as strings in one C loop (3.7 s for 2^19
  // numbers): above 2^14 elements they get the same comparison in JavaScript, which polls the
  // interrupt handler (slower, but bounded by callTimeoutMs).
  const byString = (a, b) => { const x = '' + a, y = '' + b; return x < y ? -1 : x > y ? 1 : 0; };
  const byNumber = (a, b) => {
    if (a < b) return -1;
    if (a > b) return 1;
    if (a !== a) return b !== b ? 0 : 1;
    if (b !== b) return -1;
    if (a === 0 && b === 0 && typeof a === 'number') return (1 / a < 0 ? 0 : 1) - (1 / b < 0 ? 0 : 1);
    return 0;
  };
  for (const [proto, name, cmp] of [[AP, 'sort', byString], [AP, 'toSorted', byString], [TAP, 'sort', byNumber], [TAP, 'toSorted', byNumber]]) {
    const orig = proto[name];
    if (typeof orig !== 'function') continue;
    defineProp(proto, name, { __proto__: null, value: { [name](fn) { return apply(orig, this, [fn === undefined && sizeOf(this) > 16384 ? cmp : fn]); } }[name], writable: true, configurable: true, enumerable: false });
    defineProp(proto[name], 'length', { __proto__: null, value: 1 });
  }
  // flat / flatMap in JavaScript: interruptible, each element read once, nested lengths checked.
  const toDepth = (d) => { if (d === undefined) return 1; const n = +d; return n !== n ? 0 : n < 0 ? 0 : n; };
  const flatInto = (out, src, depth) => {
    const n = check(src, 'flat');
    for (let i = 0; i < n; i++) {
      if (!(i in src)) continue;
      const v = src[i];
      if (depth > 0 && isArray(v)) flatInto(out, v, depth - 1);
      else { check(out, 'flat'); defineProp(out, out.length, dataDesc(v)); }
    }
    return out;
  };
  wrap(AP, 'flat', () => ({ flat(depth) { const o = Object(this); return flatInto([], o, toDepth(depth)); } }).flat);
  wrap(AP, 'flatMap', () => ({ flatMap(fn, thisArg) {
    const o = Object(this);
    if (typeof fn !== 'function') throw new TypeError('flatMap: not a function');
    const n = check(o, 'flatMap');
    const out = [];
    for (let i = 0; i < n; i++) {
      if (!(i in o)) continue;
      const v = apply(fn, thisArg, [o[i], i, o]);
      if (isArray(v)) flatInto(out, v, 0);
      else { check(out, 'flatMap'); defineProp(out, out.length, dataDesc(v)); }
    }
    return out;
  } }).flatMap);
  // Strings, regular expressions and typed arrays: count the work, ask the host now and then.
  const SP = String.prototype;
  const stringNames = ['concat', 'endsWith', 'includes', 'indexOf', 'lastIndexOf', 'localeCompare', 'match', 'matchAll', 'normalize', 'replace', 'replaceAll', 'search', 'slice', 'split', 'startsWith', 'substring', 'substr', 'toLowerCase', 'toUpperCase', 'toLocaleLowerCase', 'toLocaleUpperCase', 'trim', 'trimStart', 'trimEnd', 'isWellFormed', 'toWellFormed'];
  for (let i = 0; i < stringNames.length; i++) {
    const name = stringNames[i];
    wrap(SP, name, (orig) => ({ [name](a) { tick(sizeOf(this) + sizeOf(a)); return apply(orig, this, arguments); } })[name]);
  }
  const sized = (name) => (orig) => ({ [name](n) { const k = +n; tick(sizeOf(this) * (k > 1 ? (k < 1e9 ? k : 1e9) : 1)); return apply(orig, this, arguments); } })[name];
  wrap(SP, 'repeat', sized('repeat'));
  wrap(SP, 'padStart', (orig) => ({ padStart(n) { tick(+n > 0 ? +n : 0); return apply(orig, this, arguments); } }).padStart);
  wrap(SP, 'padEnd', (orig) => ({ padEnd(n) { tick(+n > 0 ? +n : 0); return apply(orig, this, arguments); } }).padEnd);
  const RP = RegExp.prototype;
  const regexNames = ['exec', 'test', Symbol.match, Symbol.matchAll, Symbol.replace, Symbol.search, Symbol.split];
  for (let i = 0; i < regexNames.length; i++) {
    const name = regexNames[i];
    wrap(RP, name, (orig) => ({ [name](s) { tick(sizeOf(s)); return apply(orig, this, arguments); } })[name]);
  }
  const taNames = ['copyWithin', 'fill', 'includes', 'indexOf', 'join', 'lastIndexOf', 'reverse', 'set', 'slice', 'sort', 'toReversed', 'toSorted', 'with', 'toString', 'toLocaleString'];
  for (let i = 0; i < taNames.length; i++) {
    const name = taNames[i];
    wrap(TAP, name, (orig) => ({ [name](a) { tick(sizeOf(this) + sizeOf(a)); return apply(orig, this, arguments); } })[name]);
  }
  // Object/Reflect/Array.from walk every property or element in C: count what they produced
  // (checked before the next one starts, so a loop of them stops once time is up). A property
  // costs about 32 times what a character costs a string method.
  const counted = (obj, names) => {
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      wrap(obj, name, (orig) => ({ [name]() { if (dead) throw timeUp(); const r = apply(orig, obj, arguments); tick(32 * (sizeOf(r) + sizeOf(arguments[0]))); return r; } })[name]);
    }
  };
  counted(Object, ['keys', 'values', 'entries', 'getOwnPropertyNames', 'getOwnPropertySymbols', 'getOwnPropertyDescriptors', 'assign', 'fromEntries', 'freeze', 'seal']);
  counted(Reflect, ['ownKeys']);
  counted(Array, ['from']);
  const ABP = ArrayBuffer.prototype, abLength = gopd(ABP, 'byteLength').get;
  wrap(ABP, 'slice', (orig) => ({ slice() { tick(apply(abLength, this, [])); return apply(orig, this, arguments); } }).slice);
  // JSON: parse counts its input; stringify resolves the value in JavaScript first (see above).
  const JSONObj = JSON;
  wrap(JSONObj, 'parse', (orig) => ({ parse(text) { tick(sizeOf(text)); return apply(orig, JSONObj, arguments); } }).parse);
  const jsonBudget = limit;
  // Keys are passed as numbers for array elements and turned into strings only when a toJSON
  // or a replacer needs them: most values have neither.
  const snapshot = (holder, key, v, replacer, list, st) => {
    if (v !== null && (typeof v === 'object' || typeof v === 'bigint')) {
      const toJSON = v.toJSON;
      if (typeof toJSON === 'function') v = apply(toJSON, v, ['' + key]);
    }
    if (replacer !== undefined) v = apply(replacer, holder, ['' + key, v]);
    if (v === null || typeof v !== 'object') return typeof v === 'function' || typeof v === 'symbol' ? undefined : v;
    const arr = isArray(v);
    const proto = getProto(v);
    if (proto !== OP && proto !== null && !(arr && proto === AP)) {
      const brand = apply(objToString, v, []);
      if (brand === '[object Number]') return +v;
      if (brand === '[object String]') return '' + v;
      if (brand === '[object Boolean]' || brand === '[object BigInt]') return v.valueOf();
    }
    if (++st.count > jsonBudget) throw new RangeError('terrarium: JSON.stringify of more than ' + jsonBudget + ' values cannot be interrupted; plugins are limited to ' + jsonBudget);
    for (let i = 0; i < st.sp; i++) if (st.stack[i] === v) throw new TypeError('circular reference');
    st.stack[st.sp++] = v;
    let out;
    if (arr) {
      const n = isProxy(v) ? check(v, 'join') : v.length;
      if (n > jsonBudget) check(v, 'join');
      out = nullArray();
      for (let i = 0; i < n; i++) { const c = snapshot(v, i, v[i], replacer, list, st); out[i] = c === undefined ? null : c; }
    } else {
      out = create(null);
      const ks = list !== undefined ? list : keysOf(v);
      for (let i = 0; i < ks.length; i++) {
        const k = ks[i];
        const c = snapshot(v, k, v[k], replacer, list, st);
        if (c !== undefined) out[k] = c;
      }
    }
    st.sp--;
    return out;
  };
  wrap(JSONObj, 'stringify', () => ({ stringify(value, replacer, space) {
    let fn, list;
    if (typeof replacer === 'function') fn = replacer;
    else if (isArray(replacer)) {
      list = nullArray();
      const n = check(replacer, 'join');
      for (let i = 0; i < n; i++) {
        const x = replacer[i];
        const s = typeof x === 'string' ? x : typeof x === 'number' ? '' + x : x !== null && typeof x === 'object' && (apply(objToString, x, []) === '[object String]' || apply(objToString, x, []) === '[object Number]') ? '' + x : undefined;
        let seen = false;
        for (let j = 0; j < list.length; j++) if (list[j] === s) seen = true;
        if (s !== undefined && !seen) list[list.length] = s;
      }
    }
    const st = { __proto__: null, count: 0, stack: nullArray(), sp: 0 };
    const holder = create(null);
    holder[''] = value;
    const copy = snapshot(holder, '', value, fn, list, st);
    tick(st.count * (st.count > 64 ? 16 : 1));
    return jsonStringify(copy, undefined, space);
  } }).stringify);
  // Code built at run time: its compilation is one C call (counted like a scan, at 64 units a
  // character), and without the BigInt grant it must not hold a BigInt literal either (see
  // bigint-gate.ts). Arguments are turned into strings once, so a toString cannot show the check
  // one text and the compiler another. eval is therefore always an indirect eval (global scope).
  const refuse = (src) => {
    tick(64 * src.length);
    if (!bigint && apply(reTest, bigintLiteral, [src])) throw new SyntaxError('terrarium: code built at run time holds a BigInt literal. ' + ${JSON.stringify(BIGINT_HINT)});
    // Ask the host once per compile: the host re-arms the short entry window, so the fast ticks
    // of this wrapper cannot leave a long window to the slow loop the new code may start.
    tickHost();
  };
  const origEval = G.eval;
  defineProp(G, 'eval', { __proto__: null, value: { eval(x) { if (typeof x !== 'string') return x; refuse(x); return apply(origEval, undefined, [x]); } }.eval, writable: true, configurable: true, enumerable: false });
  const ctorProtos = [Function.prototype, getProto(async function () {}), getProto(function* () {}), getProto(async function* () {})];
  for (let i = 0; i < ctorProtos.length; i++) {
    const proto = ctorProtos[i], orig = proto.constructor, name = orig.name;
    const wrapped = { [name]: function (...args) {
      const texts = nullArray();
      for (let j = 0; j < args.length; j++) texts[j] = '' + args[j];
      let all = '';
      for (let j = 0; j < texts.length; j++) all += texts[j] + '\\n';
      refuse(all);
      return construct(orig, texts);
    } }[name];
    defineProp(wrapped, 'length', { __proto__: null, value: orig.length });
    defineProp(wrapped, 'prototype', { __proto__: null, value: proto });
    defineProp(proto, 'constructor', { __proto__: null, value: wrapped, writable: true, configurable: true, enumerable: false });
    if (i === 0) defineProp(G, 'Function', { __proto__: null, value: wrapped, writable: true, configurable: true, enumerable: false });
  }
  if (!bigint) {
    delete G.BigInt;
    delete G.BigInt64Array;
    delete G.BigUint64Array;
    const DVP = DataView.prototype;
    delete DVP.getBigInt64;
    delete DVP.setBigInt64;
    delete DVP.getBigUint64;
    delete DVP.setBigUint64;
  }
};
`;
