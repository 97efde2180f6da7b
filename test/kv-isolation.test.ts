/**
 * host.kv is isolated per plugin (src/capabilities/kv-scope.ts): two plugins using the same key
 * write two entries, in the memory and the Redis backend alike; a shared namespace is reachable
 * only with grants.<plugin>.kv.shared. Regression for "host.kv keys are shared by every plugin:
 * one plugin can read and overwrite another's counters."
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { createHost, keyScoped, type Host } from 'terrarium-plugins';
import { createKvStore, openKv, type KvStore } from '../dist/gateway/kv/open.js';
import { expectCode, fixtureDir } from './engines/conformance.js';
import { memoryLogger } from './fixtures/gateway/helpers.js';
import { startRedis, type RedisServer } from './fixtures/redis.js';

const LIMITS = { memoryBytes: 16 * 1024 * 1024, callTimeoutMs: 10_000, loadTimeoutMs: 10_000, stackBytes: 256 * 1024 };
const JS = `
export function bump(k) { return host.kv.incr(k, 1); }
export function read(k) { return host.kv.get(k); }
export function write(k, v) { return host.kv.set(k, v); }
export function tryShared(k) { try { return host.kv.get(k); } catch (e) { return 'refused: ' + e.message; } }
`;
const LUA = `
local M = {}
function M.bump(k) return host.kv.incr(k, 1) end
function M.read(k) return host.kv.get(k) end
return M
`;

async function hostOver(store: KvStore, grants?: Record<string, { kv: { shared: string[] } }>): Promise<{ host: Host; dir: string }> {
  const dir = await fixtureDir({ 'a.js': JS, 'b.js': JS, 'c.lua': LUA });
  const host = await createHost({ dir, limits: LIMITS, capabilities: store.capability, ...(grants ? { grants } : {}) });
  return { host, dir };
}
type Kv = Record<string, any>;

function isolationCases(open: () => Promise<KvStore>) {
  it('two plugins incrementing the same key count separately', async (t) => {
    const store = await open();
    const { host, dir } = await hostOver(store);
    t.after(async () => (await host.close(), store.dispose(), await rm(dir, { recursive: true, force: true })));
    const a = host.get<Kv>('a');
    const b = host.get<Kv>('b');
    const c = host.get<Kv>('c');
    assert.equal(await a.bump('hits'), 1);
    assert.equal(await a.bump('hits'), 2);
    assert.equal(await b.bump('hits'), 1, "b does not see a's counter");
    assert.equal(await c.bump('hits'), 1, 'nor does a Lua plugin');
    await a.write('secret', 'a-only');
    assert.equal(await b.read('secret'), undefined, "b cannot read a's key");
    assert.equal(store.get('p:a:hits'), 2, 'the store holds the scoped key');
  });

  it('a shared namespace is reachable only by the plugins granted it', async (t) => {
    const store = await open();
    const { host, dir } = await hostOver(store, { a: { kv: { shared: ['counters'] } }, c: { kv: { shared: ['counters'] } } });
    t.after(async () => (await host.close(), store.dispose(), await rm(dir, { recursive: true, force: true })));
    const a = host.get<Kv>('a');
    const b = host.get<Kv>('b');
    const c = host.get<Kv>('c');
    assert.equal(await a.bump('@counters/total'), 1);
    assert.equal(await c.bump('@counters/total'), 2, 'the granted Lua plugin shares it');
    assert.match(await b.tryShared('@counters/total'), /refused: .*not granted to plugin "b".*grants\.b\.kv\.shared/);
    assert.equal(await a.read('total'), undefined, 'its own "total" is another key');
  });
}

describe('host.kv isolation, memory backend', () => {
  isolationCases(async () => createKvStore({ maxKeys: 1000 }));
});

describe('host.kv isolation, redis backend', () => {
  let redis: RedisServer;
  let n = 0;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.stop());
  isolationCases(() => openKv({ maxKeys: 1000, backend: 'redis', redis: { url: redis.url, keyPrefix: `iso${++n}:`, dialTimeoutMs: 2000, timeoutMs: 2000 } } as never, memoryLogger()));
});

describe('grants option and keyScoped', () => {
  it('rejects malformed grants with ERR_OPTIONS', async () => {
    await expectCode(() => createHost({ files: [], grants: { a: { kv: { shared: ['bad ns'] } } } }), 'ERR_OPTIONS');
    await expectCode(() => createHost({ files: [], grants: { a: { fs: {} } as never } }), 'ERR_OPTIONS');
  });

  it('an application capability marked keyScoped is scoped too; unmarked ones are not', async (t) => {
    const seen: string[] = [];
    const dir = await fixtureDir({ 'a.js': `export function go() { host.mine.put('k'); host.plain.put('k'); return 1; }` });
    const host = await createHost({ dir, limits: LIMITS, capabilities: { mine: { put: keyScoped((k: string) => void seen.push(k)) }, plain: { put: (k: string) => void seen.push(k) } } });
    t.after(async () => (await host.close(), await rm(dir, { recursive: true, force: true })));
    await host.get<Kv>('a').go();
    assert.deepEqual(seen, ['p:a:k', 'k']);
  });
});
