/**
 * Lua's http.request (src/outbound/lua.ts): status, headers and body from a real local upstream,
 * the same policy as fetch (refusals raised with their code, catchable with pcall), and a call
 * waiting on a slow upstream yields: another call of the same plugin completes meanwhile.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { createHost, type Host } from 'terrarium-plugins';
import { fixtureDir } from './engines/conformance.js';

const LIMITS = { memoryBytes: 8 * 1024 * 1024, callTimeoutMs: 30_000, loadTimeoutMs: 20_000, stackBytes: 256 * 1024 };
const PLUGIN = `
local M = {}
function M.get(url)
  local res = http.request(url, { headers = { ['x-a'] = 'lua' } })
  return host.object({ status = res.status, reason = res.reason, ct = res.headers['content-type'], body = res.body })
end
function M.post(url, body)
  local res = http.request(url, { method = 'POST', body = body, headers = { ['content-type'] = 'application/json' } })
  return json.decode(res.body)
end
function M.refused(url)
  local ok, err = pcall(http.request, url)
  return host.array({ ok, tostring(err) })
end
return M
`;

describe('Lua http.request', () => {
  let s: http.Server;
  let A = '';
  let release: () => void = () => {};
  let slowArrived: () => void = () => {};
  let dir = '';
  let host: Host;
  before(async () => {
    s = http.createServer((req, res) => {
      if (req.url === '/slow') {
        slowArrived();
        release = () => res.end('slow done');
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ method: req.method, xa: req.headers['x-a'] ?? null, body: Buffer.concat(chunks).toString() })));
    });
    s.listen(0, '127.0.0.1');
    await once(s, 'listening');
    A = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    dir = await fixtureDir({ 'client.lua': PLUGIN });
    host = await createHost({ dir, limits: LIMITS, grants: { client: { fetch: [A] } } });
  });
  after(async () => {
    release();
    await host?.close();
    s.closeAllConnections();
    s.close();
    await rm(dir, { recursive: true, force: true });
  });
  const client = () => host.get<Record<string, any>>('client');

  it('returns status, reason, headers and body', async () => {
    const r = await client().get(`${A}/x`);
    assert.deepEqual({ ...r, body: JSON.parse(r.body) }, { status: 200, reason: 'OK', ct: 'application/json', body: { method: 'GET', xa: 'lua', body: '' } });
    assert.deepEqual(await client().post(`${A}/x`, '{"a":1}'), { method: 'POST', xa: null, body: '{"a":1}' });
  });

  it('refuses what the policy refuses, with the code, catchable with pcall', async () => {
    const [ok, err] = await client().refused('http://169.254.169.254/latest/meta-data/');
    assert.equal(ok, false);
    assert.match(err, /ERR_FETCH_DENIED/);
    const [ok2, err2] = await client().refused('file:///etc/passwd');
    assert.equal(ok2, false);
    assert.match(err2, /ERR_FETCH_DENIED/);
  });

  it('a call waiting on a slow upstream does not hold up another call', async () => {
    const arrived = new Promise<void>((r) => (slowArrived = r));
    const slow = client().get(`${A}/slow`);
    await arrived;
    const fast = await client().get(`${A}/fast`);
    assert.equal(fast.status, 200);
    release();
    assert.equal((await slow).body, 'slow done');
  });
});
