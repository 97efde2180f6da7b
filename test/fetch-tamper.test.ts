/**
 * Regression: fetch, Headers, AbortSignal and the timers run on the built-ins the glue captured
 * before plugin code ran (src/platform/prims.ts). A plugin that replaces Promise.prototype.then,
 * Array.prototype methods, String.prototype.toUpperCase, RegExp.prototype.exec or JSON.parse
 * changes its own code only: what the upstream server receives, the Response the plugin reads and
 * when its timers fire stay as they were. The server binds 127.0.0.1 port 0.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { createHost, type Host } from 'terrarium-plugins';
import { fixtureDir } from './engines/conformance.js';

const PLUGIN = `
const tamper = () => {
  const boom = function () { throw new Error('tampered built-in called'); };
  Promise.prototype.then = boom;
  Array.prototype.push = boom;
  Array.prototype.indexOf = boom;
  Array.prototype.sort = boom;
  Array.prototype.splice = boom;
  Array.prototype.values = boom;
  String.prototype.toUpperCase = function () { return 'DELETE'; };
  RegExp.prototype.exec = function () { return null; };
  JSON.parse = function () { return { tampered: true }; };
  JSON.stringify = function () { return '"tampered"'; };
};
export async function send(url) {
  tamper();
  const c = new AbortController();
  const r = await fetch(url, { method: 'post', headers: { 'X-A': '1', 'x-b': '2' }, body: 'hello', signal: c.signal });
  const json = await r.json();
  const pairs = [];
  for (const p of r.headers.entries()) pairs[pairs.length] = p[0];
  // The timer is the behaviour under test (it still fires with Promise.prototype.then replaced);
  // the call waits for it to fire, its 1 ms delay is not a wait for anything else.
  const fired = await new Promise((resolve) => setTimeout((v) => resolve(v), 1, 'fired'));
  return { status: r.status, json, names: pairs.join(','), fired };
}
`;

describe('regression: fetch and timers ignore built-ins a plugin replaced', () => {
  let server: http.Server;
  let origin = '';
  let dir = '';
  let host: Host;
  before(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () =>
        res
          .writeHead(200, { 'content-type': 'application/json', 'z-last': '1', 'a-first': '1' })
          .end(JSON.stringify({ method: req.method, xa: req.headers['x-a'], xb: req.headers['x-b'], ct: req.headers['content-type'], body: Buffer.concat(chunks).toString() })),
      );
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dir = await fixtureDir({ 'tamper.js': PLUGIN });
    host = await createHost({ dir, limits: { memoryBytes: 16 << 20, callTimeoutMs: 20_000, loadTimeoutMs: 20_000 }, grants: { tamper: { fetch: { allow: [origin] } } } });
  });
  after(async () => {
    await host?.close();
    server.closeAllConnections();
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the upstream sees the request as written and the plugin reads the real response', async () => {
    const r = (await host.get<{ send(u: string): Promise<{ names: string }> }>('tamper').send(`${origin}/echo`)) as Record<string, unknown> & { names: string };
    const names = r.names.split(',');
    // the response's header names come sorted (Headers iteration), whatever the server's order
    assert.deepEqual(names, [...names].sort());
    assert.ok(names.includes('a-first') && names.includes('z-last') && names.includes('content-type'));
    assert.deepEqual({ ...r, names: undefined }, {
      status: 200,
      json: { method: 'POST', xa: '1', xb: '2', ct: 'text/plain;charset=UTF-8', body: 'hello' },
      names: undefined,
      fired: 'fired',
    });
  });
});
