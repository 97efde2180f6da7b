/**
 * Declared permissions narrow a grant (least privilege, src/capabilities/permissions.ts
 * narrowGrants): a plugin granted fetch to two origins that declares one reaches only that one;
 * one that declares permissions without kv gets no host.kv; one that declares nothing has its
 * grants as they are. Grants are keyed by plugin name (meta.name), and an entry under the file
 * name still applies when there is none under the plugin name. Servers bind 127.0.0.1 port 0.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { createHost, keyScoped, type Host } from 'terrarium-plugins';
import { fixtureDir } from './engines/conformance.js';

const LIMITS = { memoryBytes: 16 * 1024 * 1024, callTimeoutMs: 20_000, loadTimeoutMs: 20_000 };
const body = `
export async function get(url) { try { const r = await fetch(url); return await r.text(); } catch (e) { return e.code ?? e.name; } }
export function kv(k) { try { host.kv.set(k, 'v'); return host.kv.get(k); } catch (e) { return 'refused: ' + e.message; } }
`;
const plugin = (name: string, permissions: unknown) => `export const meta = { name: '${name}'${permissions === undefined ? '' : `, permissions: ${JSON.stringify(permissions)}`} };\n${body}`;

describe('declared permissions narrow the grant; grants by plugin name', () => {
  let a: http.Server;
  let b: http.Server;
  let A = '';
  let B = '';
  let dir = '';
  let host: Host;
  before(async () => {
    a = http.createServer((_q, r) => r.end('from a'));
    b = http.createServer((_q, r) => r.end('from b'));
    a.listen(0, '127.0.0.1');
    b.listen(0, '127.0.0.1');
    await Promise.all([once(a, 'listening'), once(b, 'listening')]);
    A = `http://127.0.0.1:${(a.address() as AddressInfo).port}`;
    B = `http://127.0.0.1:${(b.address() as AddressInfo).port}`;
    dir = await fixtureDir({
      // file names differ from plugin names on purpose: the grants below are keyed by meta.name
      'narrow-file.js': plugin('narrow', { fetch: [A] }),
      'kvuser-file.js': plugin('kvuser', { kv: true }),
      'legacy-file.js': plugin('legacy', undefined),
      'byfile.js': plugin('renamed', { fetch: [B], kv: true }),
    });
    const store = new Map<string, unknown>();
    host = await createHost({
      dir,
      limits: LIMITS,
      capabilities: { kv: { get: keyScoped((k: string) => store.get(k) ?? null), set: keyScoped((k: string, v: unknown) => void store.set(k, v)) } },
      grants: {
        narrow: { fetch: [A, B] },
        kvuser: { fetch: [A, B] },
        legacy: { fetch: [A, B] },
        byfile: { fetch: [B] }, // the old key form: the file name, used as there is no "renamed" entry
      },
    });
  });
  after(async () => {
    await host?.close();
    a.closeAllConnections();
    b.closeAllConnections();
    a.close();
    b.close();
    await rm(dir, { recursive: true, force: true });
  });
  type P = { get(u: string): Promise<string>; kv(k: string): Promise<string> };
  const p = (n: string) => host.get<P>(n);

  it('a plugin granted fetch to a and b that declares only a reaches a, and b is refused', async () => {
    assert.equal(await p('narrow').get(`${A}/`), 'from a');
    assert.equal(await p('narrow').get(`${B}/`), 'ERR_FETCH_DENIED');
  });

  it('permissions that leave out fetch give no fetch, though it was granted', async () => {
    assert.equal(await p('kvuser').get(`${A}/`), 'ERR_FETCH_DENIED');
  });

  it('kv is refused to a plugin whose permissions leave it out, and open to one that declares it', async () => {
    assert.match(await p('narrow').kv('k'), /^refused: .*host\.kv is not declared in the meta\.permissions of plugin "narrow"/);
    assert.equal(await p('kvuser').kv('k'), 'v');
  });

  it('a plugin that declares no permissions has its grants as they are', async () => {
    assert.equal(await p('legacy').get(`${A}/`), 'from a');
    assert.equal(await p('legacy').get(`${B}/`), 'from b');
    assert.equal(await p('legacy').kv('k'), 'v');
  });

  it('a grant under the file name applies when there is none under the plugin name', async () => {
    assert.equal(await p('renamed').get(`${B}/`), 'from b');
    assert.equal(await p('renamed').get(`${A}/`), 'ERR_FETCH_DENIED');
  });
});
