// Storage backend in memory (JavaScript). The Storage contract: get(key), put(key, value),
// delete(key), health(). Swap it for fs-storage.lua by replacing the file: see swap.ts.
export const meta = {
  name: 'storage',
  version: '1.0.0-memory',
  apiVersion: 1,
  description: 'Storage contract, in-memory backend',
  // Run on every load and reload, before this version serves (a failure keeps the old one).
  tests: {
    put: [{ args: ['selftest', 'x'], expect: true }],
    get: [{ args: ['selftest'], expect: 'x' }],
    delete: [{ args: ['selftest'], expect: true }],
  },
};

const data = new Map();

function checkKey(key) {
  if (typeof key !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(key)) throw new Error(`invalid key ${JSON.stringify(key)}: use 1-128 of A-Z a-z 0-9 . _ -`);
}

export function get(key) {
  checkKey(key);
  return data.get(key);
}

export function put(key, value) {
  checkKey(key);
  if (typeof value !== 'string') throw new Error('values are strings');
  data.set(key, value);
  return true;
}

// `delete` is a reserved word in JavaScript, so the export is renamed.
function remove(key) {
  checkKey(key);
  return data.delete(key);
}
export { remove as delete };

export function health() {
  return { ok: true, keys: data.size };
}
