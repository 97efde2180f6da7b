/**
 * HTTP/2 on TLS entry points: ALPN h2 with http/1.1 kept, built-in middlewares applied the same
 * over h2, and an HTTP/1.1 upstream behind an h2 client (pseudo-headers become the Host and path,
 * no hop-by-hop header reaches the h2 response).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import tls from 'node:tls';
import { baseConfig, gateway, tempDir, upstream, type Upstream } from './fixtures/gateway/helpers.js';
import { makeCa, type Leaf } from './fixtures/gateway/certs.js';

function h2Get(url: string, ca: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, { ca, servername: 'a.example' });
    session.on('error', reject);
    const req = session.request({ ':path': path, ':authority': 'a.example', ...headers });
    let body = '';
    let head: http2.IncomingHttpHeaders = {};
    req.setEncoding('utf8');
    req.on('response', (h) => (head = h));
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      session.close();
      resolve({ status: Number(head[':status']), headers: head, body });
    });
    req.on('error', reject);
    req.end();
  });
}

function alpn(port: number, ca: string, offered: string[]): Promise<string | false> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'a.example', ca, ALPNProtocols: offered }, () => {
      resolve(s.alpnProtocol ?? false);
      s.end();
    });
    s.on('error', reject);
  });
}

describe('gateway HTTP/2', () => {
  let files: Awaited<ReturnType<typeof tempDir>>;
  let ca: ReturnType<typeof makeCa>;
  let a: Leaf;
  let up: Upstream;
  before(async () => {
    files = await tempDir({});
    ca = makeCa(files.dir);
    a = ca.leaf('a', 'a.example', ['DNS:a.example']);
    up = await upstream((req, res) => {
      res.setHeader('connection', 'keep-alive');
      res.setHeader('keep-alive', 'timeout=5');
      res.end(JSON.stringify({ url: req.url, host: req.headers.host, version: req.httpVersion, proto: req.headers['x-forwarded-proto'], pseudo: Object.keys(req.headers).filter((k) => k.startsWith(':')) }));
    });
  });
  after(async () => {
    await up.close();
    await files.cleanup();
  });

  const config = () =>
    baseConfig(
      files.dir,
      {
        routers: { api: { rule: 'Host(`a.example`) && PathPrefix(`/api`)', service: 'up', middlewares: ['strip', 'hdr'] } },
        middlewares: { strip: { stripPrefix: { prefixes: ['/api'] } }, hdr: { headers: { customResponseHeaders: { 'x-served': 'gateway' } } } },
        services: { up: { loadBalancer: { servers: [{ url: up.url }] } } },
      },
      { entryPoints: { websecure: { address: '127.0.0.1:0', http: { tls: {} } } }, tls: { certificates: [{ certFile: a.certFile, keyFile: a.keyFile }] } },
    );

  it('negotiates h2 by ALPN and keeps http/1.1 for clients that offer only it', async (t) => {
    const gw = await gateway(t, config());
    const port = gw.entryPoints.websecure!.port;
    assert.equal(await alpn(port, ca.ca, ['h2', 'http/1.1']), 'h2');
    assert.equal(await alpn(port, ca.ca, ['http/1.1']), 'http/1.1');
  });

  it('runs built-in middlewares over h2 to an HTTP/1.1 upstream: :authority as Host, no pseudo or hop-by-hop header crosses', async (t) => {
    const gw = await gateway(t, config());
    const r = await h2Get(gw.entryPoints.websecure!.url, ca.ca, '/api/items?x=1');
    assert.equal(r.status, 200);
    const seen = JSON.parse(r.body) as { url: string; host: string; version: string; proto: string; pseudo: string[] };
    assert.equal(seen.url, '/items?x=1');
    assert.equal(seen.host, 'a.example');
    assert.equal(seen.version, '1.1');
    assert.equal(seen.proto, 'https');
    assert.deepEqual(seen.pseudo, []);
    assert.equal(r.headers['x-served'], 'gateway');
    assert.equal(r.headers['keep-alive'], undefined);
    assert.equal(r.headers.connection, undefined);
  });

  it('answers 404 over h2 when no router matches', async (t) => {
    const gw = await gateway(t, config());
    const r = await h2Get(gw.entryPoints.websecure!.url, ca.ca, '/other');
    assert.equal(r.status, 404);
  });
});
