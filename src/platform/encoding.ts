/**
 * Encoding Standard (UTF-8 only) and forgiving-base64 for QuickJS guests: TextEncoder,
 * TextDecoder (fatal, ignoreBOM, stream), atob, btoa. They run as guest JS: the work is a byte
 * loop whose result must end up in guest memory anyway, so a host call would only add two copies
 * (wire text carries bytes as hex). The guest's own memory cap bounds every buffer made here.
 */
export const GUEST_ENCODING = `
// UTF-8 bytes of string s (lone surrogates become U+FFFD, as USVString conversion does).
const utf8Encode = (s) => {
  const n = s.length;
  const out = construct(U8, [n * 3]);
  let j = 0;
  for (let i = 0; i < n; i++) {
    let c = apply(charCodeAt, s, [i]);
    if (c < 0x80) { out[j++] = c; continue; }
    if (c < 0x800) { out[j++] = 0xc0 | (c >> 6); out[j++] = 0x80 | (c & 63); continue; }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < n ? apply(charCodeAt, s, [i + 1]) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        out[j++] = 0xf0 | (c >> 18); out[j++] = 0x80 | ((c >> 12) & 63); out[j++] = 0x80 | ((c >> 6) & 63); out[j++] = 0x80 | (c & 63);
        continue;
      }
      c = 0xfffd;
    }
    out[j++] = 0xe0 | (c >> 12); out[j++] = 0x80 | ((c >> 6) & 63); out[j++] = 0x80 | (c & 63);
  }
  return apply(u8Slice, out, [0, j]);
};
const encoders = new WeakSetCtor();
class TextEncoder {
  constructor() { apply(weakAdd, encoders, [this]); }
  get encoding() { return 'utf-8'; }
  encode(input = '') { return utf8Encode(StringCtor(input)); }
  encodeInto(source, destination) {
    const s = StringCtor(source);
    if (apply(taTag, destination, []) !== 'Uint8Array') throw typeErr('encodeInto: destination must be a Uint8Array');
    const cap = apply(taLength, destination, []);
    let read = 0, written = 0;
    const n = s.length;
    while (read < n) {
      let c = apply(charCodeAt, s, [read]);
      let units = 1;
      if (c >= 0xd800 && c <= 0xdfff) {
        const d = read + 1 < n ? apply(charCodeAt, s, [read + 1]) : 0;
        if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); units = 2; } else c = 0xfffd;
      }
      const size = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
      if (written + size > cap) break;
      if (size === 1) destination[written] = c;
      else if (size === 2) { destination[written] = 0xc0 | (c >> 6); destination[written + 1] = 0x80 | (c & 63); }
      else if (size === 3) { destination[written] = 0xe0 | (c >> 12); destination[written + 1] = 0x80 | ((c >> 6) & 63); destination[written + 2] = 0x80 | (c & 63); }
      else { destination[written] = 0xf0 | (c >> 18); destination[written + 1] = 0x80 | ((c >> 12) & 63); destination[written + 2] = 0x80 | ((c >> 6) & 63); destination[written + 3] = 0x80 | (c & 63); }
      written += size;
      read += units;
    }
    return { read, written };
  }
  get [symTag]() { return 'TextEncoder'; }
}
const decoders = new WeakMapCtor();
const UTF8_LABELS = create(null);
UTF8_LABELS['utf-8'] = 1; UTF8_LABELS['utf8'] = 1; UTF8_LABELS['unicode-1-1-utf-8'] = 1;
UTF8_LABELS['unicode11utf8'] = 1; UTF8_LABELS['unicode20utf8'] = 1; UTF8_LABELS['x-unicode20utf8'] = 1;
const decoderState = stateGetter(decoders, 'TextDecoder');
// The WHATWG UTF-8 decoder, resumable: st.need/st.cp/st.lower/st.upper carry a partial sequence.
const utf8Decode = (st, bytes, stream) => {
  const n = apply(taLength, bytes, []);
  const codes = construct(U16, [n + 4]);
  let j = 0;
  let need = st.need, seen = st.seen, cp = st.cp, lower = st.lower, upper = st.upper;
  const bad = () => {
    if (st.fatal) { st.need = 0; st.seen = 0; st.bomDone = false; throw typeErr('The encoded data was not valid UTF-8'); }
    codes[j++] = 0xfffd;
  };
  const emit = (c) => {
    if (!st.bomDone) { st.bomDone = true; if (c === 0xfeff && !st.ignoreBOM) return; }
    if (c < 0x10000) codes[j++] = c;
    else { c -= 0x10000; codes[j++] = 0xd800 | (c >> 10); codes[j++] = 0xdc00 | (c & 0x3ff); }
  };
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if (need === 0) {
      if (b < 0x80) { emit(b); continue; }
      if (b >= 0xc2 && b <= 0xdf) { need = 1; cp = b & 0x1f; }
      else if (b >= 0xe0 && b <= 0xef) { if (b === 0xe0) lower = 0xa0; if (b === 0xed) upper = 0x9f; need = 2; cp = b & 0xf; }
      else if (b >= 0xf0 && b <= 0xf4) { if (b === 0xf0) lower = 0x90; if (b === 0xf4) upper = 0x8f; need = 3; cp = b & 0x7; }
      else { bad(); continue; }
      seen = 0;
      continue;
    }
    if (b < lower || b > upper) {
      need = 0; seen = 0; cp = 0; lower = 0x80; upper = 0xbf;
      bad();
      i--; // the byte is processed again as the start of a sequence
      continue;
    }
    lower = 0x80; upper = 0xbf;
    cp = (cp << 6) | (b & 0x3f);
    seen++;
    if (seen === need) { const c = cp; need = 0; seen = 0; cp = 0; emit(c); }
  }
  if (!stream && need !== 0) { need = 0; seen = 0; cp = 0; lower = 0x80; upper = 0xbf; bad(); }
  st.need = need; st.seen = seen; st.cp = cp; st.lower = lower; st.upper = upper;
  if (!stream) st.bomDone = false;
  return fromCodes(codes, j);
};
class TextDecoder {
  constructor(label = 'utf-8', options = undefined) {
    const l = apply(strToLower, apply(strTrim, StringCtor(label), []), []);
    if (UTF8_LABELS[l] !== 1) throw construct(RangeErrorCtor, ['TextDecoder: encoding "' + l + '" is not supported (only UTF-8 is)']);
    const o = options === undefined || options === null ? create(null) : options;
    apply(wmSet, decoders, [this, { __proto__: null, fatal: !!o.fatal, ignoreBOM: !!o.ignoreBOM, need: 0, seen: 0, cp: 0, lower: 0x80, upper: 0xbf, bomDone: false }]);
  }
  get encoding() { decoderState(this); return 'utf-8'; }
  get fatal() { return decoderState(this).fatal; }
  get ignoreBOM() { return decoderState(this).ignoreBOM; }
  decode(input = undefined, options = undefined) {
    const st = decoderState(this);
    const stream = options !== undefined && options !== null && !!options.stream;
    const bytes = input === undefined ? construct(U8, [0]) : bufferSource(input, 'TextDecoder.decode');
    return utf8Decode(st, bytes, stream);
  }
  get [symTag]() { return 'TextDecoder'; }
}
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64V = construct(U8, [128]);
for (let i = 0; i < 128; i++) B64V[i] = 255;
for (let i = 0; i < 64; i++) B64V[apply(charCodeAt, B64, [i])] = i;
const invalidChar = (m) => domErr('InvalidCharacterError', m);
// forgiving-base64 decode (HTML spec), to a binary string
const atob = function atob(data) {
  if (arguments.length === 0) throw typeErr("atob: 1 argument required, but only 0 present");
  const s = StringCtor(data);
  const n = s.length;
  const vals = construct(U8, [n]);
  let m = 0;
  for (let i = 0; i < n; i++) {
    const c = apply(charCodeAt, s, [i]);
    if (c === 9 || c === 10 || c === 12 || c === 13 || c === 32) continue;
    vals[m++] = c < 128 ? B64V[c] : 255;
    if (c === 61) vals[m - 1] = 254;
  }
  if (m % 4 === 0 && m > 0 && vals[m - 1] === 254) { m--; if (vals[m - 1] === 254) m--; }
  if (m % 4 === 1) throw invalidChar('The string to be decoded is not correctly encoded.');
  for (let i = 0; i < m; i++) if (vals[i] > 63) throw invalidChar('The string to be decoded is not correctly encoded.');
  const codes = construct(U16, [((m * 3) >> 2) + 1]);
  let j = 0, acc = 0, bits = 0;
  for (let i = 0; i < m; i++) {
    acc = ((acc << 6) | vals[i]) & 0xffffff;
    bits += 6;
    if (bits >= 8) { bits -= 8; codes[j++] = (acc >> bits) & 0xff; }
  }
  return fromCodes(codes, j);
};
const btoa = function btoa(data) {
  if (arguments.length === 0) throw typeErr("btoa: 1 argument required, but only 0 present");
  const s = StringCtor(data);
  const n = s.length;
  const codes = construct(U16, [((n + 2) / 3 | 0) * 4]);
  let j = 0;
  for (let i = 0; i < n; i += 3) {
    const a = apply(charCodeAt, s, [i]);
    const b = i + 1 < n ? apply(charCodeAt, s, [i + 1]) : 0;
    const c = i + 2 < n ? apply(charCodeAt, s, [i + 2]) : 0;
    if (a > 255 || b > 255 || c > 255) throw invalidChar('The string to be encoded contains characters outside of the Latin1 range.');
    const t = (a << 16) | (b << 8) | c;
    codes[j++] = apply(charCodeAt, B64, [t >> 18]);
    codes[j++] = apply(charCodeAt, B64, [(t >> 12) & 63]);
    codes[j++] = i + 1 < n ? apply(charCodeAt, B64, [(t >> 6) & 63]) : 61;
    codes[j++] = i + 2 < n ? apply(charCodeAt, B64, [t & 63]) : 61;
  }
  return fromCodes(codes, j);
};
`;
