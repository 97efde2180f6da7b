/** compress (gzip, br; minimum size; excluded types; streams) and contentType, through a running gateway. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { upstream } from './fixtures/gateway/helpers.js';
import { raw, withMiddlewares } from './fixtures/gateway/builtins.js';

const BIG = 'hello compression '.repeat(200);

describe('compress', () => {
  it('compresses with the best accepted encoding, adds Vary, and leaves small, excluded and encoded responses alone', async (t) => {
    const up = await upstream((req, res) => {
      if (req.url === '/small') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('tiny');
      if (req.url === '/image') return void res.writeHead(200, { 'content-type': 'image/png' }).end(BIG);
      if (req.url === '/encoded') return void res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' }).end(zlib.gzipSync(BIG));
      if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write(BIG);
        return void res.end(BIG);
      }
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(BIG);
    });
    t.after(() => up.close());
    const gw = await withMiddlewares(t, { c: { compress: { excludedContentTypes: ['image/png'] } } }, ['c'], { loadBalancer: { servers: [{ url: up.url }] } });
    const gz = await raw(gw.url, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(gz.headers.vary, 'Accept-Encoding');
    assert.equal(zlib.gunzipSync(gz.body).toString(), BIG);
    const br = await raw(gw.url, { headers: { 'accept-encoding': 'gzip;q=0.5, br' } });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(zlib.brotliDecompressSync(br.body).toString(), BIG);
    const stream = await raw(`${gw.url}/stream`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(stream.headers['content-encoding'], 'gzip');
    assert.equal(zlib.gunzipSync(stream.body).toString(), BIG + BIG);
    assert.equal((await raw(gw.url)).headers['content-encoding'], undefined);
    assert.equal((await raw(`${gw.url}/small`, { headers: { 'accept-encoding': 'gzip' } })).headers['content-encoding'], undefined);
    assert.equal((await raw(`${gw.url}/image`, { headers: { 'accept-encoding': 'gzip' } })).headers['content-encoding'], undefined);
    const enc = await raw(`${gw.url}/encoded`, { headers: { 'accept-encoding': 'br' } });
    assert.equal(enc.headers['content-encoding'], 'gzip');
    assert.equal(zlib.gunzipSync(enc.body).toString(), BIG);
  });
});

describe('contentType', () => {
  it('sniffs a Content-Type when the upstream sent none, and invents none without the middleware', async (t) => {
    const up = await upstream((req, res) => {
      if (req.url === '/typed') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      if (req.url === '/png') return void res.end(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]));
      res.write('<!DOCTYPE html><html><body>');
      res.end('hi</body></html>');
    });
    t.after(() => up.close());
    const gw = await withMiddlewares(t, { ct: { contentType: {} } }, ['ct'], { loadBalancer: { servers: [{ url: up.url }] } });
    const html = await raw(gw.url);
    assert.equal(html.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(html.body.toString(), '<!DOCTYPE html><html><body>hi</body></html>');
    assert.equal((await raw(`${gw.url}/png`)).headers['content-type'], 'image/png');
    assert.equal((await raw(`${gw.url}/typed`)).headers['content-type'], 'application/json');
    const plain = await withMiddlewares(t, {}, [], { loadBalancer: { servers: [{ url: up.url }] } });
    assert.equal((await raw(plain.url)).headers['content-type'], undefined);
  });
});
