/**
 * WHATWG URL and URLSearchParams for QuickJS guests. Parsing and every setter run in the HOST on
 * Node's own WHATWG URL (exact spec behaviour, maintained upstream, and far cheaper than a URL
 * parser interpreted by QuickJS); the guest class holds only the copied components. Query
 * strings are parsed and serialized by the host too; the guest keeps the list of pairs, so
 * get/has/append/sort cost no host call.
 */
export const GUEST_URL = `
const URL_PARTS = ['href', 'origin', 'protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'hash'];
const urls = new WeakMapCtor();
const paramsState = new WeakMapCtor();
const urlState = stateGetter(urls, 'URL');
const qsState = stateGetter(paramsState, 'URLSearchParams');
let platformCall;
const pairsFromSearch = (s) => {
  const list = platformCall('qsParse', s);
  const out = nullArray();
  for (let i = 0; i < list.length; i++) out[i] = list[i];
  return out;
};
// The URL's query changed its params: write them back (null -> no query at all, per the spec's update steps).
const updateUrl = (ps) => {
  if (ps.url === undefined) return;
  const st = urlState(ps.url);
  const q = ps.list.length === 0 ? '' : platformCall('qsSerialize', ps.list);
  st.rec = platformCall('urlSet', st.rec[0], 'search', q);
};
const sortPairs = (list) => {
  for (let i = 1; i < list.length; i++) {
    const x = list[i];
    let j = i - 1;
    while (j >= 0 && list[j][0] > x[0]) { list[j + 1] = list[j]; j--; }
    list[j + 1] = x;
  }
};
class URLSearchParams {
  constructor(init = undefined) {
    let list = nullArray();
    if (init !== undefined && init !== null && typeof init === 'object') {
      const own = apply(wmGet, paramsState, [init]);
      if (own !== undefined) {
        for (let i = 0; i < own.list.length; i++) list[i] = [own.list[i][0], own.list[i][1]];
      } else if (typeof init[symIterator] === 'function') {
        let n = 0;
        for (const pair of init) {
          const p = [];
          for (const v of pair) p[p.length] = StringCtor(v);
          if (p.length !== 2) throw typeErr('URLSearchParams: each pair must have exactly two items');
          list[n++] = p;
        }
      } else {
        const ks = keysOf(init);
        for (let i = 0; i < ks.length; i++) list[i] = [ks[i], StringCtor(init[ks[i]])];
      }
    } else if (init !== undefined) {
      let s = StringCtor(init);
      if (apply(charCodeAt, s, [0]) === 63) s = apply(strSlice, s, [1]);
      list = pairsFromSearch(s);
    }
    apply(wmSet, paramsState, [this, { __proto__: null, list, url: undefined }]);
  }
  get size() { return qsState(this).list.length; }
  append(name, value) { const st = qsState(this); st.list[st.list.length] = [StringCtor(name), StringCtor(value)]; updateUrl(st); }
  delete(name, value = undefined) {
    const st = qsState(this);
    const n = StringCtor(name), v = value === undefined ? undefined : StringCtor(value);
    const out = nullArray();
    for (let i = 0; i < st.list.length; i++) if (!(st.list[i][0] === n && (v === undefined || st.list[i][1] === v))) out[out.length] = st.list[i];
    st.list = out;
    updateUrl(st);
  }
  get(name) { const st = qsState(this); const n = StringCtor(name); for (let i = 0; i < st.list.length; i++) if (st.list[i][0] === n) return st.list[i][1]; return null; }
  getAll(name) { const st = qsState(this); const n = StringCtor(name); const out = []; let k = 0; for (let i = 0; i < st.list.length; i++) if (st.list[i][0] === n) defineProp(out, k++, dataDesc(st.list[i][1])); return out; }
  has(name, value = undefined) {
    const st = qsState(this);
    const n = StringCtor(name), v = value === undefined ? undefined : StringCtor(value);
    for (let i = 0; i < st.list.length; i++) if (st.list[i][0] === n && (v === undefined || st.list[i][1] === v)) return true;
    return false;
  }
  set(name, value) {
    const st = qsState(this);
    const n = StringCtor(name), v = StringCtor(value);
    const out = nullArray();
    let done = false;
    for (let i = 0; i < st.list.length; i++) {
      if (st.list[i][0] !== n) out[out.length] = st.list[i];
      else if (!done) { out[out.length] = [n, v]; done = true; }
    }
    if (!done) out[out.length] = [n, v];
    st.list = out;
    updateUrl(st);
  }
  sort() { const st = qsState(this); sortPairs(st.list); updateUrl(st); }
  forEach(callback, thisArg = undefined) {
    const st = qsState(this);
    for (let i = 0; i < st.list.length; i++) apply(callback, thisArg, [st.list[i][1], st.list[i][0], this]);
  }
  *entries() { const st = qsState(this); for (let i = 0; i < st.list.length; i++) yield [st.list[i][0], st.list[i][1]]; }
  *keys() { const st = qsState(this); for (let i = 0; i < st.list.length; i++) yield st.list[i][0]; }
  *values() { const st = qsState(this); for (let i = 0; i < st.list.length; i++) yield st.list[i][1]; }
  [symIterator]() { return this.entries(); }
  toString() { const st = qsState(this); return st.list.length === 0 ? '' : platformCall('qsSerialize', st.list); }
  get [symTag]() { return 'URLSearchParams'; }
}
const parseUrl = (url, base) => platformCall('urlParse', StringCtor(url), base === undefined ? undefined : StringCtor(base));
class URL {
  constructor(url, base = undefined) {
    const rec = parseUrl(url, base);
    if (rec === null) throw typeErr('Invalid URL');
    apply(wmSet, urls, [this, { __proto__: null, rec, params: undefined }]);
  }
  static canParse(url, base = undefined) { return parseUrl(url, base) !== null; }
  static parse(url, base = undefined) { const rec = parseUrl(url, base); return rec === null ? null : construct(URL, [rec[0]]); }
  get searchParams() {
    const st = urlState(this);
    if (st.params === undefined) {
      st.params = construct(URLSearchParams, [apply(strSlice, st.rec[9], [1])]);
      qsState(st.params).url = this;
    }
    return st.params;
  }
  toString() { return urlState(this).rec[0]; }
  toJSON() { return urlState(this).rec[0]; }
  get [symTag]() { return 'URL'; }
}
for (let i = 0; i < URL_PARTS.length; i++) {
  const part = URL_PARTS[i];
  const d = { __proto__: null, configurable: true, enumerable: true, get: { [part]() { return urlState(this).rec[i]; } }[part] };
  if (part !== 'origin') d.set = { [part](v) {
    const st = urlState(this);
    const rec = platformCall('urlSet', st.rec[0], part, StringCtor(v));
    if (rec === null) { if (part === 'href') throw typeErr('Invalid URL'); return; }
    st.rec = rec;
    if (st.params !== undefined && (part === 'href' || part === 'search')) qsState(st.params).list = pairsFromSearch(apply(strSlice, rec[9], [1]));
  } }[part];
  defineProp(URL.prototype, part, d);
}
`;
