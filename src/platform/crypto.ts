/**
 * Web Crypto for QuickJS guests: crypto.getRandomValues / randomUUID, and crypto.subtle.digest
 * (SHA-1/256/384/512) plus HMAC importKey('raw') / sign / verify. Hashing and signing run in the
 * host on node:crypto (see host.ts): a SHA-256 written in JS inside QuickJS would be ~100x slower
 * and would count against the plugin's deadline for no gain. Keys stay guest data (their bytes in
 * a WeakMap only this glue can read), so no host object ever reaches the plugin.
 * subtle methods return promises, resolved with the synchronous host result: reactions run in a
 * microtask, as the spec orders them, and an async export can await them.
 */
export const GUEST_CRYPTO = `
const HASHES = create(null);
HASHES['sha-1'] = 'SHA-1'; HASHES['sha-256'] = 'SHA-256'; HASHES['sha-384'] = 'SHA-384'; HASHES['sha-512'] = 'SHA-512';
const HASH_BLOCK = create(null);
HASH_BLOCK['SHA-1'] = 512; HASH_BLOCK['SHA-256'] = 512; HASH_BLOCK['SHA-384'] = 1024; HASH_BLOCK['SHA-512'] = 1024;
const algName = (a) => {
  if (typeof a === 'string') return a;
  if (a !== null && typeof a === 'object' && typeof a.name === 'string') return a.name;
  throw typeErr('Algorithm: expected a string or an object with a name');
};
const hashOf = (a) => {
  const h = HASHES[apply(strToLower, algName(a), [])];
  if (h === undefined) throw domErr('NotSupportedError', 'Unrecognized algorithm name: ' + algName(a));
  return h;
};
const INT_ARRAYS = create(null);
INT_ARRAYS.Int8Array = 1; INT_ARRAYS.Uint8Array = 1; INT_ARRAYS.Uint8ClampedArray = 1; INT_ARRAYS.Int16Array = 1;
INT_ARRAYS.Uint16Array = 1; INT_ARRAYS.Int32Array = 1; INT_ARRAYS.Uint32Array = 1; INT_ARRAYS.BigInt64Array = 1; INT_ARRAYS.BigUint64Array = 1;
const keys = new WeakMapCtor();
class CryptoKey {
  constructor() { throw typeErr('Illegal constructor'); }
}
const CryptoKeyP = CryptoKey.prototype;
const stateOf = stateGetter(keys, 'CryptoKey');
const keyOf = (k, usage) => {
  const st = stateOf(k);
  let ok = false;
  for (let i = 0; i < st.usages.length; i++) if (st.usages[i] === usage) ok = true;
  if (!ok) throw domErr('InvalidAccessError', 'key does not allow ' + usage);
  return st;
};
const ALGS = create(null);
ALGS['hmac'] = 'HMAC'; ALGS['ecdsa'] = 'ECDSA'; ALGS['rsassa-pkcs1-v1_5'] = 'RSASSA-PKCS1-v1_5'; ALGS['rsa-pss'] = 'RSA-PSS'; ALGS['ed25519'] = 'Ed25519';
const normAlg = (a, what) => {
  const n = ALGS[apply(strToLower, algName(a), [])];
  if (n === undefined) throw domErr('NotSupportedError', what + ': unsupported algorithm ' + algName(a) + ' (HMAC, ECDSA, RSASSA-PKCS1-v1_5, RSA-PSS, Ed25519)');
  return n;
};
const USE_HMAC = ['sign', 'verify'], USE_PUBLIC = ['verify'], USE_PRIVATE = ['sign'];
const usageList = (usages) => {
  const list = nullArray();
  let n = 0;
  const it = usages[symIterator]();
  for (let r = it.next(); !r.done; r = it.next()) list[n++] = StringCtor(r.value);
  return list;
};
// The requested usages, each allowed for this key type (SyntaxError otherwise, as Web Crypto says).
const allowUsages = (list, allowed, type) => {
  for (let i = 0; i < list.length; i++) {
    let ok = false;
    for (let j = 0; j < allowed.length; j++) if (allowed[j] === list[i]) ok = true;
    if (!ok) throw domErr('SyntaxError', 'importKey: a ' + type + ' key cannot be used to ' + list[i]);
  }
  if (list.length === 0 && type !== 'public') throw domErr('SyntaxError', 'importKey: usages must not be empty');
  return list;
};
const jwkText = (jwk, extractable) => {
  if (jwk === null || typeof jwk !== 'object') throw typeErr('importKey: a jwk key is an object');
  if (jwk.ext === false && extractable) throw domErr('DataError', 'importKey: the JWK says ext: false, the key cannot be extractable');
  return jsonStringify(jwk);
};
// The usages as a plain array for the host's JWK checks (list itself is a null-prototype array).
const plainList = (list) => { const out = []; for (let i = 0; i < list.length; i++) out[i] = list[i]; return out; };
const makeKey = (type, extractable, algo, list, state) => {
  const k = create(CryptoKeyP);
  defineProp(k, 'type', { __proto__: null, value: type, enumerable: true });
  defineProp(k, 'extractable', { __proto__: null, value: !!extractable, enumerable: true });
  defineProp(k, 'algorithm', { __proto__: null, value: algo, enumerable: true });
  defineProp(k, 'usages', { __proto__: null, value: freezeObj(apply(AP_slice, setProto(list, AP), [])), enumerable: true });
  freezeObj(k);
  apply(wmSet, keys, [k, state]);
  return k;
};
// The glue's platform call takes four arguments: sign and verify pack their parameters in one.
// ECDSA names its hash in the sign/verify call; RSA keys carry theirs; Ed25519 has none.
const signHash = (algorithm, st) => (st.alg === 'ECDSA' ? hashOf(algorithm.hash) : st.hash);
const saltOf = (algorithm, alg) => {
  if (alg !== 'RSA-PSS') return 0;
  const n = algorithm.saltLength;
  if (typeof n !== 'number') throw typeErr('RSA-PSS: saltLength is required');
  return n;
};
// A promise for fn() (its throw becomes the rejection), settled now: reactions run in a microtask.
const promised = (fn) => {
  try { return apply(promiseResolve, PromiseCtor, [fn()]); } catch (e) { return construct(PromiseCtor, [(res, rej) => rej(e)]); }
};
const makeCrypto = (pcall) => {
  const subtle = {
    digest(algorithm, data) {
      return promised(() => {
        const h = hashOf(algorithm);
        return bufferOf(pcall('digest', h, copyBytes(data, 'digest')));
      });
    },
    importKey(format, keyData, algorithm, extractable, usages) {
      return promised(() => {
        const alg = normAlg(algorithm, 'importKey');
        const fmt = StringCtor(format);
        const wanted = usageList(usages);
        if (alg === 'HMAC') {
          const hash = hashOf(algorithm.hash);
          let bytes;
          if (fmt === 'raw') bytes = copyBytes(keyData, 'importKey');
          else if (fmt === 'jwk') bytes = pcall('octJwk', jwkText(keyData, extractable), hash, plainList(wanted));
          else throw domErr('NotSupportedError', 'importKey: HMAC keys are imported from raw or jwk');
          const len = apply(taLength, bytes, []);
          if (len === 0) throw domErr('DataError', 'importKey: the key is empty');
          const list = allowUsages(wanted, USE_HMAC, 'secret');
          return makeKey('secret', extractable, freezeObj({ name: 'HMAC', hash: freezeObj({ name: hash }), length: len * 8 }), list,
            { __proto__: null, alg, bytes, hash, usages: list, extractable: !!extractable });
        }
        if (fmt !== 'raw' && fmt !== 'jwk' && fmt !== 'spki' && fmt !== 'pkcs8') throw domErr('NotSupportedError', 'importKey: unknown format ' + fmt);
        const curve = alg === 'ECDSA' ? StringCtor(algorithm.namedCurve) : '';
        const hash = alg === 'RSASSA-PKCS1-v1_5' || alg === 'RSA-PSS' ? hashOf(algorithm.hash) : '';
        const data = fmt === 'jwk' ? jwkText(keyData, extractable) : copyBytes(keyData, 'importKey');
        const r = pcall('keyImport', alg, fmt, data, [curve, hash, plainList(wanted)]);
        const type = r[0];
        const list = allowUsages(wanted, type === 'public' ? USE_PUBLIC : USE_PRIVATE, type);
        let algo;
        if (alg === 'ECDSA') algo = { name: alg, namedCurve: curve };
        else if (alg === 'Ed25519') algo = { name: alg };
        else algo = { name: alg, modulusLength: r[3], publicExponent: r[4], hash: freezeObj({ name: hash }) };
        return makeKey(type, type === 'public' ? true : extractable, freezeObj(algo), list,
          { __proto__: null, alg, der: r[1], type, hash, curve, usages: list, extractable: type === 'public' ? true : !!extractable });
      });
    },
    exportKey(format, key) {
      return promised(() => {
        const st = stateOf(key);
        if (!st.extractable) throw domErr('InvalidAccessError', 'exportKey: the key is not extractable');
        const fmt = StringCtor(format);
        if (st.alg === 'HMAC') {
          if (fmt === 'raw') return bufferOf(apply(u8Slice, st.bytes, []));
          if (fmt === 'jwk') return { kty: 'oct', k: pcall('octExport', st.bytes), alg: 'HS' + apply(strSlice, st.hash, [4]), ext: true, key_ops: apply(AP_slice, setProto(st.usages, AP), []) };
          throw domErr('NotSupportedError', 'exportKey: HMAC keys export as raw or jwk');
        }
        const out = pcall('keyExport', st.alg, st.type, st.der, fmt);
        if (typeof out === 'string') {
          const jwk = jsonParse(out);
          jwk.ext = true;
          jwk.key_ops = apply(AP_slice, setProto(st.usages, AP), []);
          return jwk;
        }
        return bufferOf(out);
      });
    },
    sign(algorithm, key, data) {
      return promised(() => {
        const alg = normAlg(algorithm, 'sign');
        const st = keyOf(key, 'sign');
        if (st.alg !== alg) throw domErr('InvalidAccessError', 'sign: the key is for ' + st.alg + ', not ' + alg);
        if (alg === 'HMAC') return bufferOf(pcall('hmac', st.hash, st.bytes, copyBytes(data, 'sign')));
        return bufferOf(pcall('sign', [alg, signHash(algorithm, st), saltOf(algorithm, alg)], st.der, copyBytes(data, 'sign')));
      });
    },
    verify(algorithm, key, signature, data) {
      return promised(() => {
        const alg = normAlg(algorithm, 'verify');
        const st = keyOf(key, 'verify');
        if (st.alg !== alg) throw domErr('InvalidAccessError', 'verify: the key is for ' + st.alg + ', not ' + alg);
        if (alg === 'HMAC') return pcall('hmacVerify', st.hash, st.bytes, copyBytes(signature, 'verify'), copyBytes(data, 'verify'));
        return pcall('verify', [alg, signHash(algorithm, st), saltOf(algorithm, alg)], st.der, copyBytes(signature, 'verify'), copyBytes(data, 'verify'));
      });
    },
  };
  return {
    getRandomValues(array) {
      const name = isView(array) ? apply(taTag, array, []) : undefined;
      if (name === undefined || INT_ARRAYS[name] !== 1) throw domErr('TypeMismatchError', 'getRandomValues: expected an integer typed array');
      const n = apply(taBytes, array, []);
      if (n > 65536) throw domErr('QuotaExceededError', 'getRandomValues: ' + n + ' bytes requested, at most 65536 allowed');
      const view = construct(U8, [apply(taBuffer, array, []), apply(taOffset, array, []), n]);
      apply(u8Set, view, [pcall('random', n)]);
      return array;
    },
    randomUUID() { return pcall('uuid'); },
    subtle: freezeObj(subtle),
  };
};
`;
