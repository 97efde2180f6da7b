/// <reference lib="dom" />
/**
 * The dashboard of `terrarium serve --workers 2` (issue 26: "with --workers N it shows the
 * aggregate and each worker"): the primary's admin serves the page with the same auth, CSRF and
 * same-origin rules as one gateway's, its data merged from every worker over the cluster IPC.
 * API-level cases, then headless Chromium (Debian's /usr/bin/chromium, playwright-core).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { eventually, request, tempDir } from './fixtures/gateway/helpers.js';
import { serve, type Served } from './fixtures/gateway/serve.js';
import { snapshotUntil } from './fixtures/dashboard/sse.js';

const TOKEN = 'cluster-dashboard-token-9d2e61';
const auth = { authorization: `Bearer ${TOKEN}` };
const hostile = fileURLToPath(new URL('./fixtures/dashboard/hostile.js', import.meta.url));
const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

function yamlFor(dir: string, admin = `127.0.0.1:0\n  auth:\n    tokenFile: ${JSON.stringify(path.join(dir, 'admin.token'))}`): string {
  return `entryPoints:
  web:
    address: 127.0.0.1:0
admin:
  address: ${admin}
http:
  routers:
    api:
      rule: "PathPrefix(\`/\`)"
      middlewares: [hostile]
      service: echo
  middlewares:
    hostile:
      plugin:
        hostile: {}
  services:
    echo:
      echo: {}
plugins:
  dir: ${JSON.stringify(dir)}
  limits:
    callTimeoutMs: 200
accessLog: false
`;
}

async function cluster(t: { after(fn: () => unknown): void }): Promise<Served> {
  const dir = await tempDir({ 'admin.token': `${TOKEN}\n`, 'hostile.js': await readFile(hostile, 'utf8') });
  t.after(() => dir.cleanup());
  const file = path.join(dir.dir, 'gateway.yaml');
  await writeFile(file, yamlFor(dir.dir));
  return serve(t, [file, '--workers', '2']);
}

interface Snapshot {
  plugins: { name: string; status: string; counters: { calls: number }; logs: { message: string; worker?: number }[] }[];
  routers: { name: string; counters: { requests: number } }[];
  workers: { pid: number; requests: number; notReady: string[] }[];
}

describe('serve --workers 2: the admin of the primary', { timeout: 400_000 }, () => {
  it('is behind the same auth: no token and a wrong token are refused, cross-origin too; the page is served', async (t) => {
    const s = await cluster(t);
    const admin = s.urls.admin!;
    for (const p of ['/api/session', '/api/plugins', '/api/workers', '/api/events', '/metrics']) {
      assert.equal((await request(`${admin}${p}`)).status, 401, `${p} without a token`);
      assert.equal((await request(`${admin}${p}`, { headers: { authorization: 'Bearer wrong' } })).status, 401, `${p} with a wrong token`);
    }
    assert.equal((await request(`${admin}/api/plugins`, { headers: { ...auth, origin: 'https://evil.example' } })).status, 403);
    assert.equal((await request(`${admin}/api/workers`, { headers: auth })).json<unknown[]>().length, 2);
    assert.match((await request(`${admin}/dashboard/`)).text, /<form id="login"/);
    assert.match((await request(`${admin}/metrics`, { headers: auth })).text, /terrarium_cluster_workers 2\n/);
    assert.equal(await s.stop('SIGTERM'), 0);
  });

  it("streams the aggregate and each worker; a worker's plugin log line is tagged with its pid", async (t) => {
    const s = await cluster(t);
    const admin = s.urls.admin!;
    const pids = (await request(`${admin}/api/workers`, { headers: auth })).json<{ pid: number }[]>().map((w) => w.pid).sort((a, b) => a - b);
    for (let i = 0; i < 20; i++) assert.equal((await request(`${s.urls.web}/x${i}`)).status, 200);
    assert.equal((await request(`${s.urls.web}/note`, { headers: { 'x-hostile': 'log', 'x-note': 'from-a-worker-51' } })).status, 200);
    const snap = await snapshotUntil<Snapshot>(`${admin}/api/events`, auth, (x) => x.routers[0]!.counters.requests === 21 && x.plugins[0]!.logs.length > 0);
    assert.deepEqual(snap.workers.map((w) => w.pid), pids);
    assert.equal(snap.workers.reduce((n, w) => n + w.requests, 0), 21, 'the workers answered the 21 requests between them');
    const plugin = snap.plugins.find((p) => p.name === 'hostile')!;
    assert.equal(plugin.status, 'ready');
    assert.equal(plugin.counters.calls, 21, 'calls summed across workers');
    assert.equal(plugin.logs.length, 1);
    assert.equal(plugin.logs[0]!.message, 'hostile note: from-a-worker-51');
    assert.ok(pids.includes(plugin.logs[0]!.worker!), 'tagged with the pid of the worker that wrote it');
    assert.equal(await s.stop('SIGTERM'), 0);
  });

  it('POST /api/reload and a re-probe need the CSRF header and run in every worker', async (t) => {
    const s = await cluster(t);
    const admin = s.urls.admin!;
    const session = (await request(`${admin}/api/session`, { headers: auth })).json<{ csrf: string; header: string; actions: string[] }>();
    assert.deepEqual(session.actions, ['/api/reload', '/api/plugins/{name}/reprobe']);
    const post = (headers: Record<string, string>) => request(`${admin}/api/reload`, { method: 'POST', headers });
    assert.equal((await post(auth)).status, 403, 'no CSRF header');
    assert.equal((await post({ ...auth, [session.header]: session.csrf, origin: 'https://evil.example' })).status, 403, 'cross-origin');
    const ok = await post({ ...auth, [session.header]: session.csrf });
    assert.equal(ok.status, 200);
    const body = ok.json<{ ok: boolean; workers: Record<string, { ok: boolean }> }>();
    assert.equal(body.ok, true);
    assert.equal(Object.keys(body.workers).length, 2);
    await eventually(async () => (await request(`${admin}/api/workers`, { headers: auth })).json<{ reloads: { success: number } }[]>().every((w) => w.reloads.success === 1), 'every worker reloaded');
    // The re-probe action runs in every worker: a plugin quarantined in none is refused by each.
    const calm = await request(`${admin}/api/plugins/hostile/reprobe`, { method: 'POST', headers: { ...auth, [session.header]: session.csrf } });
    assert.equal(calm.status, 409);
    assert.deepEqual(Object.values(calm.json<{ workers: Record<string, { ok: boolean }> }>().workers).map((w) => w.ok), [false, false]);
    assert.equal((await request(`${admin}/api/plugins/nope/reprobe`, { method: 'POST', headers: { ...auth, [session.header]: session.csrf } })).status, 404);
    assert.equal((await request(`${admin}/api/plugins/hostile/reprobe`, { method: 'POST', headers: auth })).status, 403, 'no CSRF header');
    assert.equal(await s.stop('SIGTERM'), 0);
  });

  it('a non-loopback admin without auth is refused at start (ERR_ADMIN_INSECURE), before any worker runs', async (t) => {
    const dir = await tempDir({ 'hostile.js': await readFile(hostile, 'utf8') });
    t.after(() => dir.cleanup());
    const file = path.join(dir.dir, 'gateway.yaml');
    await writeFile(file, yamlFor(dir.dir, '0.0.0.0:0'));
    const child = spawn(process.execPath, [CLI, 'serve', file, '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    child.stderr.on('data', (c: Buffer) => (out += c));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.notEqual(code, 0);
    assert.match(out, /admin\.auth/);
    assert.doesNotMatch(out, /workers listening/);
  });
});

describe('serve --workers 2: the dashboard in Chromium', { timeout: 200_000 }, () => {
  let browser: Browser;
  before(async () => {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  });
  after(async () => {
    await browser?.close();
  });

  it('shows each worker and the aggregate, moving live; refuses a wrong token', async (t) => {
    const s = await cluster(t);
    const admin = s.urls.admin!;
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    t.after(() => context.close());
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && !/401/.test(m.text())) errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${admin}/dashboard/`);
    await page.locator('#token').fill('wrong-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForFunction(() => /wrong token/.test(document.querySelector('#login-error')?.textContent ?? ''));
    await page.locator('#token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#workers tbody tr').nth(1).waitFor();
    const pids = (await request(`${admin}/api/workers`, { headers: auth })).json<{ pid: number }[]>().map((w) => String(w.pid)).sort();
    assert.deepEqual((await page.locator('#workers tbody th').allTextContents()).sort(), pids);
    await page.locator('[data-plugin="hostile"]').waitFor();
    for (let i = 0; i < 6; i++) assert.equal((await request(`${s.urls.web}/y${i}`)).status, 200);
    await page.waitForFunction(() => document.querySelector('#total-requests')?.textContent === '6');
    await page.waitForFunction(() => Array.from(document.querySelectorAll('#workers tbody .requests')).reduce((n, e) => n + Number(e.textContent), 0) === 6);
    assert.equal(await page.locator('#workers-section').isVisible(), true);
    // DASHBOARD_SCREENSHOT_DIR=docs refreshes docs/dashboard-workers.png.
    if (process.env.DASHBOARD_SCREENSHOT_DIR) await page.screenshot({ path: path.join(process.env.DASHBOARD_SCREENSHOT_DIR, 'dashboard-workers.png') });
    assert.deepEqual(errors, []);
    assert.equal(await s.stop('SIGTERM'), 0);
  });
});
