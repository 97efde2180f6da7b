/**
 * The operating errors a newcomer meets first: a port already in use (said as such, with the
 * address and what to do), every configuration problem in one report (schema problems do not
 * hide the rest), and /api/plugins showing a plugin's last error with its message and file:line.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createGateway } from '../dist/gateway/index.js';
import { ConfigError, ListenError, TerrariumError } from '../dist/errors.js';
import { baseConfig, gateway, memoryLogger, request, tempDir } from './fixtures/gateway/helpers.js';

describe('gateway operating errors', () => {
  it('reports a port already in use as ERR_LISTEN naming the address, without a "gateway stopped" line', async (t) => {
    const files = await tempDir({});
    t.after(() => files.cleanup());
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    t.after(() => new Promise((r) => taken.close(r)));
    const port = (taken.address() as AddressInfo).port;
    const logger = memoryLogger();
    await assert.rejects(createGateway(baseConfig(files.dir, { routers: { r: { rule: 'PathPrefix(`/`)', service: 'echo' } } }, { entryPoints: { web: `127.0.0.1:${port}` } }), { logger }), (e: unknown) => {
      assert.ok(e instanceof ListenError, String(e));
      assert.ok(e instanceof TerrariumError);
      assert.equal(e.code, 'ERR_LISTEN');
      assert.equal(e.reason, 'EADDRINUSE');
      assert.equal(e.what, 'entryPoints.web');
      assert.match(e.message, new RegExp(`entryPoints\\.web: 127\\.0\\.0\\.1:${port} is already in use by another process`));
      assert.match(e.message, /another port/);
      return true;
    });
    assert.ok(!logger.lines.some((l) => l.msg === 'gateway stopped'), 'a failed start is not a stop');
  });

  it('reports schema problems, references, URLs, rules and limits all at once', async () => {
    await assert.rejects(
      createGateway({
        entryPoints: { web: '127.0.0.1:0' },
        http: {
          routers: {
            typo: { rule: 'PathPrefix(`/a`)', service: 's', priorty: 3 } as never,
            ref: { rule: 'PathPrefix(`/b`)', service: 'missing' },
            bad: { rule: 'PathPrefix(`/c`', service: 's' },
          },
          services: { s: { loadBalancer: { servers: [{ url: 'ftp://x' }] } } },
        },
        plugins: { limits: { memoryBytes: -1 } },
      }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError, String(e));
        const paths = e.issues.map((i) => i.path).sort();
        assert.deepEqual(paths, [
          'http.routers.bad.rule',
          'http.routers.ref.service',
          'http.routers.typo.priorty',
          'http.services.s.loadBalancer.servers[0].url',
          // plugins: without dir, and no plugins/ folder in the current directory.
          'plugins.dir',
          'plugins.limits.memoryBytes',
        ]);
        return true;
      },
    );
  });

  it('shows the last error of a plugin in /api/plugins with its message and file:line', async (t) => {
    const files = await tempDir({
      'thrower.js': `export const meta = { name: 'thrower', version: '1.0.0', apiVersion: 1 };\nexport function onRequest() {\n  throw new Error('boom at line three');\n}\n`,
      'broken.js': `export const meta = { name: 'broken', version: '1.0.0', apiVersion: 1 };\nexport function onRequest( {\n`,
    });
    t.after(() => files.cleanup());
    const gw = await gateway(
      t,
      baseConfig(files.dir, { routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['th'], service: 'echo' } }, middlewares: { th: { plugin: { thrower: {} }, failOpen: true } } }, { admin: '127.0.0.1:0' }),
    );
    assert.equal((await request(`${gw.url}/x`)).status, 200);
    const plugins = (await request(`${gw.admin!.url}/api/plugins`)).json<{ name: string; lastError?: { code: string; message: string; file?: string; line?: number }; error?: { code: string; message: string; line?: number } }[]>();
    const thrower = plugins.find((p) => p.name === 'thrower')!;
    assert.equal(thrower.lastError?.code, 'ERR_PLUGIN_THROWN');
    assert.match(thrower.lastError!.message, /boom at line three/);
    assert.equal(thrower.lastError!.file, 'thrower.js');
    assert.equal(thrower.lastError!.line, 3);
    const broken = plugins.find((p) => p.name === 'broken')!;
    assert.equal(broken.error?.code, 'ERR_PLUGIN_LOAD');
    assert.match(broken.error!.message, /broken/);
    assert.equal(typeof broken.error!.line, 'number');
  });
});
