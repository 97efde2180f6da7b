/**
 * Fuzzing request parsing and forwarding with a seeded generator (fast-check): methods, paths
 * full of escapes and dot segments, every framing (none, Content-Length right or wrong,
 * chunked, both, odd Transfer-Encoding values), bodies that carry a second request, duplicate or
 * absent Host, absolute-form targets, several requests on one connection. Whatever is sent, the
 * upstream must only ever see requests the gateway routed to it: paths under /public, no more
 * requests than were sent, never the smuggled /admin one.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { baseConfig, gateway, tempDir, upstream, type Upstream } from './fixtures/gateway/helpers.js';
import { rawExchange } from './fixtures/gateway/raw.js';
import type { Gateway } from '../dist/gateway/index.js';

const DENY = `
export const meta = { name: 'deny', version: '1.0.0', apiVersion: 1 };
export function onRequest() { return { respond: { status: 403, body: 'no' } }; }
`;

const SMUGGLE = 'GET /admin/smuggled HTTP/1.1\r\nHost: a\r\n\r\n';

const segment = fc.constantFrom('public', 'admin', 'ADMIN', '%61dmin', '%2e%2e', '..', '.', '', 'x', '%2F', '%70ublic', 'a%00', ';', '%25');
const pathArb = fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => `/${s.join('/')}`);
const bodyArb = fc.oneof(fc.constant(''), fc.constant(SMUGGLE), fc.string({ maxLength: 40 }), fc.string({ maxLength: 10 }).map((s) => `${s}${SMUGGLE}`));
const framing = fc.constantFrom('none', 'cl', 'cl-short', 'cl-long', 'chunked', 'chunked+cl', 'Chunked', 'chunked, identity', 'cl-twice', 'te-twice');
const hostArb = fc.constantFrom('normal', 'twice', 'absent', 'absolute', 'invalid');
const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH');

interface Req {
  method: string;
  path: string;
  body: string;
  framing: string;
  host: string;
}

function render(r: Req): string {
  const target = r.host === 'absolute' ? `http://a.example${r.path}` : r.path;
  let head = `${r.method} ${target} HTTP/1.1\r\n`;
  if (r.host === 'normal' || r.host === 'absolute') head += 'Host: a.example\r\n';
  if (r.host === 'twice') head += 'Host: a.example\r\nHost: b.example\r\n';
  if (r.host === 'invalid') head += 'Host: a.example/admin\r\n';
  const len = Buffer.byteLength(r.body);
  const chunk = `${len.toString(16)}\r\n${r.body}\r\n0\r\n\r\n`;
  switch (r.framing) {
    case 'none':
      return `${head}\r\n${r.body}`;
    case 'cl':
      return `${head}Content-Length: ${len}\r\n\r\n${r.body}`;
    case 'cl-short':
      return `${head}Content-Length: ${Math.max(0, len - 3)}\r\n\r\n${r.body}`;
    case 'cl-long':
      return `${head}Content-Length: ${len + 3}\r\n\r\n${r.body}`;
    case 'cl-twice':
      return `${head}Content-Length: ${len}\r\nContent-Length: ${len + 1}\r\n\r\n${r.body}`;
    case 'chunked+cl':
      return `${head}Content-Length: ${len}\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}`;
    case 'te-twice':
      return `${head}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n${chunk}`;
    default:
      return `${head}Transfer-Encoding: ${r.framing}\r\n\r\n${chunk}`;
  }
}

describe('gateway fuzz: the upstream only sees what was routed to it', () => {
  let files: Awaited<ReturnType<typeof tempDir>>;
  let up: Upstream;
  let gw: Gateway;
  const cleanups: (() => unknown)[] = [];
  before(async () => {
    files = await tempDir({ 'deny.js': DENY });
    up = await upstream((_req, res) => res.end('ok'));
    gw = await gateway(
      { after: (fn) => cleanups.push(fn) },
      baseConfig(
        files.dir,
        {
          routers: {
            public: { rule: 'PathPrefix(`/public`)', service: 'up' },
            admin: { rule: 'PathPrefix(`/admin`)', middlewares: ['deny'], service: 'up' },
          },
          middlewares: { deny: { plugin: { deny: {} } } },
          services: { up: { loadBalancer: { servers: [{ url: up.url }] } } },
        },
        { entryPoints: { web: { address: '127.0.0.1:0', transport: { respondingTimeouts: { readTimeout: '2s' } } } } },
      ),
    );
  });
  after(async () => {
    for (const c of cleanups) await c();
    await up.close();
    await files.cleanup();
  });

  it('never forwards a request the gateway did not route (seeded, 100 runs)', async () => {
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ method, path: pathArb, body: bodyArb, framing, host: hostArb }), { minLength: 1, maxLength: 3 }), async (reqs) => {
        sent += reqs.length;
        await rawExchange(gw.entryPoints.web!.port, [reqs.map(render).join('')], { endAfterWrite: true });
        for (const s of up.seen) {
          assert.ok(s.url.startsWith('/public'), `the upstream saw ${s.method} ${s.url}`);
          assert.ok(!/admin\/smuggled/.test(s.url));
        }
        assert.ok(up.seen.length <= sent, `the upstream saw ${up.seen.length} requests for ${sent} sent`);
      }),
      { seed: 1307, numRuns: 100 },
    );
  });
});
