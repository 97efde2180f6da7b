/**
 * In the gateway, a middleware waiting on a slow `fetch` ties up no other request: over real HTTP,
 * while one request's middleware waits on a local server that has not answered, a request on
 * another route and one on the same route (same middleware, same plugin) are answered; then the
 * slow answer arrives and the first request completes. Ordered by events (the slow server saw
 * the callout), never by sleeps. Every server binds 127.0.0.1 port 0.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type http from 'node:http';
import { baseConfig, gateway, request, tempDir, upstream } from './fixtures/gateway/helpers.js';

const CALLOUT = `
export const meta = { name: 'callout', permissions: { fetch: [__ORIGIN__] } };
export async function onRequest(req) {
  if (req.headers['x-wait'] !== '1') return { setHeaders: { 'x-callout': 'skipped' } };
  const r = await fetch(__ORIGIN__ + '/slow');
  return { setHeaders: { 'x-callout': await r.text() } };
}
`;

describe('gateway: a middleware waiting on fetch', () => {
  it('ties up no other request, on another route or the same one', async (t) => {
    const held: http.ServerResponse[] = [];
    let arrived: () => void = () => {};
    const calledOut = new Promise<void>((resolve) => (arrived = resolve));
    const slow = await upstream((_req, res) => {
      held.push(res);
      arrived();
    });
    t.after(() => slow.close());
    const d = await tempDir({});
    t.after(() => d.cleanup());
    await writeFile(path.join(d.dir, 'callout.js'), CALLOUT.replaceAll('__ORIGIN__', JSON.stringify(slow.url)));
    const gw = await gateway(
      t,
      baseConfig(
        d.dir,
        {
          routers: {
            slow: { rule: 'PathPrefix(`/slow`)', middlewares: ['m'], service: 'echo' },
            fast: { rule: 'PathPrefix(`/fast`)', service: 'echo' },
          },
          middlewares: { m: { plugin: { callout: {} } } },
        } as never,
        { plugins: { dir: d.dir, limits: { callTimeoutMs: 30_000, memoryBytes: 16 << 20 }, grants: { callout: { fetch: [slow.url] } } } } as never,
      ),
    );
    const first = request(`${gw.url}/slow/1`, { headers: { 'x-wait': '1' } });
    await calledOut; // the first request's middleware is now waiting on the slow server
    const other = await request(`${gw.url}/fast/2`);
    assert.equal(other.status, 200);
    const same = await request(`${gw.url}/slow/3`);
    assert.equal(same.status, 200);
    assert.equal(same.json<{ headers: Record<string, string> }>().headers['x-callout'], 'skipped');
    assert.equal(held.length, 1, 'the first request is still waiting');
    held[0]!.end('answered');
    const r = await first;
    assert.equal(r.status, 200);
    assert.equal(r.json<{ headers: Record<string, string> }>().headers['x-callout'], 'answered');
  });
});
