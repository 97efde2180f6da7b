/** retry and circuitBreaker, through a running gateway with real (failing) upstreams. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createGateway } from '../dist/gateway/index.js';
import { baseConfig, eventually, request, tempDir, upstream } from './fixtures/gateway/helpers.js';
import { withMiddlewares } from './fixtures/gateway/builtins.js';

describe('retry', () => {
  it('sends the request again when the upstream resets the connection, up to attempts tries', async (t) => {
    let hits = 0;
    const up = await upstream((req, res) => {
      hits++;
      if (hits <= 2) req.socket.destroy();
      else res.end('finally');
    });
    t.after(() => up.close());
    const gw = await withMiddlewares(t, { r: { retry: { attempts: 3, initialInterval: '1ms' } } }, ['r'], { loadBalancer: { servers: [{ url: up.url }] } });
    const r = await request(gw.url);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'finally');
    assert.equal(hits, 3);
  });

  it('gives up after attempts tries with the upstream error', async (t) => {
    let hits = 0;
    const up = await upstream((req) => {
      hits++;
      req.socket.destroy();
    });
    t.after(() => up.close());
    const gw = await withMiddlewares(t, { r: { retry: { attempts: 2, initialInterval: '1ms' } } }, ['r'], { loadBalancer: { servers: [{ url: up.url }] } });
    assert.equal((await request(gw.url)).status, 502);
    assert.equal(hits, 2);
  });
});

describe('circuitBreaker', () => {
  it('opens when the expression holds (fallback responseCode, upstream spared), then recovers', async (t) => {
    let failing = true;
    const up = await upstream((_req, res) => {
      res.statusCode = failing ? 500 : 200;
      res.end();
    });
    t.after(() => up.close());
    const gw = await withMiddlewares(
      t,
      { cb: { circuitBreaker: { expression: 'ResponseCodeRatio(500, 600, 0, 600) > 0.5', checkPeriod: '1ns', fallbackDuration: '50ms', recoveryDuration: '1ns', responseCode: 503 } } },
      ['cb'],
      { loadBalancer: { servers: [{ url: up.url }] } },
    );
    assert.equal((await request(gw.url)).status, 500);
    const before = up.seen.length;
    const open = await request(gw.url);
    assert.equal(open.status, 503);
    assert.equal(up.seen.length, before);
    failing = false;
    await eventually(async () => (await request(gw.url)).status === 200, 'the circuit closes again after fallbackDuration');
  });

  it('refuses an expression that does not parse or names an unknown metric, with the position', async () => {
    const d = await tempDir({});
    try {
      await assert.rejects(
        createGateway(baseConfig(d.dir, { routers: {}, middlewares: { a: { circuitBreaker: { expression: 'NetworkErrorRatio() >' } }, b: { circuitBreaker: { expression: 'NetworkErrorRatio() > 0.5 && Foo() > 1' } } } as never })),
        (e: Error) => {
          assert.match(e.message, /http\.middlewares\.a\.circuitBreaker\.expression: Expected expression after > at character 22/);
          assert.match(e.message, /http\.middlewares\.b\.circuitBreaker\.expression: unknown function "Foo".* at character 30/);
          return true;
        },
      );
    } finally {
      await d.cleanup();
    }
  });
});
