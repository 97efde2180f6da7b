/** The conformance fixtures in JavaScript (QuickJS); the TypeScript suite derives its own from them. */
export const jsFixtures = {
  basic: `export const meta = { name: 'basic', version: '1.2.3', apiVersion: 1, description: 'conformance' };
let n = 0;
export function echo(x) { return x; }
export function add(a, b) { return a + b; }
export function concat(a, b) { return a + b; }
export function counter() { return ++n; }
export function fail(msg) {
  throw new Error(msg);
}
export function returnFunction() { return () => 1; }
export function noop() {}
export function throwTable() { throw { code: 42 }; }
`,
  caps: `export function readKv(k) { return host.kv.get(k); }
export function readConfig() { return host.config; }
export function logIt(msg) { host.log.info(msg); return true; }
export function printIt(msg) { console.log(msg); return true; }
export async function fetchUser(id) { return await host.users.fetch(id); }
export function hostThrows() { return host.fail(); }
export function passFunction() { return host.kv.set('k', () => 1); }
export function mutateHost() {
  try { host.kv = null; host.x = 1; return 'mutated'; } catch (e) { return 'refused: ' + e.message; }
}
`,
  spin: `let ticks = 0;
export function spin() { for (;;) {} }
export function ok() { return 'ok'; }
export function tick() { return ++ticks; }
`,
  recurse: `function f(n) { return f(n + 1) + 1; }
export function recurse(n) { return f(n); }
export function viaHost(n) {
  try { return host.reenter(n + 1); } catch (e) { return 'caught'; }
}
export function ok() { return 'ok'; }
`,
  hog: `const keep = [];
export function hog() { for (let i = 0; ; i++) keep.push('x'.repeat(1024) + i); }
export function ok() { return 'ok'; }
`,
  loadspin: `while (true) {}
export function ok() { return 'ok'; }
`,
  syntax: `export function ok() { return 'ok'; }

let x = = 1;
`,
  badname: `export const meta = { name: 'has spaces!' };\nexport function ok() { return 'ok'; }\n`,
  fnmeta: `export const meta = { name: 'fnmeta', hook() {} };\nexport function ok() { return 'ok'; }\n`,
  swallow: `export function swallow() {
  try { while (true) {} } catch (e) { return 'escaped'; }
  return 'escaped';
}
`,
};
