/**
 * TLS and protocol switches: entry points that terminate TLS with certificate files (chosen by
 * SNI, reloaded when the files change), HTTPS upstreams verified through a serversTransport
 * (rootCAs, serverName, insecureSkipVerify), and WebSocket upgrades proxied after the
 * middlewares' onRequest. Certificates are made at run time with openssl.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { X509Certificate } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { createGateway, type GatewayConfig } from '../dist/gateway/index.js';
import { ConfigError } from '../dist/errors.js';
import { baseConfig, eventually, gateway, memoryLogger, request, tempDir } from './fixtures/gateway/helpers.js';
import { makeCa, type Leaf } from './fixtures/gateway/certs.js';

function httpsGet(url: string, opts: { ca: string; servername: string; headers?: Record<string, string> }): Promise<{ status: number; body: string; cert: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ca: opts.ca, servername: opts.servername, agent: false, headers: { host: opts.servername, ...opts.headers } }, (res) => {
      const cert = (res.socket as import('node:tls').TLSSocket).getPeerX509Certificate?.()?.fingerprint256 ?? '';
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cert }));
    });
    req.on('error', reject);
    req.end();
  });
}

const fingerprint = (leaf: Leaf) => new X509Certificate(leaf.cert).fingerprint256;

describe('gateway TLS: entry points', () => {
  let files: Awaited<ReturnType<typeof tempDir>>;
  let ca: ReturnType<typeof makeCa>;
  let a: Leaf;
  let b: Leaf;
  before(async () => {
    files = await tempDir({});
    ca = makeCa(files.dir);
    a = ca.leaf('a', 'a.example', ['DNS:a.example']);
    b = ca.leaf('b', 'b.example', ['DNS:*.b.example']);
  });
  after(() => files.cleanup());

  const config = (certificates: { certFile: string; keyFile: string }[]): GatewayConfig =>
    baseConfig(files.dir, { routers: { all: { rule: 'PathPrefix(`/`)', service: 'echo' } } }, {
      entryPoints: { websecure: { address: '127.0.0.1:0', http: { tls: {} } } },
      tls: { certificates },
    });

  it('terminates TLS, picks the certificate by SNI, and tells the upstream X-Forwarded-Proto: https', async (t) => {
    const gw = await gateway(t, config([a, b].map(({ certFile, keyFile }) => ({ certFile, keyFile }))));
    assert.match(gw.entryPoints.websecure!.url, /^https:\/\//);
    const ra = await httpsGet(`${gw.entryPoints.websecure!.url}/x`, { ca: ca.ca, servername: 'a.example' });
    assert.equal(ra.status, 200);
    assert.equal(ra.cert, fingerprint(a));
    assert.equal(JSON.parse(ra.body).headers['x-forwarded-proto'], 'https');
    const rb = await httpsGet(`${gw.entryPoints.websecure!.url}/x`, { ca: ca.ca, servername: 'www.b.example' });
    assert.equal(rb.cert, fingerprint(b));
  });

  it('loads changed certificate files for new connections', async (t) => {
    const dir = await tempDir({});
    const live = { certFile: `${dir.dir}/live.pem`, keyFile: `${dir.dir}/live.key` };
    copyFileSync(a.certFile, live.certFile);
    copyFileSync(a.keyFile, live.keyFile);
    const logger = memoryLogger();
    const gw = await gateway(t, config([live]), { logger });
    // After the gateway has closed (hooks run in order): its watcher never sees the files go.
    t.after(() => dir.cleanup());
    const before = await httpsGet(`${gw.entryPoints.websecure!.url}/`, { ca: ca.ca, servername: 'a.example' });
    assert.equal(before.cert, fingerprint(a));
    const renewed = ca.leaf('a2', 'a.example', ['DNS:a.example']);
    copyFileSync(renewed.keyFile, live.keyFile);
    copyFileSync(renewed.certFile, live.certFile);
    await eventually(async () => (await httpsGet(`${gw.entryPoints.websecure!.url}/`, { ca: ca.ca, servername: 'a.example' })).cert === fingerprint(renewed), 'the renewed certificate is served');
    assert.ok(logger.lines.some((l) => l.msg === 'TLS certificates reloaded'));
  });

  it('reports a missing certificate file and a TLS entry point without certificates, together', async () => {
    const cfg = config([{ certFile: `${files.dir}/nope.pem`, keyFile: `${files.dir}/nope.key` }]);
    cfg.entryPoints.other = { address: '127.0.0.1:0', http: { tls: {} } };
    await assert.rejects(createGateway(cfg), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      const paths = e.issues.map((i) => i.path);
      assert.ok(paths.includes('tls.certificates[0]'), paths.join());
      assert.match(e.issues.find((i) => i.path === 'tls.certificates[0]')!.message, /cannot load .*nope\.pem/);
      return true;
    });
  });
});

describe('gateway TLS: HTTPS upstreams through a serversTransport', () => {
  let files: Awaited<ReturnType<typeof tempDir>>;
  let ca: ReturnType<typeof makeCa>;
  let server: https.Server;
  let internal: https.Server;
  let url: string;
  let internalUrl: string;
  before(async () => {
    files = await tempDir({});
    ca = makeCa(files.dir);
    const ip = ca.leaf('ip', '127.0.0.1', ['IP:127.0.0.1']);
    const named = ca.leaf('named', 'internal.example', ['DNS:internal.example']);
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => res.end(JSON.stringify({ tls: true, host: req.headers.host }));
    server = https.createServer({ cert: ip.cert, key: (await import('node:fs')).readFileSync(ip.keyFile) }, handler);
    internal = https.createServer({ cert: named.cert, key: (await import('node:fs')).readFileSync(named.keyFile) }, handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => internal.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    internalUrl = `https://127.0.0.1:${(internal.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    internal.closeAllConnections();
    await new Promise((r) => server.close(r));
    await new Promise((r) => internal.close(r));
    await files.cleanup();
  });

  const config = (serverUrl: string, transport?: Record<string, unknown>): GatewayConfig =>
    baseConfig(files.dir, {
      routers: { all: { rule: 'PathPrefix(`/`)', service: 'up' } },
      services: { up: { loadBalancer: { servers: [{ url: serverUrl }], ...(transport ? { serversTransport: 't' } : {}) } } },
      ...(transport ? { serversTransports: { t: transport } } : {}),
    });

  it('verifies the server with rootCAs', async (t) => {
    const gw = await gateway(t, config(url, { rootCAs: [ca.caFile] }));
    const r = await request(`${gw.url}/`);
    assert.equal(r.status, 200);
    assert.equal(r.json().tls, true);
  });

  it('refuses a server whose certificate is not trusted (502)', async (t) => {
    const gw = await gateway(t, config(url));
    assert.equal((await request(`${gw.url}/`)).status, 502);
  });

  it('accepts any certificate with insecureSkipVerify', async (t) => {
    const gw = await gateway(t, config(url, { insecureSkipVerify: true }));
    assert.equal((await request(`${gw.url}/`)).status, 200);
  });

  it('checks the certificate against serverName', async (t) => {
    const ok = await gateway(t, config(internalUrl, { rootCAs: [ca.caFile], serverName: 'internal.example' }));
    assert.equal((await request(`${ok.url}/`)).status, 200);
    const wrong = await gateway(t, config(internalUrl, { rootCAs: [ca.caFile] }));
    assert.equal((await request(`${wrong.url}/`)).status, 502);
  });

  it('reports an unknown serversTransport and an unreadable CA file', async () => {
    const cfg = config(url, { rootCAs: ['missing-ca.pem'] });
    cfg.http!.services!.other = { loadBalancer: { servers: [{ url }], serversTransport: 'nope' } };
    await assert.rejects(createGateway(cfg), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      const paths = e.issues.map((i) => i.path);
      assert.ok(paths.includes('http.serversTransports.t.rootCAs[0]'), paths.join());
      assert.ok(paths.includes('http.services.other.loadBalancer.serversTransport'), paths.join());
      return true;
    });
  });
});

const TAG = `
export const meta = { name: 'tag', version: '1.0.0', apiVersion: 1 };
export function onRequest(req) {
  if (req.headers['x-block']) return { respond: { status: 403, body: { error: 'blocked' } } };
  return { setHeaders: { 'x-tagged': req.headers.upgrade || 'none' } };
}
`;

/** Open a raw connection, send an upgrade request, and resolve once the response head arrived. */
function upgradeRequest(port: number, path: string, extra = ''): Promise<{ socket: Socket; head: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      resolve({ socket, head: buf.subarray(0, end).toString('latin1'), rest: buf.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.on('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: a.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`);
  });
}

describe('gateway: WebSocket and Upgrade', () => {
  let files: Awaited<ReturnType<typeof tempDir>>;
  let up: http.Server;
  let upUrl: string;
  const seen: http.IncomingHttpHeaders[] = [];
  const sockets = new Set<Socket>();
  before(async () => {
    files = await tempDir({ 'tag.js': TAG });
    up = http.createServer((req, res) => res.writeHead(400).end('not an upgrade'));
    up.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    up.on('upgrade', (req: http.IncomingMessage, socket: Socket) => {
      seen.push(req.headers);
      if (req.url === '/refuse') {
        socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 7\r\nconnection: close\r\n\r\nrefused');
        return;
      }
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
      socket.on('data', (c: Buffer) => socket.write(c.toString('utf8').toUpperCase()));
    });
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    upUrl = `http://127.0.0.1:${(up.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => up.close(r));
    await files.cleanup();
  });

  const config = () =>
    baseConfig(files.dir, {
      routers: { ws: { rule: 'PathPrefix(`/`)', middlewares: ['tag'], service: 'up' } },
      middlewares: { tag: { plugin: { tag: {} } } },
      services: { up: { loadBalancer: { servers: [{ url: upUrl }] } } },
    });

  it('proxies a WebSocket handshake (101) and the frames both ways, after onRequest', async (t) => {
    const gw = await gateway(t, config());
    const { socket, head } = await upgradeRequest(gw.entryPoints.web!.port, '/chat');
    t.after(() => void socket.destroy());
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.match(head, /sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
    const echoed = new Promise<string>((r) => socket.once('data', (c: Buffer) => r(c.toString('utf8'))));
    socket.write('hello');
    assert.equal(await echoed, 'HELLO');
    const h = seen.at(-1)!;
    assert.equal(h['x-tagged'], 'websocket', 'the middleware saw the upgrade request');
    assert.equal(h.upgrade, 'websocket');
    assert.equal(h['x-forwarded-proto'], 'ws');
  });

  it('lets a middleware refuse an upgrade', async (t) => {
    const gw = await gateway(t, config());
    const before = seen.length;
    const { socket, head } = await upgradeRequest(gw.entryPoints.web!.port, '/chat', 'x-block: 1\r\n');
    t.after(() => void socket.destroy());
    assert.match(head, /^HTTP\/1\.1 403 /);
    assert.equal(seen.length, before, 'the upstream never saw it');
  });

  it('passes on an upstream that refuses to switch', async (t) => {
    const gw = await gateway(t, config());
    const { socket, head } = await upgradeRequest(gw.entryPoints.web!.port, '/refuse');
    t.after(() => void socket.destroy());
    assert.match(head, /^HTTP\/1\.1 403 /);
  });

  it('answers 404 to an upgrade no router matches', async (t) => {
    const gw = await gateway(t, baseConfig(files.dir, { routers: { only: { rule: 'Host(`other.example`)', service: 'echo' } } }));
    const { socket, head } = await upgradeRequest(gw.entryPoints.web!.port, '/chat');
    t.after(() => void socket.destroy());
    assert.match(head, /^HTTP\/1\.1 404 /);
  });
});
