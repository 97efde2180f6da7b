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
const keyOf = (k, usage) => {
  const st = k !== null && typeof k === 'object' ? apply(wmGet, keys, [k]) : undefined;
  if (st === undefined) throw typeErr('key is not a CryptoKey');
  let ok = false;
  for (let i = 0; i < st.usages.length; i++) if (st.usages[i] === usage) ok = true;
  if (!ok) throw domErr('InvalidAccessError', 'key does not allow ' + usage);
  return st;
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
        if (format !== 'raw') throw domErr('NotSupportedError', 'importKey: only the raw format is supported');
        if (apply(strToLower, algName(algorithm), []) !== 'hmac') throw domErr('NotSupportedError', 'importKey: only HMAC is supported');
        const hash = hashOf(algorithm.hash);
        const bytes = copyBytes(keyData, 'importKey');
        const len = apply(taLength, bytes, []);
        if (len === 0) throw domErr('DataError', 'importKey: the key is empty');
        const list = nullArray();
        let n = 0;
        const it = usages[symIterator]();
        for (let r = it.next(); !r.done; r = it.next()) {
          const u = StringCtor(r.value);
          if (u !== 'sign' && u !== 'verify') throw domErr('SyntaxError', 'importKey: HMAC keys allow only sign and verify');
          list[n++] = u;
        }
        if (n === 0) throw domErr('SyntaxError', 'importKey: usages must not be empty');
        const k = create(CryptoKeyP);
        const algo = freezeObj({ name: 'HMAC', hash: freezeObj({ name: hash }), length: len * 8 });
        defineProp(k, 'type', { __proto__: null, value: 'secret', enumerable: true });
        defineProp(k, 'extractable', { __proto__: null, value: !!extractable, enumerable: true });
        defineProp(k, 'algorithm', { __proto__: null, value: algo, enumerable: true });
        defineProp(k, 'usages', { __proto__: null, value: freezeObj(apply(AP_slice, setProto(list, AP), [])), enumerable: true });
        freezeObj(k);
        apply(wmSet, keys, [k, { __proto__: null, bytes, hash, usages: list }]);
        return k;
      });
    },
    sign(algorithm, key, data) {
      return promised(() => {
        if (apply(strToLower, algName(algorithm), []) !== 'hmac') throw domErr('NotSupportedError', 'sign: only HMAC is supported');
        const st = keyOf(key, 'sign');
        return bufferOf(pcall('hmac', st.hash, st.bytes, copyBytes(data, 'sign')));
      });
    },
    verify(algorithm, key, signature, data) {
      return promised(() => {
        if (apply(strToLower, algName(algorithm), []) !== 'hmac') throw domErr('NotSupportedError', 'verify: only HMAC is supported');
        const st = keyOf(key, 'verify');
        return pcall('hmacVerify', st.hash, st.bytes, copyBytes(signature, 'verify'), copyBytes(data, 'verify'));
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
