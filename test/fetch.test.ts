/**
 * fetch in QuickJS plugins (src/platform/fetch.ts, src/outbound/): Headers/Request/Response, and
 * the outbound policy under hostile upstreams: the origin allowlist (also on redirects), internal
 * addresses refused after DNS (rebinding), a slow server, an endless body, huge headers, too many
 * requests in flight, credentials in the URL, non-http schemes. Servers bind 127.0.0.1 port 0.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { createHost, type Host } from 'terrarium-plugins';
import { Outbound } from '../dist/outbound/outbound.js';
import { isInternalAddress } from '../dist/outbound/policy.js';
import { expectCode, fixtureDir } from './engines/conformance.js';

const LIMITS = { memoryBytes: 16 * 1024 * 1024, callTimeoutMs: 30_000, loadTimeoutMs: 20_000, stackBytes: 256 * 1024 };

const PLUGIN = `
const report = (e) => ({ error: e.code ?? e.name, message: e.message });
export async function get(url, init) {
  try {
    const r = await fetch(url, init);
    return { status: r.status, statusText: r.statusText, ok: r.ok, url: r.url, redirected: r.redirected, ct: r.headers.get('content-type'), body: await r.text() };
  } catch (e) { return report(e); }
}
export async function echo(url) {
  const r = await fetch(new Request(url, { method: 'post', headers: { 'X-A': '1' }, body: JSON.stringify({ n: 1 }) }));
  return { json: await r.json(), used: r.bodyUsed };
}
export async function bytes(url) { const r = await fetch(url); return new Uint8Array(await r.arrayBuffer()); }
export async function many(url, n) {
  const ps = [];
  for (let i = 0; i < n; i++) ps.push(fetch(url).then((r) => r.status, (e) => e.code));
  return await Promise.all(ps);
}
export async function timed(url, ms) { try { await fetch(url, { signal: AbortSignal.timeout(ms) }); return 'done'; } catch (e) { return e.code ?? e.name; } }
export async function aborted(url) {
  const c = new AbortController();
  const p = fetch(url, { signal: c.signal });
  c.abort();
  try { await p; return 'done'; } catch (e) { return e.name; }
}
export function headers() {
  const h = new Headers({ 'X-B': '2', a: '1' });
  h.append('x-b', '3');
  let bad = '';
  try { h.set('bad name', 'x'); } catch (e) { bad = e.name; }
  return { pairs: [...h], b: h.get('X-b'), has: h.has('A'), bad };
}
export async function response() {
  const r = Response.json({ a: 1 }, { status: 201 });
  const t = new Response('hi', { statusText: 'Fine' });
  return { status: r.status, ct: r.headers.get('content-type'), body: await r.json(), text: await t.text(), st: t.statusText, ok: t.ok };
}
`;
const NOGRANT = `export async function get(url) { try { await fetch(url); return 'done'; } catch (e) { return { error: e.code, message: e.message }; } }`;

describe('fetch in JavaScript plugins', () => {
  let a: http.Server;
  let b: http.Server;
  let A = '';
  let B = '';
  let bHits = 0;
  let held: http.ServerResponse[] = [];
  let holdArrived: () => void = () => {};
  let dir = '';
  let host: Host;

  before(async () => {
    a = http.createServer((req, res) => {
      const path = req.url ?? '/';
      if (path === '/json') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"hello":"world"}');
      if (path === '/echo') {
        const chunks: Buffer[] = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ method: req.method, xa: req.headers['x-a'], ct: req.headers['content-type'], body: Buffer.concat(chunks).toString() })));
        return;
      }
      if (path === '/bin') return void res.end(Buffer.from([0, 1, 2, 255]));
      if (path === '/redirect-in') return void res.writeHead(302, { location: '/json' }).end();
      if (path === '/redirect-out') return void res.writeHead(302, { location: `${B}/` }).end();
      if (path === '/redirect-meta') return void res.writeHead(307, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      if (path === '/slow') return; // never answers
      if (path === '/endless') {
        res.writeHead(200);
        const chunk = Buffer.alloc(16384, 120);
        const pump = () => {
          while (res.write(chunk)) if (res.destroyed) return;
        };
        res.on('drain', pump);
        pump();
        return;
      }
      if (path === '/big-headers') return void res.writeHead(200, { 'x-big': 'y'.repeat(64 * 1024) }).end('x');
      if (path === '/hold') {
        held.push(res);
        holdArrived();
        return;
      }
      res.writeHead(404).end('nope');
    });
    b = http.createServer((_req, res) => {
      bHits++;
      res.end('secret');
    });
    a.listen(0, '127.0.0.1');
    b.listen(0, '127.0.0.1');
    await Promise.all([once(a, 'listening'), once(b, 'listening')]);
    A = `http://127.0.0.1:${(a.address() as AddressInfo).port}`;
    B = `http://127.0.0.1:${(b.address() as AddressInfo).port}`;
    dir = await fixtureDir({ 'web.js': PLUGIN, 'nogrant.js': NOGRANT });
    host = await createHost({
      dir,
      limits: LIMITS,
      quarantine: { maxViolations: Infinity },
      grants: { web: { fetch: { allow: [A], timeoutMs: 2000, maxResponseBytes: 256 * 1024, maxInFlight: 2 } } },
    });
  });
  after(async () => {
    await host?.close();
    for (const r of held) r.end();
    a.closeAllConnections();
    b.closeAllConnections();
    a.close();
    b.close();
    await rm(dir, { recursive: true, force: true });
  });
  const web = () => host.get<Record<string, any>>('web');

  it('fetches text and JSON with status, headers and url', async () => {
    const r = await web().get(`${A}/json`);
    assert.deepEqual(r, { status: 200, statusText: 'OK', ok: true, url: `${A}/json`, redirected: false, ct: 'application/json', body: '{"hello":"world"}' });
    assert.equal((await web().get(`${A}/missing`)).ok, false);
  });

  it('sends a Request with method, headers and a string body', async () => {
    assert.deepEqual(await web().echo(`${A}/echo`), { json: { method: 'POST', xa: '1', ct: 'text/plain;charset=UTF-8', body: '{"n":1}' }, used: true });
  });

  it('reads binary bodies with arrayBuffer()', async () => {
    assert.deepEqual([...(await web().bytes(`${A}/bin`))], [0, 1, 2, 255]);
  });

  it('Headers and Response behave as the Fetch standard says', async () => {
    assert.deepEqual(await web().headers(), { pairs: [['a', '1'], ['x-b', '2, 3']], b: '2, 3', has: true, bad: 'TypeError' });
    assert.deepEqual(await web().response(), { status: 201, ct: 'application/json', body: { a: 1 }, text: 'hi', st: 'Fine', ok: true });
  });

  it('follows a redirect within the allowlist', async () => {
    const r = await web().get(`${A}/redirect-in`);
    assert.equal(r.status, 200);
    assert.equal(r.redirected, true);
    assert.equal(r.url, `${A}/json`);
  });

  it('regression: a redirect to an origin outside the allowlist is refused, and nothing reaches it', async () => {
    const r = await web().get(`${A}/redirect-out`);
    assert.equal(r.error, 'ERR_FETCH_DENIED');
    assert.match(r.message, /\(redirect\)/);
    assert.match(r.message, /plugin "web"/);
    assert.equal(bHits, 0);
    const m = await web().get(`${A}/redirect-meta`);
    assert.equal(m.error, 'ERR_FETCH_DENIED');
    assert.match(m.message, /169\.254\.169\.254/);
  });

  it('refuses an origin outside the allowlist, credentials in the URL, and non-http schemes', async () => {
    const other = await web().get(`${B}/`);
    assert.equal(other.error, 'ERR_FETCH_DENIED');
    assert.match(other.message, /\(origin\)/);
    assert.ok(other.message.includes(`${B}/`), other.message);
    const cred = await web().get(`http://user:pw@${A.slice(7)}/json`);
    assert.equal(cred.error, 'ERR_FETCH_DENIED');
    assert.match(cred.message, /\(credentials\)/);
    for (const url of ['file:///etc/passwd', 'data:text/plain,hi', 'ftp://127.0.0.1/']) {
      const r = await web().get(url);
      assert.equal(r.error, 'ERR_FETCH_DENIED', url);
      assert.match(r.message, /\(scheme\)/);
    }
    assert.equal(bHits, 0);
  });

  it('a plugin without a fetch grant is refused, naming the grant', async () => {
    const r = await host.get<Record<string, any>>('nogrant').get(`${A}/json`);
    assert.equal(r.error, 'ERR_FETCH_DENIED');
    assert.match(r.message, /not-granted/);
    assert.match(r.message, /grants\.nogrant\.fetch/);
  });

  it('a slow server ends in ERR_FETCH_LIMIT (timeout), and AbortSignal.timeout shortens it with a TimeoutError', async () => {
    const r = await web().get(`${A}/slow`);
    assert.equal(r.error, 'ERR_FETCH_LIMIT');
    assert.match(r.message, /over its timeout limit/);
    assert.equal(await web().timed(`${A}/slow`, 50), 'TimeoutError');
  });

  it('an aborted fetch rejects with AbortError', async () => {
    assert.equal(await web().aborted(`${A}/json`), 'AbortError');
  });

  it('an endless response body stops at maxResponseBytes', async () => {
    const r = await web().get(`${A}/endless`);
    assert.equal(r.error, 'ERR_FETCH_LIMIT');
    assert.match(r.message, /over its size limit/);
  });

  it('huge response headers are refused', async () => {
    const r = await web().get(`${A}/big-headers`);
    assert.equal(r.error, 'ERR_FETCH_LIMIT');
    assert.match(r.message, /over its headers limit/);
  });

  it('a request over maxInFlight is refused while the others complete', async () => {
    held = [];
    let arrived = 0;
    const two = new Promise<void>((resolve) => {
      holdArrived = () => {
        if (++arrived === 2) resolve();
      };
    });
    const call = web().many(`${A}/hold`, 3);
    await two;
    for (const r of held) r.end('ok');
    assert.deepEqual(await call, [200, 200, 'ERR_FETCH_LIMIT']);
  });

  it('grants are validated with a did-you-mean hint', async () => {
    const e = await expectCode(() => createHost({ dir, limits: LIMITS, grants: { web: { fecth: ['https://a.example'] } as never } }), 'ERR_OPTIONS');
    assert.match(e.message, /did you mean "fetch"/);
    await expectCode(() => createHost({ dir, limits: LIMITS, grants: { web: { fetch: ['https://a.example/path'] } } }), 'ERR_OPTIONS');
  });
});

describe('outbound policy after DNS resolution', () => {
  let s: http.Server;
  let port = 0;
  before(async () => {
    s = http.createServer((_q, r) => r.end('reached'));
    s.listen(0, '127.0.0.1');
    await once(s, 'listening');
    port = (s.address() as AddressInfo).port;
  });
  after(() => {
    s.closeAllConnections();
    s.close();
  });

  it('regression: an allowlisted name that resolves to 127.0.0.1 (DNS rebinding) is refused', async () => {
    let asked = 0;
    const o = new Outbound({ plugin: () => 'p', grant: { allow: [`http://rebind.test:${port}`] }, memoryBytes: 1 << 20, resolver: async () => (asked++, [{ address: '127.0.0.1', family: 4 }]) });
    const e = await expectCode(() => o.fetch({ url: `http://rebind.test:${port}/`, method: 'GET', headers: [], body: null }), 'ERR_FETCH_DENIED');
    assert.match(e.message, /\(address\)/);
    assert.equal(asked, 1);
    const mixed = new Outbound({ plugin: () => 'p', grant: { allow: [`http://mixed.test:${port}`] }, memoryBytes: 1 << 20, resolver: async () => [{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.5', family: 4 }] });
    await expectCode(() => mixed.fetch({ url: `http://mixed.test:${port}/`, method: 'GET', headers: [], body: null }), 'ERR_FETCH_DENIED');
  });

  it('connects to the address it checked: a second, different answer is never asked for', async () => {
    let asked = 0;
    // "localhost" named in the allowlist may be internal; the resolver answers 10.x after the first time
    const o = new Outbound({
      plugin: () => 'p',
      grant: { allow: [`http://localhost:${port}`] },
      memoryBytes: 1 << 20,
      resolver: async () => [{ address: asked++ === 0 ? '127.0.0.1' : '10.255.255.1', family: 4 }],
    });
    const r = await o.fetch({ url: `http://localhost:${port}/`, method: 'GET', headers: [], body: null });
    assert.equal(Buffer.from(r.body).toString(), 'reached');
    assert.equal(asked, 1);
  });

  it('classifies loopback, private, link-local, CGNAT, ULA and metadata addresses as internal', () => {
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fd00:ec2::254', 'fc00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:7f00:1']) {
      assert.equal(isInternalAddress(ip), true, ip);
    }
    for (const ip of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111']) assert.equal(isInternalAddress(ip), false, ip);
  });
});
