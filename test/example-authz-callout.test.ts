/**
 * scripts-examples/authz-callout/authz-callout.js end to end against a real local auth server: credentials
 * forwarded with fetch, the answer cached in kv (the auth server sees one request per token),
 * 401 without credentials, 403 on a denied token. The example's origin is rewritten to the test
 * server's free port (in its permissions and its default authUrl).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { readFile, rm } from 'node:fs/promises';
import { createHost, type Host } from 'terrarium-plugins';
import { fixtureDir } from './engines/conformance.js';

describe('example: authorization callout', () => {
  let auth: http.Server;
  const seen: string[] = [];
  let dir = '';
  let host: Host;
  before(async () => {
    auth = http.createServer((req, res) => {
      seen.push(String(req.headers.authorization));
      if (req.method === 'POST' && req.headers.authorization === 'Bearer good') return void res.writeHead(200, { 'x-auth-user': 'alice' }).end();
      res.writeHead(401).end();
    });
    auth.listen(0, '127.0.0.1');
    await once(auth, 'listening');
    const origin = `http://127.0.0.1:${(auth.address() as AddressInfo).port}`;
    const src = (await readFile(new URL('../scripts-examples/authz-callout/authz-callout.js', import.meta.url), 'utf8')).replaceAll('http://127.0.0.1:9000', origin);
    dir = await fixtureDir({ 'authz-callout.js': src });
    const store = new Map<string, unknown>();
    host = await createHost({
      dir,
      limits: { memoryBytes: 16 << 20, callTimeoutMs: 10_000, loadTimeoutMs: 20_000, stackBytes: 256 * 1024 },
      grants: { 'authz-callout': { fetch: [origin] } },
      capabilities: { kv: { get: (k: string) => store.get(k) ?? null, set: (k: string, v: unknown) => (store.set(k, v), true) } },
    });
  });
  after(async () => {
    await host?.close();
    auth.closeAllConnections();
    auth.close();
    await rm(dir, { recursive: true, force: true });
  });
  const mw = () => host.get<Record<string, any>>('authz-callout');
  const req = (authorization?: string) => ({ method: 'GET', path: '/api', headers: authorization ? { authorization } : {} });

  it('forwards credentials, lets an allowed token through, and caches the answer', async () => {
    assert.deepEqual(await mw().onRequest(req('Bearer good'), { config: {} }), { setHeaders: { 'x-auth-user': 'alice' } });
    assert.deepEqual(await mw().onRequest(req('Bearer good'), { config: {} }), { setHeaders: { 'x-auth-user': 'alice' } });
    assert.deepEqual(seen.filter((s) => s === 'Bearer good'), ['Bearer good']);
  });

  it('answers 401 without credentials and 403 for a denied token', async () => {
    assert.equal((await mw().onRequest(req(), { config: {} })).respond.status, 401);
    assert.equal((await mw().onRequest(req('Bearer bad'), { config: {} })).respond.status, 403);
  });
});
