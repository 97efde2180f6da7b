/**
 * HTTP conformance of the gateway over raw sockets (RFC 9110/9112 and Traefik's documented
 * behaviour): no request smuggling, the path normalised before routing, forwarded headers only
 * from trusted peers, timeouts on slow clients and uploads, the Host/target MUSTs, 1xx, CONNECT,
 * and what already worked (bodies, HEAD, pipelining, Expect: 100-continue, CL+TE conflicts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { baseConfig, gateway, tempDir, upstream, type Upstream } from './fixtures/gateway/helpers.js';
import { chunked, parseResponses, rawExchange } from './fixtures/gateway/raw.js';
import type { GatewayConfig } from '../dist/gateway/index.js';

const DENY = `
export const meta = { name: 'deny', version: '1.0.0', apiVersion: 1 };
export function onRequest(req) { return { respond: { status: 403, body: { denied: req.path } } }; }
`;

/** The upstream answers what it received. */
function reflect(up: () => Upstream) {
  return (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, body: string) => {
    if (req.url === '/hints') {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body, n: up().seen.length }));
  };
}

async function setup(t: { after(fn: () => unknown): void }, extra: (up: string) => Partial<GatewayConfig> = () => ({})) {
  const files = await tempDir({ 'deny.js': DENY });
  t.after(() => files.cleanup());
  let up!: Upstream;
  up = await upstream(reflect(() => up));
  t.after(() => up.close());
  const more = extra(up.url);
  const gw = await gateway(
    t,
    baseConfig(
      files.dir,
      {
        routers: {
          admin: { rule: 'PathPrefix(`/admin`)', middlewares: ['deny'], service: 'up' },
          rest: { rule: 'PathPrefix(`/`)', service: 'up' },
        },
        middlewares: { deny: { plugin: { deny: {} } } },
        services: { up: { loadBalancer: { servers: [{ url: up.url }], forwardingTimeouts: { responseHeaderTimeout: '2s' } } } },
      },
      more,
    ),
  );
  return { gw, up, port: gw.entryPoints.web!.port };
}

const SMUGGLED = 'GET /admin/secret HTTP/1.1\r\nHost: evil.example\r\n\r\n';

describe('gateway HTTP: request smuggling', () => {
  for (const method of ['GET', 'HEAD', 'DELETE', 'OPTIONS', 'POST']) {
    it(`forwards a chunked ${method} body with its framing, so the upstream never sees a second request`, async (t) => {
      const { up, port } = await setup(t);
      const text = await rawExchange(port, [`${method} /public HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED)}`, `GET /public/next HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n`]);
      const responses = parseResponses(text, method === 'HEAD');
      assert.equal(responses.length, 2, text);
      assert.deepEqual(
        up.seen.map((r) => r.url),
        ['/public', '/public/next'],
      );
      assert.equal(up.seen[0]!.body, SMUGGLED, 'the body arrives as a body');
      assert.equal(up.seen[0]!.method, method);
    });
  }

  it('refuses Content-Length together with Transfer-Encoding (400) without forwarding', async (t) => {
    const { up, port } = await setup(t);
    const text = await rawExchange(port, [`POST /public HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED)}`]);
    assert.equal(parseResponses(text)[0]!.status, 400);
    assert.equal(up.seen.length, 0);
  });
});

describe('gateway HTTP: path normalisation before routing (Traefik)', () => {
  for (const path of ['/%61dmin/users', '//admin/users', '/public/../admin/users', '/%2e%2e/admin', '/./admin', '/ADMIN/../admin/x']) {
    it(`routes ${path} as /admin`, async (t) => {
      const { up, port } = await setup(t);
      const [r] = parseResponses(await rawExchange(port, [`GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`]));
      assert.equal(r!.status, 403, `${path} reached ${JSON.stringify(up.seen.map((s) => s.url))}`);
      assert.equal(up.seen.length, 0);
    });
  }

  it('forwards the normalised path: unreserved escapes decoded, others upper-cased, slashes merged', async (t) => {
    const { up, port } = await setup(t);
    const [r] = parseResponses(await rawExchange(port, [`GET /p%75blic//a/./b%c3%a9?q=%2f HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`]));
    assert.equal(r!.status, 200);
    assert.equal(up.seen[0]!.url, '/public/a/b%C3%A9?q=%2f');
  });

  for (const [path, what] of [
    ['/admin%2fusers', '%2F'],
    ['/a%5cb', '%5C'],
    ['/a%00', '%00'],
    ['/a%3bx', '%3B'],
    ['/a%25', '%25'],
    ['/a%3f', '%3F'],
    ['/a%23', '%23'],
  ] as [string, string][]) {
    it(`refuses the encoded character ${what} in the path with 400`, async (t) => {
      const { up, port } = await setup(t);
      const [r] = parseResponses(await rawExchange(port, [`GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`]));
      assert.equal(r!.status, 400);
      assert.match(r!.body, new RegExp(what));
      assert.equal(up.seen.length, 0);
    });
  }
});

describe('gateway HTTP: forwarded headers', () => {
  const spoof = 'X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\nX-Real-Ip: 1.2.3.4\r\nX-Forwarded-Prefix: /x\r\n';

  it("replaces an untrusted client's X-Forwarded-* with the real ones (Traefik's default)", async (t) => {
    const { up, port } = await setup(t);
    await rawExchange(port, [`GET /public HTTP/1.1\r\nHost: a.example:8080\r\n${spoof}Connection: close\r\n\r\n`]);
    const h = up.seen[0]!.headers;
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], 'a.example:8080');
    assert.equal(h['x-forwarded-port'], '8080');
    assert.equal(h['x-real-ip'], '127.0.0.1');
    assert.equal(h['x-forwarded-prefix'], undefined);
    assert.equal(typeof h['x-forwarded-server'], 'string');
  });

  it('keeps them from a peer in forwardedHeaders.trustedIPs, appending to X-Forwarded-For', async (t) => {
    const { up, port } = await setup(t, () => ({ entryPoints: { web: { address: '127.0.0.1:0', forwardedHeaders: { trustedIPs: ['10.0.0.0/8', '127.0.0.1'] } } } }));
    await rawExchange(port, [`GET /public HTTP/1.1\r\nHost: a.example\r\n${spoof}Connection: close\r\n\r\n`]);
    const h = up.seen[0]!.headers;
    assert.equal(h['x-forwarded-for'], '1.2.3.4, 127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'https');
    assert.equal(h['x-forwarded-host'], 'evil.example');
    assert.equal(h['x-real-ip'], '1.2.3.4');
  });

  it('keeps them from anyone with forwardedHeaders.insecure', async (t) => {
    const { up, port } = await setup(t, () => ({ entryPoints: { web: { address: '127.0.0.1:0', forwardedHeaders: { insecure: true } } } }));
    await rawExchange(port, [`GET /public HTTP/1.1\r\nHost: a.example\r\n${spoof}Connection: close\r\n\r\n`]);
    assert.equal(up.seen[0]!.headers['x-forwarded-proto'], 'https');
  });

  it('does not trust a peer outside trustedIPs', async (t) => {
    const { up, port } = await setup(t, () => ({ entryPoints: { web: { address: '127.0.0.1:0', forwardedHeaders: { trustedIPs: ['10.0.0.0/8'] } } } }));
    await rawExchange(port, [`GET /public HTTP/1.1\r\nHost: a.example\r\n${spoof}Connection: close\r\n\r\n`]);
    assert.equal(up.seen[0]!.headers['x-forwarded-for'], '127.0.0.1');
  });

  it('routes on the headers as cleaned (a Header rule cannot be satisfied by a spoofed X-Forwarded-*)', async (t) => {
    const files = await tempDir({});
    t.after(() => files.cleanup());
    const gw = await gateway(
      t,
      baseConfig(files.dir, {
        routers: { internal: { rule: 'Header(`X-Real-Ip`, `10.0.0.1`)', service: 'echo' } },
      }),
    );
    const [r] = parseResponses(await rawExchange(gw.entryPoints.web!.port, [`GET / HTTP/1.1\r\nHost: a\r\nX-Real-Ip: 10.0.0.1\r\nConnection: close\r\n\r\n`]));
    assert.equal(r!.status, 404);
  });
});

describe('gateway HTTP: timeouts', () => {
  it('starts the response-header timeout after the request body is sent (a slow upload to a healthy upstream succeeds)', async (t) => {
    const { up, port } = await setup(t, (u) => ({
      http: {
        routers: { rest: { rule: 'PathPrefix(`/`)', service: 'up' } },
        services: { up: { loadBalancer: { servers: [{ url: u }], forwardingTimeouts: { responseHeaderTimeout: '200ms' } } } },
      },
    }));
    // The upload lasts longer than the timeout (each pause is at least 250 ms, longer on a busy machine).
    const text = await rawExchange(port, ['POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\n', 'a', 250, 'b', 250, 'c']);
    const [r] = parseResponses(text);
    assert.equal(r!.status, 200, text);
    assert.equal(up.seen[0]!.body, 'abc');
  });

  it('answers 408 and closes when the request headers do not arrive within readTimeout', { timeout: 20_000 }, async (t) => {
    const { port } = await setup(t, () => ({ entryPoints: { web: { address: '127.0.0.1:0', transport: { respondingTimeouts: { readTimeout: '300ms' } } } } }));
    // Never completes the headers: only the gateway's timeout ends this exchange.
    const text = await rawExchange(port, ['GET /public HTTP/1.1\r\nHost: a\r\n']);
    assert.equal(parseResponses(text)[0]?.status, 408, text);
  });

  it('closes a connection whose body never ends within readTimeout', { timeout: 20_000 }, async (t) => {
    const { up, port } = await setup(t, () => ({ entryPoints: { web: { address: '127.0.0.1:0', transport: { respondingTimeouts: { readTimeout: '300ms' } } } } }));
    const text = await rawExchange(port, ['POST /public HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc']);
    const r = parseResponses(text)[0];
    assert.ok(r === undefined || r.status === 408 || r.status === 502, text);
    assert.equal(up.seen.filter((s) => s.body.length === 100).length, 0);
  });

  it('closes a keep-alive connection idle for idleTimeout', { timeout: 20_000 }, async (t) => {
    const { port } = await setup(t, () => ({ entryPoints: { web: { address: '127.0.0.1:0', transport: { respondingTimeouts: { idleTimeout: '200ms' } } } } }));
    // A keep-alive request, then nothing: only the gateway's idle timeout ends this exchange.
    const text = await rawExchange(port, ['GET /public HTTP/1.1\r\nHost: a\r\n\r\n']);
    assert.equal(parseResponses(text)[0]!.status, 200);
  });

  it('cuts a response that is not written within writeTimeout', { timeout: 20_000 }, async (t) => {
    const files = await tempDir({});
    t.after(() => files.cleanup());
    const slow = await upstream(() => undefined); // never answers
    t.after(() => slow.close());
    const gw = await gateway(
      t,
      baseConfig(
        files.dir,
        { routers: { r: { rule: 'PathPrefix(`/`)', service: 's' } }, services: { s: { loadBalancer: { servers: [{ url: slow.url }] } } } },
        { entryPoints: { web: { address: '127.0.0.1:0', transport: { respondingTimeouts: { writeTimeout: '300ms' } } } } },
      ),
    );
    const text = await rawExchange(gw.entryPoints.web!.port, ['GET /slow HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n']);
    assert.equal(text, '', 'the connection is closed without a response');
  });

  it('limits concurrent connections with transport.maxConnections', { timeout: 20_000 }, async (t) => {
    const { port, gw } = await setup(t, () => ({ entryPoints: { web: { address: '127.0.0.1:0', transport: { maxConnections: 1 } } } }));
    const net = await import('node:net');
    // The server's own 'connection' event: by then it has counted the first connection.
    const server = (gw as unknown as { servers: Map<string, import('node:http').Server> }).servers.get('web')!;
    const counted = new Promise((r) => server.once('connection', r));
    const first: Socket = net.connect(port, '127.0.0.1');
    t.after(() => void first.destroy());
    await counted;
    const text = await rawExchange(port, ['GET /public HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n']);
    assert.equal(text, '', 'the second connection is closed without an answer');
  });
});

describe('gateway HTTP: RFC 9110/9112 MUSTs', () => {
  it('answers 400 to two Host headers', async (t) => {
    const { up, port } = await setup(t);
    const [r] = parseResponses(await rawExchange(port, ['GET /public HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n']));
    assert.equal(r!.status, 400);
    assert.equal(up.seen.length, 0);
  });

  it('answers 400 to an invalid Host', async (t) => {
    const { up, port } = await setup(t);
    const [r] = parseResponses(await rawExchange(port, ['GET /public HTTP/1.1\r\nHost: a.example/evil\r\nConnection: close\r\n\r\n']));
    assert.equal(r!.status, 400);
    assert.equal(up.seen.length, 0);
  });

  it('accepts an absolute-form target, routing by its authority', async (t) => {
    const { up, port } = await setup(t);
    const [r] = parseResponses(await rawExchange(port, ['GET http://a.example/x?y=1 HTTP/1.1\r\nHost: ignored.example\r\nConnection: close\r\n\r\n']));
    assert.equal(r!.status, 200);
    assert.equal(up.seen[0]!.url, '/x?y=1');
    assert.equal(up.seen[0]!.headers.host, 'a.example');
  });

  it('routes an absolute-form target to /admin through the middlewares', async (t) => {
    const { up, port } = await setup(t);
    const [r] = parseResponses(await rawExchange(port, ['GET http://a.example//admin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n']));
    assert.equal(r!.status, 403);
    assert.equal(up.seen.length, 0);
  });

  it('forwards 103 Early Hints from the upstream', async (t) => {
    const { port } = await setup(t);
    const responses = parseResponses(await rawExchange(port, ['GET /hints HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n']));
    assert.deepEqual(
      responses.map((r) => r.status),
      [103, 200],
    );
    assert.match(responses[0]!.headers.link!, /style\.css/);
  });

  it('answers 431 to headers over the limit', async (t) => {
    const { port } = await setup(t);
    const [r] = parseResponses(await rawExchange(port, [`GET /public HTTP/1.1\r\nHost: a\r\nX-Big: ${'x'.repeat(20_000)}\r\nConnection: close\r\n\r\n`]));
    assert.equal(r!.status, 431);
  });

  it('fills in Host for an HTTP/1.0 request without one', async (t) => {
    const { up, port } = await setup(t);
    const [r] = parseResponses(await rawExchange(port, ['GET /public HTTP/1.0\r\n\r\n']));
    assert.equal(r!.status, 200);
    assert.equal(up.seen[0]!.headers.host, new URL(up.url).host);
  });

  it('answers 400 to an HTTP/1.1 request without Host', async (t) => {
    const { up, port } = await setup(t);
    const [r] = parseResponses(await rawExchange(port, ['GET /public HTTP/1.1\r\nConnection: close\r\n\r\n']));
    assert.equal(r!.status, 400);
    assert.equal(up.seen.length, 0);
  });

  it('answers OPTIONS * itself (200, empty body) as Traefik does, forwarding nothing, and keeps the connection', async (t) => {
    const { up, port } = await setup(t);
    const responses = parseResponses(await rawExchange(port, ['OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nGET /public HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n']));
    assert.deepEqual(
      responses.map((r) => r.status),
      [200, 200],
    );
    assert.equal(responses[0]!.headers['content-length'], '0');
    assert.equal(up.seen.length, 1);
    assert.equal(up.seen[0]!.url, '/public');
  });

  it('answers 400 to the asterisk-form target with any other method', async (t) => {
    const { up, port } = await setup(t);
    const [r] = parseResponses(await rawExchange(port, ['GET * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n']));
    assert.equal(r!.status, 400);
    assert.equal(up.seen.length, 0);
  });

  it('answers CONNECT (405) instead of dropping the connection', async (t) => {
    const { up, port } = await setup(t);
    const [r] = parseResponses(await rawExchange(port, ['CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n']));
    assert.equal(r!.status, 405);
    assert.equal(up.seen.length, 0);
  });
});

describe('gateway HTTP: what already worked keeps working', () => {
  it('pipelines requests in order on one connection', async (t) => {
    const { up, port } = await setup(t);
    const text = await rawExchange(port, ['GET /public/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /public/2 HTTP/1.1\r\nHost: a\r\n\r\nGET /public/3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n']);
    assert.deepEqual(
      parseResponses(text).map((r) => JSON.parse(r.body).url),
      ['/public/1', '/public/2', '/public/3'],
    );
    assert.equal(up.seen.length, 3);
  });

  it('answers HEAD without a body and keeps the connection usable', async (t) => {
    const { port } = await setup(t);
    const text = await rawExchange(port, ['HEAD /public HTTP/1.1\r\nHost: a\r\n\r\n', 'GET /public/after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n']);
    const [head] = parseResponses(text, true);
    assert.equal(head!.status, 200);
    assert.match(text, /\/public\/after/);
  });

  it('answers Expect: 100-continue with 100 before the body', async (t) => {
    const { up, port } = await setup(t);
    const text = await rawExchange(port, ['POST /public HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n', 'hello']);
    assert.deepEqual(
      parseResponses(text).map((r) => r.status),
      [100, 200],
    );
    assert.equal(up.seen[0]!.body, 'hello');
  });

  it('forwards a Content-Length body intact', async (t) => {
    const { up, port } = await setup(t);
    await rawExchange(port, ['PUT /public HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world']);
    assert.equal(up.seen[0]!.body, 'hello world');
    assert.equal(up.seen[0]!.headers['content-length'], '11');
  });
});
