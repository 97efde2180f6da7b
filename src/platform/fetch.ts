/**
 * fetch, Headers, Request, Response, AbortController and AbortSignal for QuickJS guests. The
 * request is made by the host (src/outbound/) under the plugin's fetch grant; the guest only
 * normalises the request into plain values and builds the Response from the copied result.
 * `ocall(op, a, b)` is the glue's outbound host call: 'fetch' returns a promise, 'abort' cancels.
 * AbortSignal.timeout(ms) fires through setTimeout (a TimeoutError, as the standard says) and also
 * hands the host its delay plus a second, as a backstop that cancels the request on the host.
 */
export const GUEST_FETCH = `
// HTTP token characters (RFC 9110), by char code: scanned with the captured charCodeAt rather
// than a RegExp, whose test() calls the live RegExp.prototype.exec a plugin may have replaced.
const TOKEN = create(null);
for (let c = 48; c <= 57; c++) TOKEN[c] = 1;
for (let c = 65; c <= 90; c++) { TOKEN[c] = 1; TOKEN[c + 32] = 1; }
for (let i = 0, t = "!#$%&'*+-.^_|~"; i < t.length; i++) TOKEN[apply(charCodeAt, t, [i])] = 1;
const isToken = (s) => {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (TOKEN[apply(charCodeAt, s, [i])] !== 1) return false;
  return true;
};
const headerLists = new WeakMapCtor();
const hname = (n) => {
  const s = apply(strToLower, StringCtor(n), []);
  if (!isToken(s)) throw typeErr('Headers: invalid header name "' + s + '"');
  return s;
};
const hvalue = (v) => {
  const s = apply(strTrim, StringCtor(v), []);
  for (let i = 0; i < s.length; i++) {
    const c = apply(charCodeAt, s, [i]);
    if (c === 0 || c === 10 || c === 13) throw typeErr('Headers: invalid header value');
  }
  return s;
};
const listOf = stateGetter(headerLists, 'Headers');
class Headers {
  constructor(init) {
    const list = [];
    apply(wmSet, headerLists, [this, list]);
    if (init === undefined || init === null) return;
    if (apply(wmHas, headerLists, [init])) {
      const o = listOf(init);
      for (let i = 0; i < o.length; i++) list[list.length] = [o[i][0], o[i][1]];
    } else if (typeof init[symIterator] === 'function') {
      for (const p of init) {
        if (p === null || typeof p !== 'object' || p.length !== 2) throw typeErr('Headers: each pair must have a name and a value');
        this.append(p[0], p[1]);
      }
    } else if (typeof init === 'object') {
      const ks = keysOf(init);
      for (let i = 0; i < ks.length; i++) this.append(ks[i], init[ks[i]]);
    } else throw typeErr('Headers: init must be an object, pairs or Headers');
  }
  append(name, value) { const l = listOf(this); l[l.length] = [hname(name), hvalue(value)]; }
  delete(name) {
    const l = listOf(this), n = hname(name);
    let j = 0;
    for (let i = 0; i < l.length; i++) if (l[i][0] !== n) l[j++] = l[i];
    l.length = j;
  }
  get(name) {
    const l = listOf(this), n = hname(name);
    let out = null;
    for (let i = 0; i < l.length; i++) if (l[i][0] === n) out = out === null ? l[i][1] : out + ', ' + l[i][1];
    return out;
  }
  getSetCookie() {
    const l = listOf(this), out = [];
    for (let i = 0; i < l.length; i++) if (l[i][0] === 'set-cookie') out[out.length] = l[i][1];
    return out;
  }
  has(name) { return this.get(name) !== null; }
  set(name, value) {
    const n = hname(name), v = hvalue(value);
    this.delete(n);
    const l = listOf(this);
    l[l.length] = [n, v];
  }
  forEach(cb, thisArg) { const e = this.pairs(); for (let i = 0; i < e.length; i++) apply(cb, thisArg, [e[i][1], e[i][0], this]); }
  // Sorted, combined pairs (set-cookie kept apart), as the iterators give them.
  pairs() {
    const l = listOf(this), names = [];
    for (let i = 0; i < l.length; i++) if (apply(apIndexOf, names, [l[i][0]]) === -1) names[names.length] = l[i][0];
    apply(apSort, names, []);
    const out = [];
    for (let i = 0; i < names.length; i++) {
      if (names[i] === 'set-cookie') { const c = this.getSetCookie(); for (let j = 0; j < c.length; j++) out[out.length] = ['set-cookie', c[j]]; }
      else out[out.length] = [names[i], this.get(names[i])];
    }
    return out;
  }
  entries() { return apply(apValues, this.pairs(), []); }
  keys() { const p = this.pairs(), k = []; for (let i = 0; i < p.length; i++) k[i] = p[i][0]; return apply(apValues, k, []); }
  values() { const p = this.pairs(), k = []; for (let i = 0; i < p.length; i++) k[i] = p[i][1]; return apply(apValues, k, []); }
  [Symbol.iterator]() { return this.entries(); }
}
// The glue calls its own methods through these, never through an instance a plugin can give own properties.
const headersHas = Headers.prototype.has, headersSet = Headers.prototype.set;
const signals = new WeakMapCtor();
const sigState = stateGetter(signals, 'AbortSignal');
const fireAbort = (s, reason) => {
  const st = sigState(s);
  if (st.aborted) return;
  st.aborted = true;
  st.reason = reason === undefined ? domErr('AbortError', 'This operation was aborted') : reason;
  const ls = st.listeners;
  st.listeners = [];
  if (typeof s.onabort === 'function') apply(s.onabort, s, [{ type: 'abort', target: s }]);
  for (let i = 0; i < ls.length; i++) apply(ls[i], s, [{ type: 'abort', target: s }]);
};
const addAbort = (s, fn) => { const st = sigState(s); if (typeof fn === 'function' && !st.aborted) st.listeners[st.listeners.length] = fn; };
const removeAbort = (s, fn) => { const st = sigState(s); const i = apply(apIndexOf, st.listeners, [fn]); if (i !== -1) apply(apSplice, st.listeners, [i, 1]); };
let signalKey = false;
class AbortSignal {
  constructor() {
    if (!signalKey) throw typeErr('Illegal constructor');
    apply(wmSet, signals, [this, { aborted: false, reason: undefined, listeners: [], timeoutMs: undefined }]);
    this.onabort = null;
  }
  get aborted() { return sigState(this).aborted; }
  get reason() { return sigState(this).reason; }
  throwIfAborted() { const st = sigState(this); if (st.aborted) throw st.reason; }
  addEventListener(type, fn) { if (type === 'abort') addAbort(this, fn); }
  removeEventListener(type, fn) { if (type === 'abort') removeAbort(this, fn); }
  static abort(reason) { const s = newSignal(); fireAbort(s, reason); return s; }
  static timeout(ms) {
    const n = NumberCtor(ms);
    if (!(n >= 0)) throw typeErr('AbortSignal.timeout: ms must be a non-negative number');
    const s = newSignal();
    sigState(s).timeoutMs = n;
    if (typeof G.setTimeout === 'function') G.setTimeout(() => fireAbort(s, domErr('TimeoutError', 'The operation timed out')), n);
    return s;
  }
}
const newSignal = () => { signalKey = true; try { return new AbortSignal(); } finally { signalKey = false; } };
const controllers = new WeakMapCtor();
class AbortController {
  constructor() { apply(wmSet, controllers, [this, newSignal()]); }
  get signal() { return apply(wmGet, controllers, [this]); }
  abort(reason) { fireAbort(apply(wmGet, controllers, [this]), reason); }
}
// Body: bytes (a Uint8Array) or null, and whether it was read.
const bodies = new WeakMapCtor();
const bodyState = stateGetter(bodies, 'Request or Response');
const extractBody = (body, headers) => {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string') {
    if (!apply(headersHas, headers, ['content-type'])) apply(headersSet, headers, ['content-type', 'text/plain;charset=UTF-8']);
    return new TextEncoder().encode(body);
  }
  if (body instanceof URLSearchParams) {
    if (!apply(headersHas, headers, ['content-type'])) apply(headersSet, headers, ['content-type', 'application/x-www-form-urlencoded;charset=UTF-8']);
    return new TextEncoder().encode(apply(URLSearchParams.prototype.toString, body, []));
  }
  const b = viewBytes(body);
  if (b !== undefined) return apply(u8Slice, b, []);
  throw typeErr('body must be a string, URLSearchParams, an ArrayBuffer or a typed array (streams are not supported)');
};
const consume = (o) => {
  const st = bodyState(o);
  if (st.used) return apply(promiseThen, apply(promiseResolve, PromiseCtor, [undefined]), [() => { throw typeErr('Body has already been consumed'); }]);
  if (st.bytes !== null) st.used = true;
  return apply(promiseResolve, PromiseCtor, [st.bytes === null ? construct(U8, [0]) : st.bytes]);
};
const BodyMethods = {
  get body() { return bodyState(this).bytes === null ? null : bodyState(this).bytes; },
  get bodyUsed() { return bodyState(this).used; },
  arrayBuffer() { return apply(promiseThen, consume(this), [(b) => bufferOf(apply(u8Slice, b, []))]); },
  bytes() { return apply(promiseThen, consume(this), [(b) => apply(u8Slice, b, [])]); },
  text() { return apply(promiseThen, consume(this), [(b) => new TextDecoder().decode(b)]); },
  json() { return apply(promiseThen, consume(this), [(b) => jsonParse(new TextDecoder().decode(b))]); },
};
const mixBody = (C) => {
  const ks = ownNames(BodyMethods);
  for (let i = 0; i < ks.length; i++) defineProp(C.prototype, ks[i], gopd(BodyMethods, ks[i]));
};
const METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH'];
const normMethod = (m) => {
  const s = StringCtor(m), u = apply(strToUpper, s, []);
  if (!isToken(s)) throw typeErr('Request: invalid method "' + s + '"');
  if (u === 'CONNECT' || u === 'TRACE' || u === 'TRACK') throw typeErr('Request: method ' + u + ' is forbidden');
  return apply(apIndexOf, METHODS, [u]) === -1 ? s : u;
};
const requests = new WeakMapCtor();
const reqState = stateGetter(requests, 'Request');
class Request {
  constructor(input, init) {
    init = init === undefined || init === null ? {} : init;
    let st;
    if (apply(wmHas, requests, [input])) {
      const o = reqState(input);
      const ob = bodyState(input);
      st = { url: o.url, method: o.method, headers: new Headers(o.headers), signal: o.signal, redirect: o.redirect };
      apply(wmSet, bodies, [this, { bytes: ob.bytes, used: false }]);
    } else {
      st = { url: new URL(StringCtor(input)).href, method: 'GET', headers: new Headers(), signal: newSignal(), redirect: 'follow' };
      apply(wmSet, bodies, [this, { bytes: null, used: false }]);
    }
    if (init.method !== undefined) st.method = normMethod(init.method);
    if (init.headers !== undefined) st.headers = new Headers(init.headers);
    if (init.signal !== undefined && init.signal !== null) { sigState(init.signal); st.signal = init.signal; }
    if (init.redirect !== undefined) {
      if (init.redirect !== 'follow' && init.redirect !== 'manual' && init.redirect !== 'error') throw typeErr('Request: redirect must be follow, manual or error');
      st.redirect = init.redirect;
    }
    if (init.body !== undefined && init.body !== null) {
      if (st.method === 'GET' || st.method === 'HEAD') throw typeErr('Request with GET/HEAD method cannot have body');
      bodyState(this).bytes = extractBody(init.body, st.headers);
    }
    apply(wmSet, requests, [this, st]);
  }
  get url() { return reqState(this).url; }
  get method() { return reqState(this).method; }
  get headers() { return reqState(this).headers; }
  get signal() { return reqState(this).signal; }
  get redirect() { return reqState(this).redirect; }
  clone() { return new Request(this); }
}
mixBody(Request);
const responses = new WeakMapCtor();
const resState = stateGetter(responses, 'Response');
class Response {
  constructor(body, init) {
    init = init === undefined || init === null ? {} : init;
    const status = init.status === undefined ? 200 : NumberCtor(init.status);
    if (!(status >= 200 && status <= 599) || mathFloor(status) !== status) throw construct(RangeErrorCtor, ['Response: status must be an integer in 200..599']);
    const headers = new Headers(init.headers);
    apply(wmSet, bodies, [this, { bytes: null, used: false }]);
    if (body !== undefined && body !== null) {
      if (status === 204 || status === 205 || status === 304) throw typeErr('Response with null body status cannot have body');
      bodyState(this).bytes = extractBody(body, headers);
    }
    apply(wmSet, responses, [this, { status, statusText: init.statusText === undefined ? '' : StringCtor(init.statusText), headers, url: '', redirected: false, type: 'default' }]);
  }
  get status() { return resState(this).status; }
  get statusText() { return resState(this).statusText; }
  get ok() { const s = resState(this).status; return s >= 200 && s <= 299; }
  get headers() { return resState(this).headers; }
  get url() { return resState(this).url; }
  get redirected() { return resState(this).redirected; }
  get type() { return resState(this).type; }
  clone() {
    const st = resState(this), b = bodyState(this);
    if (b.used) throw typeErr('Response.clone: body already consumed');
    const r = new Response(null, { status: 200 });
    apply(wmSet, bodies, [r, { bytes: b.bytes, used: false }]);
    apply(wmSet, responses, [r, { status: st.status, statusText: st.statusText, headers: new Headers(st.headers), url: st.url, redirected: st.redirected, type: st.type }]);
    return r;
  }
  static json(data, init) {
    const text = jsonStringify(data);
    if (text === undefined) throw typeErr('Response.json: data is not JSON-serialisable');
    const h = new Headers(init && init.headers);
    if (!h.has('content-type')) h.set('content-type', 'application/json');
    return new Response(text, { status: init && init.status, statusText: init && init.statusText, headers: h });
  }
  static error() {
    const r = new Response(null, { status: 200 });
    const st = resState(r);
    st.status = 0;
    st.type = 'error';
    return r;
  }
  static redirect(url, status) {
    const s = status === undefined ? 302 : status;
    if (s !== 301 && s !== 302 && s !== 303 && s !== 307 && s !== 308) throw construct(RangeErrorCtor, ['Response.redirect: invalid status']);
    return new Response(null, { status: s, headers: { location: new URL(StringCtor(url)).href } });
  }
}
mixBody(Response);
// A Response made from the host's copied result (status 1xx or 0 cannot be built through the constructor).
const responseFrom = (r) => {
  const res = new Response(null, { status: 200 });
  const st = resState(res);
  st.status = r[0];
  st.statusText = r[1];
  st.headers = new Headers(r[2]);
  st.url = r[4];
  st.redirected = r[5];
  bodyState(res).bytes = r[3];
  return res;
};
let nextFetch = 1;
const makeFetch = (ocall) => function fetch(input, init) {
  let req;
  try { req = new Request(input, init); } catch (e) { return apply(promiseThen, apply(promiseResolve, PromiseCtor, [undefined]), [() => { throw e; }]); }
  const st = reqState(req), sig = sigState(st.signal);
  if (sig.aborted) return apply(promiseThen, apply(promiseResolve, PromiseCtor, [undefined]), [() => { throw sig.reason; }]);
  const id = nextFetch++;
  const body = bodyState(req).bytes;
  const hostP = ocall('fetch', [st.url, st.method, listOf(st.headers), body, sig.timeoutMs === undefined ? null : sig.timeoutMs + 1000, st.redirect], id);
  return construct(PromiseCtor, [(resolve, reject) => {
    let done = false;
    const onAbort = () => { if (done) return; done = true; ocall('abort', null, id); reject(sig.reason); };
    addAbort(st.signal, onAbort);
    apply(promiseThen, hostP, [(r) => { if (done) return; done = true; removeAbort(st.signal, onAbort); resolve(responseFrom(r)); }, (e) => { if (done) return; done = true; removeAbort(st.signal, onAbort); reject(e); }]);
  }]);
};
`;
