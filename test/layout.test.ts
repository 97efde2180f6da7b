/**
 * The source layout keeps its seams: no module imports itself back through others (an import
 * cycle makes load order matter and hides which layer depends on which).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import madge from 'madge';

const src = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');

describe('source layout', () => {
  it('has no import cycle in src/', async () => {
    const graph = await madge(src, { fileExtensions: ['ts'], tsConfig: path.join(src, '..', 'tsconfig.json') });
    assert.deepEqual(graph.circular(), []);
    assert.ok(Object.keys(graph.obj()).length > 100, 'madge saw the source tree');
  });
});
