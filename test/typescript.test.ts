/**
 * TypeScript plugins: the shared conformance suite on TypeScript versions of the JavaScript
 * fixtures (same lines, so the same file:line expectations hold), then what is TypeScript's own:
 * type syntax, enums, syntax errors with file:line, declaration files ignored.
 */
import { runConformance } from './engines/conformance.js';
import { jsFixtures } from './engines/js-fixtures.js';

const tsFixtures = {
  ...jsFixtures,
  // Same lines as the JavaScript fixture (fail() throws on line 8), with types everywhere.
  basic: `export const meta: { name: string; version: string; apiVersion: number; description: string } = { name: 'basic', version: '1.2.3', apiVersion: 1, description: 'conformance' };
let n: number = 0;
export function echo<T>(x: T): T { return x; }
export function add(a: number, b: number): number { return a + b; }
export function concat(a: string, b: string): string { return a + b; }
export function counter(): number { return ++n; }
export function fail(msg: string): never {
  throw new Error(msg);
}
export function returnFunction(): () => number { return () => 1; }
export function noop(): void {}
export function throwTable(): never { throw { code: 42 } as unknown; }
`,
  caps: `declare const host: any;
${jsFixtures.caps.replace('export function readKv(k)', 'export function readKv(k: string)').replace('export async function fetchUser(id)', 'export async function fetchUser(id: number): Promise<unknown>')}`.replace(/^declare const host: any;\n/, 'declare const host: any; '),
};

runConformance({ engine: 'quickjs', ext: '.ts', fixtures: tsFixtures, lines: { fail: 8, syntax: 3 } });

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { createHost } from 'terrarium-plugins';
import { expectCode, fixtureDir } from './engines/conformance.js';

describe('typescript plugins', () => {
  it('runs interfaces, type aliases, enums, optional parameters, as const and parameter properties', async () => {
    const dir = await fixtureDir({
      'shapes.ts': `interface Req { method: string; path: string; headers: Record<string, string> }
type Decision = { status: number } | { setHeaders: Record<string, string> };
enum Code { Forbidden = 403 }
export const meta = { name: 'shapes', version: '1.0.0' } as const;
export function onRequest(req: Req, strict?: boolean): Decision {
  if (req.headers['x-block'] || (strict ?? false)) return { status: Code.Forbidden };
  return { setHeaders: { 'x-plugin': '1' } };
}
export class Counter { private n = 0; constructor(private readonly step: number) {} inc(): number { return (this.n += this.step); } }
const c = new Counter(1);
export function count(): number { return c.inc(); }
`,
      'types.d.ts': 'export declare function onRequest(req: unknown): unknown;\n',
    });
    await using host = await createHost({ dir });
    assert.deepEqual(host.plugins.map((p) => [p.name, p.engine, p.status]), [['shapes', 'quickjs', 'ready']]);
    const shapes = host.get<{ onRequest(r: unknown, strict?: boolean): unknown; count(): number }>('shapes');
    assert.deepEqual(shapes.onRequest({ method: 'GET', path: '/', headers: { 'x-block': '1' } }), { status: 403 });
    assert.deepEqual(shapes.onRequest({ method: 'GET', path: '/', headers: {} }), { setHeaders: { 'x-plugin': '1' } });
    assert.deepEqual(shapes.onRequest({ method: 'GET', path: '/', headers: {} }, true), { status: 403 });
    assert.equal(shapes.count(), 1);
    assert.equal(shapes.count(), 2);
    await rm(dir, { recursive: true, force: true });
  });

  it('reports a TypeScript syntax error with file:line:column, and a runtime error at its .ts line', async () => {
    const dir = await fixtureDir({
      'broken.ts': 'export function ok(): string { return "ok"; }\n\nexport function bad(a: number {\n  return a;\n}\n',
      'thrower.ts': 'interface X { a: number }\n\nexport function boom(x: X): never {\n  throw new Error(`bad ${x.a}`);\n}\n',
    });
    await using host = await createHost({ dir });
    const broken = host.plugins.find((p) => p.name === 'broken')!;
    assert.equal(broken.error?.code, 'ERR_PLUGIN_LOAD');
    assert.match(broken.error!.message, /TypeScript syntax error/);
    assert.equal(broken.error?.location, 'broken.ts:3:31'); // the '{' where ',' was expected
    const e = await expectCode(() => host.get<{ boom(x: unknown): never }>('thrower').boom({ a: 1 }), 'ERR_PLUGIN_THROWN');
    assert.equal(e.file, 'thrower.ts');
    assert.equal(e.line, 4);
    await rm(dir, { recursive: true, force: true });
  });
});
