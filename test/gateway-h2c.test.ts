/**
 * h2c on a cleartext entry point, as Traefik serves it (Go's h2c handler on its non-TLS servers):
 * an HTTP/2 client with prior knowledge (node:http2 connecting to http://) is served over HTTP/2,
 * several streams on one connection, and HTTP/1.1 clients keep working on the same port, including
 * one whose first bytes could start the HTTP/2 preface. Over real sockets.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { baseConfig, gateway, request, tempDir, upstream } from './fixtures/gateway/helpers.js';

function h2c(session: http2.ClientHttp2Session, path: string, opts: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path, ':method': opts.method ?? 'GET', ...opts.headers });
    let body = '';
    let head: http2.IncomingHttpHeaders = {};
    req.setEncoding('utf8');
    req.on('response', (h) => (head = h));
    req.on('data', (c: string) => (body += c));
    req.on('end', () => resolve({ status: Number(head[':status']), headers: head, body }));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A raw HTTP/1.1 exchange whose request is written in two parts: `first`, then the rest once it is sent. */
function splitRequest(port: number, first: string, rest: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(first, () => s.write(rest)));
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (out += c));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

describe('h2c on a cleartext entry point', () => {
  it('serves HTTP/2 with prior knowledge (several streams on one connection) and HTTP/1.1 on the same port', async (t) => {
    const files = await tempDir({});
    t.after(() => files.cleanup());
    const up = await upstream((req, res, body) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ path: req.url, body, host: req.headers.host, xff: req.headers['x-forwarded-for'], proto: req.headers['x-forwarded-proto'] }));
    });
    t.after(() => up.close());
    const gw = await gateway(t, baseConfig(files.dir, { routers: { r: { rule: 'PathPrefix(`/`)', service: 'up' } }, services: { up: { loadBalancer: { servers: [{ url: up.url }] } } } }));
    const port = gw.entryPoints.web!.port;

    const session = http2.connect(`http://127.0.0.1:${port}`);
    t.after(() => session.close());
    session.on('error', () => undefined);
    const [a, b, c] = await Promise.all([
      h2c(session, '/one'),
      h2c(session, '/two?q=1'),
      h2c(session, '/post', { method: 'POST', body: 'hello h2c', headers: { 'content-type': 'text/plain' } }),
    ]);
    for (const r of [a, b, c]) assert.equal(r.status, 200);
    const seen = [a, b, c].map((r) => JSON.parse(r.body) as { path: string; body: string; host: string; xff: string; proto: string });
    assert.deepEqual(seen.map((s) => s.path), ['/one', '/two?q=1', '/post']);
    assert.equal(seen[2]!.body, 'hello h2c');
    // :authority became the Host, the client address is the real peer's, the scheme http.
    assert.equal(seen[0]!.host, `127.0.0.1:${port}`);
    assert.equal(seen[0]!.xff, '127.0.0.1');
    assert.equal(seen[0]!.proto, 'http');
    assert.equal(a.headers['connection'], undefined, 'no hop-by-hop header in an h2 response');

    // HTTP/1.1 on the same port, at the same time as the h2c session.
    const h1 = await request(`http://127.0.0.1:${port}/h1`);
    assert.equal(h1.status, 200);
    assert.equal(h1.json<{ path: string }>().path, '/h1');
    // An HTTP/1.1 request whose first byte could start the preface ("P" of "PRI") is served as HTTP/1.1.
    const split = await splitRequest(port, 'P', `OST /split HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok`);
    assert.match(split, /^HTTP\/1\.1 200/);
    assert.match(split, /"path":"\/split","body":"ok"/);
  });

  it('answers a no-router request over h2c with the text 404 of HTTP/1.1', async (t) => {
    const files = await tempDir({});
    t.after(() => files.cleanup());
    const gw = await gateway(t, baseConfig(files.dir, { routers: { r: { rule: 'Host(`only.example`)', service: 'echo' } } }));
    const session = http2.connect(`http://127.0.0.1:${gw.entryPoints.web!.port}`);
    t.after(() => session.close());
    session.on('error', () => undefined);
    const r = await h2c(session, '/nothing');
    const h1 = await request(`${gw.url}/nothing`);
    assert.equal(r.status, 404);
    assert.equal(r.body, h1.text);
  });
});
