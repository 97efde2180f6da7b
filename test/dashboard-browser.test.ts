/// <reference lib="dom" />
/**
 * The dashboard in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
 * the example gateway (scripts-examples/gateway.yaml on free ports, plus a hostile plugin) with a
 * token-protected admin. One browser for the file, a fresh page (and sessionStorage) per case;
 * every wait is on the DOM changing, never a sleep.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createGateway, type Gateway } from '../dist/gateway/index.js';
import { memoryLogger, request, tempDir } from './fixtures/gateway/helpers.js';

const TOKEN = 'dashboard-test-token-5f1c0a9e';
const examples = fileURLToPath(new URL('../scripts-examples/', import.meta.url));
const hostile = fileURLToPath(new URL('./fixtures/dashboard/hostile.js', import.meta.url));
const flaky = fileURLToPath(new URL('./fixtures/dashboard/flaky.js', import.meta.url));
const shots = process.env.DASHBOARD_SCREENSHOT_DIR;

let browser: Browser;
let gw: Gateway;
let web: string;
let admin: string;
let dir: string;
let cleanup: () => Promise<void>;

before(async () => {
  const own = await tempDir({ 'admin.token': `${TOKEN}\n` });
  dir = own.dir;
  cleanup = own.cleanup;
  // The example's plugins (files only) and the hostile one, so that editing a file touches no checkout file.
  for (const f of await readdir(examples, { withFileTypes: true })) if (f.isFile() && f.name !== 'gateway.yaml') await copyFile(path.join(examples, f.name), path.join(dir, f.name));
  await copyFile(hostile, path.join(dir, 'hostile.js'));
  await copyFile(flaky, path.join(dir, 'flaky.js'));
  // The same plugin again as `sickly`, for the quarantine case: the re-probe case has flaky to itself.
  await writeFile(path.join(dir, 'sickly.js'), (await readFile(flaky, 'utf8')).replace("name: 'flaky'", "name: 'sickly'"));
  const yaml = (await readFile(path.join(examples, 'gateway.yaml'), 'utf8'))
    .replace(/127\.0\.0\.1:808[01]/g, '127.0.0.1:0')
    .replace('windowSeconds: 10', 'windowSeconds: 100000')
    .replace('  address: 127.0.0.1:0\n\nhttp:', `  address: 127.0.0.1:0\n  auth:\n    tokenFile: admin.token\n\nhttp:`)
    .replace('  routers:\n', '  routers:\n    hostile:\n      rule: "PathPrefix(`/hostile`)"\n      middlewares: [hostile]\n      service: echo\n    flaky:\n      rule: "PathPrefix(`/flaky`)"\n      middlewares: [flaky]\n      service: echo\n    sickly:\n      rule: "PathPrefix(`/sickly`)"\n      middlewares: [sickly]\n      service: echo\n')
    .replace('  middlewares:\n', '  middlewares:\n    hostile:\n      plugin:\n        hostile: {}\n    flaky:\n      plugin:\n        flaky: {}\n    sickly:\n      plugin:\n        sickly: {}\n');
  assert.match(yaml, /tokenFile: admin.token/);
  await writeFile(path.join(dir, 'gateway.yaml'), yaml);
  gw = await createGateway(path.join(dir, 'gateway.yaml'), { watchConfig: false, logger: memoryLogger() });
  web = Object.values(gw.entryPoints)[0]!.url;
  admin = gw.admin!.url;
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    // playwright gives every launch a fresh temporary user-data dir of its own.
  });
});

after(async () => {
  await browser?.close();
  await gw?.close();
  await cleanup?.();
});

/** A fresh page signed in with `token`; collects console errors. */
async function open(token = TOKEN): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${admin}/dashboard/`);
  await page.locator('#token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  return { page, errors };
}

const card = (page: Page, plugin: string) => page.locator(`[data-plugin="${plugin}"]`);

describe('dashboard in Chromium', { timeout: 240_000 }, () => {
  it('loads with no console errors and shows the example routers and plugins', async () => {
    const { page, errors } = await open();
    await page.locator('#routers tbody tr[data-router="api"]').waitFor();
    const routers = await page.locator('#routers tbody th').allTextContents();
    assert.deepEqual(routers.sort(), ['api', 'envoy', 'everything-else', 'flaky', 'hostile', 'sickly']);
    assert.equal(await page.locator('#workers-section').isHidden(), true, 'one gateway: no workers table');
    assert.match(await page.locator('#routers tr[data-router="api"]').innerText(), /request-id → deny-blocked → rewrite-api → rate-limit/);
    for (const p of ['request-id', 'header-deny', 'path-rewrite', 'rate-limit', 'hostile']) await card(page, p).waitFor();
    assert.equal(await card(page, 'path-rewrite').locator('.status').innerText(), 'ready');
    await page.locator('#chart .uplot').waitFor();
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('a request to the gateway moves the live figures without a reload', async () => {
    const { page } = await open();
    const total = page.locator('#total-requests');
    await page.locator('#routers tbody tr').first().waitFor();
    const before = Number(await total.innerText());
    assert.equal((await request(`${web}/api/users/1`)).status, 200);
    await page.waitForFunction((n) => Number(document.querySelector('#total-requests')!.textContent) > n, before);
    await page.waitForFunction(() => /^[1-9]/.test(document.querySelector('[data-router="api"] .requests')?.textContent ?? ''));
    assert.equal(await page.locator('#login').isHidden(), true, 'the sign-in form is gone once signed in');
    // DASHBOARD_SCREENSHOT_DIR=docs refreshes docs/dashboard.png (the README's screenshot).
    if (shots) await page.screenshot({ path: path.join(shots, 'dashboard.png') });
    await page.context().close();
  });

  it('editing a plugin file shows the reload', async () => {
    const { page } = await open();
    const reloads = card(page, 'request-id').locator('.reloads');
    await reloads.waitFor();
    assert.match(await reloads.innerText(), /^0 /);
    const file = path.join(dir, 'request-id.js');
    await writeFile(file, (await readFile(file, 'utf8')).replace("version: '1.0.0'", "version: '1.0.1'"));
    await page.waitForFunction(() => /^1 /.test(document.querySelector('[data-plugin="request-id"] .reloads')?.textContent ?? ''), undefined, { timeout: 20_000 });
    assert.match(await card(page, 'request-id').innerText(), /1\.0\.1/);
    await page.context().close();
  });

  it('a hostile request shows the error with its file:line, and the timeout violation', async () => {
    const { page } = await open();
    await card(page, 'hostile').waitFor();
    await request(`${web}/hostile`, { headers: { 'x-hostile': 'throw' } });
    await page.waitForFunction(() => /hostile\.js:\d+/.test(document.querySelector('[data-plugin="hostile"] .last-error')?.textContent ?? ''));
    assert.match(await card(page, 'hostile').locator('.last-error').innerText(), /ERR_PLUGIN_THROWN at hostile\.js:7/);
    await request(`${web}/hostile`, { headers: { 'x-hostile': 'loop' } });
    await page.waitForFunction(() => /timeout [1-9]/.test(document.querySelector('[data-plugin="hostile"] .violations')?.textContent ?? ''));
    await page.context().close();
  });

  it('a quarantine shows the status and when it is re-probed', async () => {
    const { page } = await open();
    await card(page, 'sickly').waitFor();
    // sickly (flaky.js) stays quarantined for seconds (its health() fails three re-probes): the page cannot miss it.
    for (let i = 0; i < 4 && gw.host.plugins.find((p) => p.name === 'sickly')?.status !== 'quarantined'; i++) await request(`${web}/sickly`, { headers: { 'x-flaky': 'loop' } });
    await page.waitForFunction(() => document.querySelector('[data-plugin="sickly"] .status')?.textContent === 'quarantined', undefined, { timeout: 20_000 });
    assert.match(await card(page, 'sickly').locator('.reprobe').innerText(), /^next re-probe at \d{1,2}:\d{2}:\d{2}/);
    await page.context().close();
  });

  it("a plugin's log line appears live on its card", async () => {
    const { page } = await open();
    await card(page, 'hostile').locator('.lines').waitFor({ state: 'attached' });
    assert.equal((await request(`${web}/hostile`, { headers: { 'x-hostile': 'log', 'x-note': 'live-line-3c9' } })).status, 200);
    await page.waitForFunction(() => /info hostile note: live-line-3c9/.test(document.querySelector('[data-plugin="hostile"] .lines')?.textContent ?? ''));
    assert.equal(await card(page, 'hostile').locator('.lines li').last().isVisible(), true, 'shown, not folded away');
    await page.context().close();
  });

  it('the Re-probe button re-probes a quarantined plugin at once; a POST without the CSRF header or from another origin is refused', async () => {
    const { page } = await open();
    await card(page, 'flaky').waitFor();
    for (let i = 0; i < 4 && gw.host.plugins.find((p) => p.name === 'flaky')?.status !== 'quarantined'; i++) await request(`${web}/flaky`, { headers: { 'x-flaky': 'loop' } });
    // Three failed re-probes (flaky.js's health() is sick three times) put the scheduled one 8 s off.
    await page.waitForFunction(() => document.querySelector('[data-plugin="flaky"] .status')?.textContent === 'quarantined', undefined, { timeout: 20_000 });
    const due = await page.waitForFunction(
      () => {
        const d = (document.querySelector('[data-plugin="flaky"] .reprobe') as HTMLElement | null)?.dataset.due;
        return d !== undefined && Date.parse(d) - Date.now() > 6000 ? Date.parse(d) : false;
      },
      undefined,
      { timeout: 30_000 },
    ).then((h) => h.jsonValue() as Promise<number>);
    const button = card(page, 'flaky').getByRole('button', { name: 're-probe flaky now' });
    await button.waitFor();
    // From the dashboard's own page but without the CSRF header: 403.
    const noCsrf = await page.evaluate(async (token) => (await fetch('/api/plugins/flaky/reprobe', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'x-terrarium-dashboard': '1' } })).status, TOKEN);
    assert.equal(noCsrf, 403);
    // From another origin (the gateway's entry point): the browser's preflight gets no CORS allowance, the POST never runs.
    const other = await page.context().newPage();
    await other.goto(`${web}/hostile`);
    const cross = await other.evaluate(async ([url, token]) => {
      try {
        const r = await fetch(`${url}/api/plugins/flaky/reprobe`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'x-terrarium-csrf': 'guessed' } });
        return `status ${r.status}`;
      } catch (e) {
        return `refused: ${(e as Error).name}`;
      }
    }, [admin, TOKEN] as const);
    assert.equal(cross, 'refused: TypeError');
    await other.close();
    assert.equal(gw.host.plugins.find((x) => x.name === 'flaky')!.status, 'quarantined');
    const recovered = new Promise<number>((resolve) => {
      const off = gw.host.on('recovered', (e) => {
        if (e.plugin === 'flaky') (off(), resolve(Date.now()));
      });
    });
    await button.focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('[data-plugin="flaky"] .status')?.textContent === 'ready', undefined, { timeout: 20_000 });
    assert.ok((await recovered) < due, 'recovered by the button, before the scheduled re-probe');
    assert.match(await card(page, 'flaky').locator('.lines').innerText(), /health: well again/);
    assert.equal(await card(page, 'flaky').locator('.reprobe').count(), 0);
    await page.context().close();
  });

  it('refuses a wrong token and says so', async () => {
    const { page } = await open('not-the-token');
    await page.waitForFunction(() => /wrong token/.test(document.querySelector('#login-error')?.textContent ?? ''));
    assert.equal(await page.locator('#board').isHidden(), true);
    await page.context().close();
  });
});
