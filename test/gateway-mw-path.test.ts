/**
 * The path built-ins (stripPrefix, stripPrefixRegex, addPrefix, replacePath, replacePathRegex) and
 * chain, through a running gateway with a real upstream on 127.0.0.1; a chain mixes a built-in
 * and a plugin.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { baseConfig, gateway, request, tempDir, upstream, type Upstream } from './fixtures/gateway/helpers.js';

const PLUGIN = `
export const meta = { name: 'seen', version: '1.0.0', apiVersion: 1 };
export function onRequest(req) { return { setHeaders: { 'x-plugin-saw': req.path } }; }
`;

describe('path middlewares', () => {
  let up: Upstream;
  let dir: { dir: string; cleanup(): Promise<void> };
  before(async () => {
    up = await upstream((req, res) => res.end(JSON.stringify({ url: req.url, headers: req.headers })));
    dir = await tempDir({ 'seen.js': PLUGIN });
  });
  after(async () => {
    await up.close();
    await dir.cleanup();
  });

  const start = (t: { after(fn: () => unknown): void }, middlewares: Record<string, unknown>, chain: string[]) =>
    gateway(
      t,
      baseConfig(dir.dir, {
        routers: { r: { rule: 'PathPrefix(`/`)', middlewares: chain, service: 'up' } },
        middlewares: middlewares as never,
        services: { up: { loadBalancer: { servers: [{ url: up.url }] } } },
      }),
    );
  const get = async (url: string) => (await request(url)).json<{ url: string; headers: Record<string, string> }>();

  it('stripPrefix removes the first matching prefix and sets X-Forwarded-Prefix', async (t) => {
    const gw = await start(t, { s: { stripPrefix: { prefixes: ['/foo', '/api'] } } }, ['s']);
    const r = await get(`${gw.url}/api/users?x=1`);
    assert.equal(r.url, '/users?x=1');
    assert.equal(r.headers['x-forwarded-prefix'], '/api');
    assert.equal((await get(`${gw.url}/api`)).url, '/');
    assert.equal((await get(`${gw.url}/other`)).url, '/other');
  });

  it('stripPrefixRegex removes what the regex matches at the start', async (t) => {
    const gw = await start(t, { s: { stripPrefixRegex: { regex: ['/foo/[a-z0-9]+/[0-9]+/'] } } }, ['s']);
    const r = await get(`${gw.url}/foo/abc/12/bar`);
    assert.equal(r.url, '/bar');
    assert.equal(r.headers['x-forwarded-prefix'], '/foo/abc/12/');
    assert.equal((await get(`${gw.url}/x/foo/abc/12/bar`)).url, '/x/foo/abc/12/bar');
  });

  it('addPrefix puts the prefix before the path', async (t) => {
    const gw = await start(t, { a: { addPrefix: { prefix: '/v1' } } }, ['a']);
    assert.equal((await get(`${gw.url}/users`)).url, '/v1/users');
  });

  it('replacePath replaces the path and keeps the old one in X-Replaced-Path', async (t) => {
    const gw = await start(t, { p: { replacePath: { path: '/foo' } } }, ['p']);
    const r = await get(`${gw.url}/anything?q=2`);
    assert.equal(r.url, '/foo?q=2');
    assert.equal(r.headers['x-replaced-path'], '/anything');
  });

  it('replacePathRegex replaces with Go-style ${1} templates only when the regex matches', async (t) => {
    const gw = await start(t, { p: { replacePathRegex: { regex: '^/foo/(.*)', replacement: '/bar/${1}' } } }, ['p']);
    const r = await get(`${gw.url}/foo/x/y`);
    assert.equal(r.url, '/bar/x/y');
    assert.equal(r.headers['x-replaced-path'], '/foo/x/y');
    const other = await get(`${gw.url}/nope`);
    assert.equal(other.url, '/nope');
    assert.equal(other.headers['x-replaced-path'], undefined);
  });

  it('a chain expands in place and mixes built-ins with plugins (name@file references too)', async (t) => {
    const gw = await start(
      t,
      { strip: { stripPrefix: { prefixes: ['/api'] } }, seen: { plugin: { seen: {} } }, add: { addPrefix: { prefix: '/v2' } }, both: { chain: { middlewares: ['strip@file', 'seen'] } } },
      ['both', 'add'],
    );
    const r = await get(`${gw.url}/api/x`);
    assert.equal(r.url, '/v2/x');
    assert.equal(r.headers['x-plugin-saw'], '/x');
  });

  it('refuses a chain that includes itself, a bad regex and an unknown option, with paths', async () => {
    const { createGateway } = await import('terrarium-plugins/gateway');
    await assert.rejects(
      createGateway(
        baseConfig(dir.dir, {
          routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['loop', 're'], service: 'echo' } },
          middlewares: { loop: { chain: { middlewares: ['loop'] } }, re: { stripPrefixRegex: { regex: ['(unclosed'] } } } as never,
        }),
      ),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'ERR_CONFIG');
        assert.match(e.message, /chain "loop" includes itself/);
        assert.match(e.message, /http\.middlewares\.re\.stripPrefixRegex\.regex\[0\]: invalid regular expression/);
        return true;
      },
    );
    await assert.rejects(
      createGateway(baseConfig(dir.dir, { routers: {}, middlewares: { s: { stripPrefix: { prefix: ['/a'] } } } as never })),
      /http\.middlewares\.s\.stripPrefix\.prefix: unknown key; expected one of: prefixes, forceSlash/,
    );
  });
});
