/**
 * scripts-examples/traefik: a static file and a directory of dynamic files written as Traefik's
 * documentation writes them (YAML with merge keys and Go durations, TOML services, chains,
 * name@file references) run unchanged but for the loopback ports, and route as Traefik documents.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { createGateway } from '../dist/gateway/index.js';
import { tempDir, upstream } from './fixtures/gateway/helpers.js';
import { raw } from './fixtures/gateway/builtins.js';

const EXAMPLE = path.join(import.meta.dirname, '..', 'scripts-examples', 'traefik');

it('runs the Traefik example directory and routes as Traefik documents', async (t) => {
  const a = await upstream((req, res) => res.end(JSON.stringify({ who: 'a', url: req.url, headers: req.headers, pad: 'x'.repeat(2000) })));
  const b = await upstream((req, res) => res.end(JSON.stringify({ who: 'b', url: req.url, headers: req.headers, pad: 'x'.repeat(2000) })));
  t.after(() => a.close());
  t.after(() => b.close());
  const d = await tempDir({});
  t.after(() => d.cleanup());
  await cp(EXAMPLE, d.dir, { recursive: true });
  // Only the ports change: a free one for the entry point, the test's upstreams for the servers.
  const staticFile = path.join(d.dir, 'traefik.yml');
  await writeFile(staticFile, (await readFile(staticFile, 'utf8')).replace('127.0.0.1:8090', '127.0.0.1:0'));
  const services = path.join(d.dir, 'dynamic', 'services.toml');
  await writeFile(services, (await readFile(services, 'utf8')).replace('http://127.0.0.1:8091/', a.url).replace('http://127.0.0.1:8092/', b.url));

  const gw = await createGateway(staticFile);
  t.after(() => gw.close());
  const url = Object.values(gw.entryPoints)[0]!.url;

  const who: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await raw(`${url}/api/users`, { headers: { host: 'example.com', 'accept-encoding': 'gzip' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(r.headers['x-frame-options'], 'DENY');
    assert.equal(r.headers['x-custom-response-header'], 'value');
    const seen = JSON.parse(zlib.gunzipSync(r.body).toString()) as { who: string; url: string; headers: Record<string, string> };
    assert.equal(seen.url, '/users');
    assert.equal(seen.headers['x-script-name'], 'test');
    assert.equal(seen.headers['x-forwarded-prefix'], '/api');
    who.push(seen.who);
  }
  assert.deepEqual(who.sort(), ['a', 'a', 'a', 'b']);
  const old = await raw(`${url}/old/page`, { headers: { host: 'example.com' } });
  assert.equal(old.status, 302);
  assert.equal(old.headers.location, 'http://example.com/new/page');
  const other = await raw(`${url}/anything`);
  assert.equal(JSON.parse(other.body.toString()).path, '/anything');
});
