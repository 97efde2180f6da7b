/**
 * Permissions in meta against per-plugin grants (src/capabilities/permissions.ts): a plugin that
 * asks for more than it was granted does not load (ERR_PERMISSION naming each missing grant), a
 * serving version keeps serving when its replacement asks for too much, and a near-miss name gets
 * a "did you mean" hint.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { rm, writeFile } from 'node:fs/promises';
import { createHost } from 'terrarium-plugins';
import { fixtureDir } from './engines/conformance.js';
import { nextEvent } from './helpers.js';

const LIMITS = { memoryBytes: 16 * 1024 * 1024, callTimeoutMs: 20_000, loadTimeoutMs: 20_000, stackBytes: 256 * 1024 };
const js = (perms: unknown, v: string) => `export const meta = { name: 'authz', version: '${v}', permissions: ${JSON.stringify(perms)} };\nexport function v() { return '${v}'; }\n`;
const GRANTS = { authz: { fetch: ['https://auth.example.com'], kv: { shared: ['sessions'] } } };

describe('permissions in meta', () => {
  it('a plugin whose permissions are all granted loads and serves', async () => {
    const dir = await fixtureDir({ 'authz.js': js({ fetch: ['https://auth.example.com'], kv: true, kvShared: ['sessions'] }, '1') });
    await using host = await createHost({ dir, limits: LIMITS, grants: GRANTS, capabilities: { kv: { get: () => 1 } } });
    assert.equal(host.get<{ v(): string }>('authz').v(), '1');
    await rm(dir, { recursive: true, force: true });
  });

  it('a plugin asking for more than it was granted fails with ERR_PERMISSION naming each missing grant', async () => {
    const dir = await fixtureDir({ 'authz.js': js({ fetch: ['https://evil.example.com'], kv: true, kvShared: ['other'], bigint: true }, '1') });
    await using host = await createHost({ dir, limits: LIMITS, grants: GRANTS });
    const info = host.plugins[0]!;
    assert.equal(info.status, 'failed');
    assert.equal(info.error?.code, 'ERR_PERMISSION');
    const m = info.error!.message;
    assert.match(m, /fetch https:\/\/evil\.example\.com \(grants\.authz\.fetch\)/);
    assert.match(m, /kv \(the host has no kv capability\)/);
    assert.match(m, /kvShared other \(grants\.authz\.kv\.shared\)/);
    assert.match(m, /bigint \(grants\.authz\.bigint\)/);
    assert.deepEqual((info.error as unknown as { missing: string[] }).missing.length, 4);
    await rm(dir, { recursive: true, force: true });
  });

  it('a near-miss permission name gets a did-you-mean hint', async () => {
    const dir = await fixtureDir({ 'authz.js': js({ fecth: ['https://auth.example.com'] }, '1') });
    await using host = await createHost({ dir, limits: LIMITS, grants: GRANTS });
    assert.equal(host.plugins[0]!.error?.code, 'ERR_PERMISSION');
    assert.match(host.plugins[0]!.error!.message, /unknown permission "fecth" \(did you mean "fetch"\?\)/);
    await rm(dir, { recursive: true, force: true });
  });

  it('the serving version keeps serving when a reload asks for an ungranted permission', async () => {
    const dir = await fixtureDir({ 'authz.js': js({ fetch: ['https://auth.example.com'] }, '1') });
    await using host = await createHost({ dir, limits: LIMITS, grants: GRANTS });
    assert.equal(host.get<{ v(): string }>('authz').v(), '1');
    const failed = nextEvent(host, 'failed', 'authz');
    await writeFile(path.join(dir, 'authz.js'), js({ fetch: ['https://auth.example.com', 'https://evil.example.com'] }, '2'));
    await host.reload();
    assert.equal((await failed).error?.code, 'ERR_PERMISSION');
    assert.equal(host.get<{ v(): string }>('authz').v(), '1');
    await rm(dir, { recursive: true, force: true });
  });
});
