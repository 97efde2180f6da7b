/**
 * The admin's plugin actions and log lines (issue 26): POST /api/plugins/<name>/reprobe is
 * refused unauthenticated, without the CSRF header, cross-origin; it re-probes a quarantined
 * plugin at once (before its scheduled re-probe), and says 409 for a plugin that is not
 * quarantined and 404 for an unknown one. The dashboard's data carries each plugin's own log
 * lines, a bounded ring of capped lines (admin/logs.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PluginLogs } from '../dist/gateway/admin/logs.js';
import { snapshotUntil } from './fixtures/dashboard/sse.js';
import { baseConfig, eventually, gateway, memoryLogger, request, tempDir } from './fixtures/gateway/helpers.js';

const TOKEN = 'another-long-random-admin-token-42';
const fixtures = fileURLToPath(new URL('./fixtures/dashboard/', import.meta.url));
const auth = { authorization: `Bearer ${TOKEN}` };

interface PluginView {
  name: string;
  status: string;
  nextProbeAt?: string;
}

async function flakyGateway(t: { after(fn: () => unknown): void }) {
  const own = await tempDir({
    'admin.token': `${TOKEN}\n`,
    'flaky.js': await readFile(path.join(fixtures, 'flaky.js'), 'utf8'),
    'hostile.js': await readFile(path.join(fixtures, 'hostile.js'), 'utf8'),
  });
  t.after(() => own.cleanup());
  const routes = {
    routers: { f: { rule: 'PathPrefix(`/flaky`)', middlewares: ['flaky'], service: 'echo' }, h: { rule: 'PathPrefix(`/`)', middlewares: ['hostile'], service: 'echo' } },
    middlewares: { flaky: { plugin: { flaky: {} } }, hostile: { plugin: { hostile: {} } } },
  };
  const config = baseConfig(own.dir, routes, { admin: { address: '127.0.0.1:0', auth: { tokenFile: path.join(own.dir, 'admin.token') } } as never });
  const gw = await gateway(t, config, { watchConfig: false, logger: memoryLogger() });
  const admin = gw.admin!.url;
  const session = (await request(`${admin}/api/session`, { headers: auth })).json<{ csrf: string; header: string; actions: string[] }>();
  const plugin = async (name: string) => (await request(`${admin}/api/plugins`, { headers: auth })).json<PluginView[]>().find((p) => p.name === name)!;
  return { gw, admin, session, plugin };
}

type Snapshot = { plugins: { name: string; logs: { level: string; message: string }[] }[] };

describe('admin action: re-probe a quarantined plugin', () => {
  it('is refused unauthenticated, without or with a wrong CSRF header, and cross-origin; 404 unknown, 409 not quarantined', async (t) => {
    const { admin, session } = await flakyGateway(t);
    assert.ok(session.actions.includes('/api/plugins/{name}/reprobe'));
    const post = (name: string, headers: Record<string, string>) => request(`${admin}/api/plugins/${name}/reprobe`, { method: 'POST', headers });
    const csrf = { [session.header]: session.csrf };
    assert.equal((await post('flaky', csrf)).status, 401, 'unauthenticated');
    assert.equal((await post('flaky', auth)).status, 403, 'no CSRF header');
    assert.equal((await post('flaky', { ...auth, [session.header]: 'wrong' })).status, 403, 'wrong CSRF token');
    const cross = await post('flaky', { ...auth, ...csrf, origin: 'https://evil.example' });
    assert.equal(cross.status, 403, 'cross-origin');
    assert.equal(cross.headers['access-control-allow-origin'], undefined);
    assert.equal((await post('nope', { ...auth, ...csrf })).status, 404, 'unknown plugin');
    const calm = await post('flaky', { ...auth, ...csrf, origin: admin });
    assert.equal(calm.status, 409, 'a ready plugin is not re-probed');
    assert.match(calm.json<{ error: string }>().error, /not quarantined/);
  });

  it('re-probes at once: the plugin recovers before its scheduled re-probe', { timeout: 60_000 }, async (t) => {
    const { gw, admin, session, plugin } = await flakyGateway(t);
    for (let i = 0; i < 4 && (await plugin('flaky')).status !== 'quarantined'; i++) await request(`${gw.url}/flaky`, { headers: { 'x-flaky': 'loop' } });
    assert.equal((await plugin('flaky')).status, 'quarantined');
    // Three failed re-probes (health() is sick three times) leave the next one 8 s off.
    let due = 0;
    await eventually(async () => {
      const p = await plugin('flaky');
      due = p.nextProbeAt ? Date.parse(p.nextProbeAt) : 0;
      return p.status === 'quarantined' && due - Date.now() > 6000;
    }, 'three failed re-probes', 30_000);
    const recovered = new Promise<number>((resolve) => {
      const off = gw.host.on('recovered', (e) => {
        if (e.plugin !== 'flaky') return;
        off();
        resolve(Date.now());
      });
    });
    const r = await request(`${admin}/api/plugins/flaky/reprobe`, { method: 'POST', headers: { ...auth, [session.header]: session.csrf, origin: admin } });
    assert.equal(r.status, 202);
    assert.deepEqual(r.json(), { ok: true, plugin: 'flaky', probing: true });
    const at = await recovered;
    assert.ok(at < due, 'recovered by the button, before the scheduled re-probe');
    assert.equal((await plugin('flaky')).status, 'ready');
    assert.equal((await request(`${gw.url}/flaky`)).status, 200);
  });
});

describe('plugin log lines', () => {
  it("the dashboard's data carries a plugin's console line, attributed to it", async (t) => {
    const { gw, admin } = await flakyGateway(t);
    assert.equal((await request(`${gw.url}/x`, { headers: { 'x-hostile': 'log', 'x-note': 'seen-by-the-admin-7f3' } })).status, 200);
    const snap = await snapshotUntil<Snapshot>(`${admin}/api/events`, auth, () => true);
    const hostile = snap.plugins.find((p) => p.name === 'hostile')!;
    assert.deepEqual(
      hostile.logs.map((l) => [l.level, l.message]),
      [['info', 'hostile note: seen-by-the-admin-7f3']],
    );
    assert.deepEqual(snap.plugins.find((p) => p.name === 'flaky')!.logs, []);
  });

  it('keeps the newest lines per plugin and caps their length', () => {
    const logs = new PluginLogs(3, 10);
    const lines: string[] = [];
    const logger = logs.tap({ debug() {}, info: (_o, m) => lines.push(m ?? ''), warn() {}, error() {} });
    for (let i = 0; i < 5; i++) logger.info({ event: 'plugin-log', plugin: 'a' }, `line ${i}`);
    logger.info({ event: 'plugin-log', plugin: 'b' }, 'x'.repeat(25));
    logger.info({ plugin: 'a' }, 'not a plugin line (the host about the plugin)');
    assert.deepEqual(logs.lines('a').map((l) => l.message), ['line 2', 'line 3', 'line 4']);
    assert.deepEqual(logs.lines('b').map((l) => l.message), [`${'x'.repeat(10)}…`]);
    assert.equal(lines.length, 7, 'every line still reaches the logger');
  });
});
