/**
 * entryPoints.<name>.proxyProtocol (issue 24): the PROXY protocol header, v1 and v2, over real
 * sockets. From a trusted source its address is the client's (X-Forwarded-For, ClientIP rules,
 * ipAllowList, the access log); from an untrusted one it is taken off but ignored, as Traefik's
 * go-proxyproto IGNORE policy; a malformed header closes that connection only.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { GatewayConfig } from '../dist/gateway/index.js';
import { parseProxyHeader } from '../dist/gateway/serve/proxy-protocol.js';
import { gateway, memoryLogger, request, tempDir, upstream } from './fixtures/gateway/helpers.js';
import { makeCa } from './fixtures/gateway/certs.js';

type T = { after(fn: () => unknown): void };

/** Send `bytes` on a fresh connection and read until the server closes it. */
function raw(port: number, bytes: Buffer | string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.on('error', reject);
  });
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nhost: a.example\r\nconnection: close\r\n\r\n`;

/** A v2 PROXY header for TCP over IPv4 or IPv6. */
function v2(src: string, sport: number, dst: string, dport: number, command = 0x21): Buffer {
  const six = net.isIPv6(src);
  const addr = (ip: string) => (six ? ipv6Bytes(ip) : Buffer.from(ip.split('.').map(Number)));
  const body = Buffer.concat([addr(src), addr(dst), Buffer.from([sport >> 8, sport & 255, dport >> 8, dport & 255])]);
  const head = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, command, six ? 0x21 : 0x11, body.length >> 8, body.length & 255]);
  return Buffer.concat([head, body]);
}

function ipv6Bytes(ip: string): Buffer {
  const [l, r = ''] = ip.split('::') as [string, string?];
  const left = l ? l.split(':') : [];
  const right = r ? r.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

async function start(t: T, proxyProtocol: { trustedIPs?: string[]; insecure?: boolean }, extra: Partial<GatewayConfig['http']> = {}) {
  const up = await upstream((req, res) => res.end(`seen ${req.headers['x-forwarded-for']}`));
  t.after(() => up.close());
  const d = await tempDir({});
  t.after(() => d.cleanup());
  const logger = memoryLogger();
  const gw = await gateway(
    t,
    {
      entryPoints: { web: { address: '127.0.0.1:0', proxyProtocol } },
      plugins: { dir: d.dir },
      accessLog: true,
      http: { routers: { r: { rule: 'PathPrefix(`/`)', service: 'up' } }, services: { up: { loadBalancer: { servers: [{ url: up.url }] } } }, ...extra },
    } as GatewayConfig,
    { logger },
  );
  return { gw, up, logger, port: Number(new URL(gw.url).port) };
}

describe('entryPoints.<name>.proxyProtocol', () => {
  it('from a trusted source, a v1 header sets the client address: X-Forwarded-For and the access log', async (t) => {
    const { up, logger, port } = await start(t, { trustedIPs: ['127.0.0.1/32'] });
    const out = await raw(port, `PROXY TCP4 203.0.113.7 10.0.0.1 51000 80\r\n${get('/v1')}`);
    assert.match(out, /^HTTP\/1\.1 200/);
    assert.equal(up.seen[0]!.headers['x-forwarded-for'], '203.0.113.7');
    const access = logger.lines.find((l) => l.msg === 'access');
    assert.equal((access?.obj as { client?: string } | undefined)?.client, '203.0.113.7');
  });

  it('from a trusted source, a v2 header (IPv4 and IPv6) sets the client address; LOCAL keeps the real one', async (t) => {
    const { up, port } = await start(t, { trustedIPs: ['127.0.0.0/8'] });
    assert.match(await raw(port, Buffer.concat([v2('198.51.100.9', 40000, '10.0.0.1', 80), Buffer.from(get('/v2'))])), /^HTTP\/1\.1 200/);
    assert.match(await raw(port, Buffer.concat([v2('2001:db8::5', 40000, '2001:db8::1', 80), Buffer.from(get('/v6'))])), /^HTTP\/1\.1 200/);
    assert.match(await raw(port, Buffer.concat([v2('198.51.100.9', 40000, '10.0.0.1', 80, 0x20), Buffer.from(get('/local'))])), /^HTTP\/1\.1 200/);
    assert.deepEqual(
      up.seen.map((s) => s.headers['x-forwarded-for']),
      ['198.51.100.9', '2001:db8::5', '127.0.0.1'],
    );
  });

  it('feeds ClientIP rules and ipAllowList with the header address', async (t) => {
    const { port } = await start(
      t,
      { insecure: true },
      {
        routers: {
          r: { rule: 'ClientIP(`203.0.113.0/24`)', middlewares: ['allow'], service: 'up' },
        },
        middlewares: { allow: { ipAllowList: { sourceRange: ['203.0.113.7/32'] } } },
      },
    );
    assert.match(await raw(port, `PROXY TCP4 203.0.113.7 10.0.0.1 1 80\r\n${get('/')}`), /^HTTP\/1\.1 200/);
    assert.match(await raw(port, `PROXY TCP4 203.0.113.8 10.0.0.1 1 80\r\n${get('/')}`), /^HTTP\/1\.1 403/);
    // Without a header the real address (127.0.0.1) matches no router.
    assert.match(await raw(port, get('/')), /^HTTP\/1\.1 404/);
  });

  it('from an untrusted source, the header is taken off the stream and its address ignored', async (t) => {
    const { up, port } = await start(t, { trustedIPs: ['192.0.2.0/24'] });
    const out = await raw(port, `PROXY TCP4 203.0.113.7 10.0.0.1 51000 80\r\n${get('/untrusted')}`);
    assert.match(out, /^HTTP\/1\.1 200/);
    assert.equal(up.seen[0]!.headers['x-forwarded-for'], '127.0.0.1');
  });

  it('a malformed header closes that connection with no answer, and the gateway keeps serving', async (t) => {
    const { gw, up, port } = await start(t, { insecure: true });
    assert.equal(await raw(port, `PROXY TCP4 999.1.1.1 10.0.0.1 1 80\r\n${get('/bad')}`), '');
    assert.equal(await raw(port, `PROXY ${'x'.repeat(200)}\r\n${get('/long')}`), '');
    const badV2 = v2('198.51.100.9', 1, '10.0.0.1', 80);
    badV2[12] = 0x31; // version 3
    assert.equal(await raw(port, Buffer.concat([badV2, Buffer.from(get('/v3'))])), '');
    assert.equal(up.seen.length, 0);
    // A connection without a header is still served as it is, and so are later ones.
    assert.equal((await request(`${gw.url}/after`)).status, 200);
  });

  it('works under TLS: the header comes before the handshake (HTTP/1.1 and h2 by ALPN); without one the real peer stays', async (t) => {
    const d = await tempDir({});
    t.after(() => d.cleanup());
    const ca = makeCa(d.dir);
    const cert = ca.leaf('a', 'a.example', ['DNS:a.example']);
    const up = await upstream((req, res) => res.end(`seen ${String(req.headers['x-forwarded-for'])}`));
    t.after(() => up.close());
    const gw = await gateway(t, {
      entryPoints: { websecure: { address: '127.0.0.1:0', proxyProtocol: { trustedIPs: ['127.0.0.1'] }, http: { tls: {} } } },
      plugins: { dir: d.dir },
      accessLog: false,
      tls: { certificates: [{ certFile: cert.certFile, keyFile: cert.keyFile }] },
      http: { routers: { r: { rule: 'PathPrefix(`/`)', service: 'up', tls: {} } }, services: { up: { loadBalancer: { servers: [{ url: up.url }] } } } },
    } as GatewayConfig);
    const port = gw.entryPoints.websecure!.port;
    /** A TLS connection over a TCP socket that first sends `header` (if any); resolves to the TLS socket once secure. */
    const secure = (header: string | undefined, alpn: string[]) =>
      new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => {
          if (header) s.write(header);
          const ts = tls.connect({ socket: s, servername: 'a.example', ca: ca.ca, ALPNProtocols: alpn }, () => resolve(ts));
          ts.on('error', reject);
        });
        s.on('error', reject);
      });
    const h1 = async (header: string | undefined) => {
      const ts = await secure(header, ['http/1.1']);
      ts.write(get('/tls'));
      const chunks: Buffer[] = [];
      ts.on('data', (c: Buffer) => chunks.push(c));
      await new Promise((r) => ts.on('close', r));
      return Buffer.concat(chunks).toString();
    };
    const withHeader = await h1('PROXY TCP4 203.0.113.7 10.0.0.1 51000 443\r\n');
    assert.match(withHeader, /^HTTP\/1\.1 200/);
    assert.match(withHeader, /seen 203\.0\.113\.7$/);
    // No header from a trusted source: served as it is, with the real peer address.
    assert.match(await h1(undefined), /seen 127\.0\.0\.1$/);
    // h2 over the same path: ALPN after the header, the header's address on every stream.
    const ts = await secure('PROXY TCP4 198.51.100.4 10.0.0.1 40000 443\r\n', ['h2']);
    assert.equal(ts.alpnProtocol, 'h2');
    const session = http2.connect('https://a.example', { createConnection: () => ts });
    t.after(() => session.close());
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({ ':path': '/h2' });
      let out = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (out += c));
      req.on('end', () => resolve(out));
      req.on('error', reject);
      req.end();
    });
    assert.equal(body, 'seen 198.51.100.4');
  });

  it('parses strictly: header lengths, v1 UNKNOWN, and incomplete input asks for more', () => {
    assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\nGET')), { length: 15 });
    assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4')), undefined);
    assert.equal(parseProxyHeader(v2('1.2.3.4', 1, '5.6.7.8', 2).subarray(0, 20)), undefined);
    assert.ok(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n')) instanceof Error);
    assert.ok(parseProxyHeader(Buffer.from('PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n')) instanceof Error);
    assert.deepEqual(parseProxyHeader(v2('1.2.3.4', 1, '5.6.7.8', 2)), { length: 28, source: { address: '1.2.3.4', port: 1, family: 'IPv4' } });
  });
});
