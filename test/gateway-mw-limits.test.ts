/** rateLimit, inFlightReq and buffering, through a running gateway with a real upstream. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { eventually, request, upstream } from './fixtures/gateway/helpers.js';
import { withMiddlewares } from './fixtures/gateway/builtins.js';

describe('rateLimit', () => {
  it('lets a burst through, then answers 429 with Retry-After and X-Retry-In', async (t) => {
    const gw = await withMiddlewares(t, { rl: { rateLimit: { average: 1, period: '1m', burst: 2 } } }, ['rl']);
    assert.equal((await request(gw.url)).status, 200);
    assert.equal((await request(gw.url)).status, 200);
    const third = await request(gw.url);
    assert.equal(third.status, 429);
    assert.equal(third.text, 'Too Many Requests');
    assert.ok(Number(third.headers['retry-after']) > 0);
    assert.match(String(third.headers['x-retry-in']), /^[0-9]+ms$/);
  });

  it('counts per source: by request header when sourceCriterion.requestHeaderName is set', async (t) => {
    const gw = await withMiddlewares(t, { rl: { rateLimit: { average: 1, period: 60, sourceCriterion: { requestHeaderName: 'X-Tenant' } } } }, ['rl']);
    assert.equal((await request(gw.url, { headers: { 'x-tenant': 'a' } })).status, 200);
    assert.equal((await request(gw.url, { headers: { 'x-tenant': 'a' } })).status, 429);
    assert.equal((await request(gw.url, { headers: { 'x-tenant': 'b' } })).status, 200);
  });

  it('average 0 means no limit', async (t) => {
    const gw = await withMiddlewares(t, { rl: { rateLimit: { average: 0 } } }, ['rl']);
    for (let i = 0; i < 5; i++) assert.equal((await request(gw.url)).status, 200);
  });
});

describe('inFlightReq', () => {
  it('answers 429 past amount requests in flight, and counts down when they finish', async (t) => {
    const held: ServerResponse[] = [];
    const up = await upstream((_req, res) => held.push(res));
    t.after(() => up.close());
    const gw = await withMiddlewares(t, { f: { inFlightReq: { amount: 1 } } }, ['f'], { loadBalancer: { servers: [{ url: up.url }] } });
    const first = request(gw.url);
    await eventually(() => held.length === 1, 'the first request reaches the upstream');
    assert.equal((await request(gw.url)).status, 429);
    held[0]!.end('done');
    assert.equal((await first).status, 200);
    const third = request(gw.url);
    await eventually(() => held.length === 2, 'the third request reaches the upstream');
    held[1]!.end('done');
    assert.equal((await third).status, 200);
  });
});

describe('buffering', () => {
  it('refuses a request body over maxRequestBodyBytes with 413 and a response over maxResponseBodyBytes with 500', async (t) => {
    const up = await upstream((_req, res, body) => res.end(body.length > 5 ? 'x'.repeat(50) : 'small'));
    t.after(() => up.close());
    const gw = await withMiddlewares(t, { b: { buffering: { maxRequestBodyBytes: 20, maxResponseBodyBytes: 20 } } }, ['b'], { loadBalancer: { servers: [{ url: up.url }] } });
    assert.equal((await request(gw.url, { method: 'POST', body: 'y'.repeat(30) })).status, 413);
    const ok = await request(gw.url, { method: 'POST', body: 'hi' });
    assert.equal(ok.status, 200);
    assert.equal(ok.text, 'small');
    assert.equal((await request(gw.url, { method: 'POST', body: 'longer body' })).status, 500);
  });
});
