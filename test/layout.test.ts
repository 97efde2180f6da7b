/**
 * The source layout keeps its seams. No module imports itself back through others (an import
 * cycle makes load order matter and hides which layer depends on which), and the gateway is in
 * rooms by stage with its config model at the bottom: a stage imports only the stages below it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync, readFileSync } from 'node:fs';
import madge from 'madge';

const src = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');
const graph = madge(src, { fileExtensions: ['ts'], tsConfig: path.join(src, '..', 'tsconfig.json') });

/**
 * The gateway's layers, bottom first. The order is the one the code needs, not the request's
 * path: the exchange runs the middleware chain and forwards to a service, so it sits above both;
 * the config checker compiles rules and resolves middleware and service references, so it sits
 * above routing, services, middleware and kv (its Redis provider reads through kv). Below all of
 * them is the model: the types, the Issue, and the pure helpers every stage reports issues with.
 */
const LAYERS: { name: string; files: (f: string) => boolean }[] = [
  { name: 'config model', files: (f) => ['gateway/config/model.ts', 'gateway/config/issues.ts', 'gateway/config/duration.ts'].includes(f) },
  { name: 'stats', files: (f) => f.startsWith('gateway/stats/') },
  { name: 'routing', files: (f) => f.startsWith('gateway/routing/') },
  { name: 'services', files: (f) => f.startsWith('gateway/services/') },
  { name: 'middleware', files: (f) => f.startsWith('gateway/middleware/') },
  { name: 'kv', files: (f) => f.startsWith('gateway/kv/') },
  { name: 'config', files: (f) => f.startsWith('gateway/config/') },
  { name: 'exchange', files: (f) => f.startsWith('gateway/exchange/') },
  { name: 'admin', files: (f) => f.startsWith('gateway/admin/') },
  { name: 'acme', files: (f) => f.startsWith('gateway/acme/') },
  { name: 'serve', files: (f) => f.startsWith('gateway/serve/') },
  { name: 'public entry', files: (f) => f === 'gateway/index.ts' },
];

const layerOf = (f: string): number => LAYERS.findIndex((l) => l.files(f));

describe('source layout', () => {
  it('has no import cycle in src/', async () => {
    const g = await graph;
    assert.deepEqual(g.circular(), []);
    assert.ok(Object.keys(g.obj()).length > 100, 'madge saw the source tree');
  });

  it('puts every gateway file in a stage folder', async () => {
    const stray = Object.keys((await graph).obj()).filter((f) => f.startsWith('gateway/') && layerOf(f) < 0);
    assert.deepEqual(stray, []);
  });

  it('keeps the config model at the bottom: it imports nothing of the gateway', async () => {
    const obj = (await graph).obj();
    for (const f of Object.keys(obj).filter((x) => layerOf(x) === 0)) {
      assert.deepEqual(obj[f]!.filter((d) => d.startsWith('gateway/') && layerOf(d) !== 0), [], `${f} imports only the model`);
    }
    assert.deepEqual(obj['gateway/config/model.ts']!.filter((d) => !d.startsWith('node_modules')), [], 'model.ts is a leaf');
  });

  it('lets a gateway stage import only its own stage and those below it', async () => {
    const obj = (await graph).obj();
    const upward: string[] = [];
    for (const [f, deps] of Object.entries(obj)) {
      const mine = layerOf(f);
      if (mine < 0) continue;
      for (const d of deps) {
        const theirs = layerOf(d);
        if (theirs > mine) upward.push(`${f} (${LAYERS[mine]!.name}) -> ${d} (${LAYERS[theirs]!.name})`);
      }
    }
    assert.deepEqual(upward, []);
  });

  it('keeps the gateway out of the host: only the CLI and the gateway import it', async () => {
    const obj = (await graph).obj();
    const users = Object.entries(obj)
      .filter(([f, deps]) => !f.startsWith('gateway/') && !f.startsWith('cli/') && deps.some((d) => d.startsWith('gateway/')))
      .map(([f]) => f);
    assert.deepEqual(users, []);
  });

  it('gives the gateway the host only through its public entry, and what both need from shared/ (regression: it borrowed host/log-limit.ts and host/watch.ts)', async () => {
    const obj = (await graph).obj();
    // The modules src/index.ts re-exports from: the host's public face, which the gateway may use.
    const publicHost = new Set(obj['index.ts']!.filter((d) => d.startsWith('host/')));
    const internals = Object.entries(obj).flatMap(([f, deps]) => (f.startsWith('gateway/') ? deps.filter((d) => d.startsWith('host/') && !publicHost.has(d)).map((d) => `${f} -> ${d}`) : []));
    assert.deepEqual(internals, []);
    const shared = Object.keys(obj).filter((f) => f.startsWith('shared/'));
    assert.ok(shared.length >= 2, 'the shared pieces are there');
    for (const f of shared) assert.deepEqual(obj[f]!.filter((d) => !d.startsWith('shared/') && !d.startsWith('node_modules')), [], `${f} imports nothing of the host or the gateway`);
  });

  it('keeps the CLI whole under src/cli/', async () => {
    const obj = (await graph).obj();
    const outside = Object.keys(obj).filter((f) => /(^|\/)(cli|command)[^/]*\.ts$/.test(f) && !f.startsWith('cli/'));
    assert.deepEqual(outside, []);
    const gatewayImportsCli = Object.entries(obj).filter(([f, deps]) => f.startsWith('gateway/') && deps.some((d) => d.startsWith('cli/')));
    assert.deepEqual(gatewayImportsCli, []);
  });

  it("keeps the gateway's public types free of ioredis (regression: TS7016 under strict with skipLibCheck: false)", () => {
    // The declarations a user's compiler reads for `terrarium-plugins/gateway` (npm test builds dist/ first).
    const seen = new Set<string>();
    const external = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
        const spec = m[1]!;
        if (!spec.startsWith('.')) {
          external.add(spec);
          continue;
        }
        const next = path.resolve(path.dirname(file), spec.replace(/\.js$/, '.d.ts'));
        if (existsSync(next)) visit(next);
      }
    };
    visit(path.join(src, '..', 'dist', 'gateway', 'index.d.ts'));
    assert.ok(seen.size > 10, 'walked the declarations');
    assert.deepEqual([...external].filter((x) => x === 'ioredis' || x.startsWith('ioredis/')), []);
  });

  it('reads a config visiting each module once: the walk from config/load.ts never comes back to the config stage once it has left it', async () => {
    // The walk is the one Node's ESM loader makes from `terrarium serve` (cli/serve.ts imports
    // config/load.ts): depth first along the imports. It leaves the config stage for the stages it
    // calls (routing's rules, the middleware and service resolvers, kv, stats) and from there may
    // read only the model below them; an import back into the stage would make it a layer above
    // and below at once (regression: the old config-check.ts was entered 4 times this way).
    const obj = (await graph).obj();
    assert.ok(obj['cli/serve.ts']!.includes('gateway/config/load.ts'), 'serve reads its config through load.ts');
    const stage = (f: string) => layerOf(f) === LAYERS.findIndex((l) => l.name === 'config');
    const comebacks: string[] = [];
    const seen = new Set<string>();
    const walk = (f: string, trail: string[]) => {
      const left = trail.some((t) => !stage(t)) && trail.some(stage);
      if (stage(f) && left) comebacks.push([...trail, f].join(' -> '));
      const key = `${f}\0${left || !stage(f)}`;
      if (seen.has(key)) return;
      seen.add(key);
      for (const d of obj[f] ?? []) if (d.startsWith('gateway/') || d.startsWith('host/')) walk(d, [...trail, f]);
    };
    walk('gateway/config/load.ts', []);
    assert.ok(seen.size > 20, 'walked the config reader');
    assert.deepEqual(comebacks, []);
  });
});
