/**
 * Traefik's file layout: a static file naming dynamic files (providers.file.directory / filename),
 * merged and watched; Go durations; YAML merge keys; TOML dynamic files; a bad dynamic file refused
 * with its path and line while the last good configuration keeps serving; a reload under traffic
 * with no failed request.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createGateway, type Gateway } from '../dist/gateway/index.js';
import { parseGoDuration, traefikDuration } from '../dist/gateway/config/duration.js';
import { eventually, request, tempDir, upstream } from './fixtures/gateway/helpers.js';
import type { ConfigError } from '../dist/errors.js';

const STATIC = `
entryPoints:
  web:
    address: "127.0.0.1:0"
providers:
  file:
    directory: dynamic
    watch: true
log:
  level: INFO
accessLog: {}
global:
  checkNewVersion: false
`;

async function layout(t: { after(fn: () => unknown): void }, dyn: Record<string, string>, staticText = STATIC) {
  const d = await tempDir({ 'traefik.yml': staticText });
  t.after(() => d.cleanup());
  await mkdir(path.join(d.dir, 'dynamic'));
  for (const [n, text] of Object.entries(dyn)) await writeFile(path.join(d.dir, 'dynamic', n), text);
  return { dir: d.dir, file: path.join(d.dir, 'traefik.yml'), dynamic: path.join(d.dir, 'dynamic') };
}

async function start(t: { after(fn: () => unknown): void }, file: string): Promise<Gateway & { url: string }> {
  const gw = await createGateway(file, {});
  t.after(() => gw.close());
  return Object.assign(gw, { url: Object.values(gw.entryPoints)[0]!.url });
}

/** Replace a file the way editors and config tools do: write aside, then rename over it. */
async function replaceFile(file: string, text: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, file);
}

function nextReload(gw: Gateway): Promise<{ ok: boolean; error?: Error }> {
  return new Promise((resolve) => {
    const off = gw.on('reload', (e) => {
      off();
      resolve(e);
    });
  });
}

describe('Go durations', () => {
  it('parses compound Go durations and Traefik integers as seconds', () => {
    assert.equal(parseGoDuration('1m30s'), 90_000);
    assert.equal(parseGoDuration('1.5h'), 5_400_000);
    assert.equal(parseGoDuration('2h45m'), 9_900_000);
    assert.equal(parseGoDuration('300ms'), 300);
    assert.equal(parseGoDuration('10us'), 0.01);
    assert.equal(parseGoDuration('0'), 0);
    assert.match(String(parseGoDuration('10')), /missing unit/);
    assert.match(String(parseGoDuration('3d')), /unknown unit "d"/);
    assert.equal(traefikDuration(10), 10_000);
    assert.equal(traefikDuration('42'), 42_000);
    assert.equal(traefikDuration('100ms'), 100);
  });
});

describe('static file + dynamic files', () => {
  it('merges every dynamic file of the directory (YAML merge keys, TOML, subdirectories) and routes as written', async (t) => {
    const up = await upstream((req, res) => res.end(JSON.stringify({ url: req.url, headers: req.headers })));
    t.after(() => up.close());
    const l = await layout(t, {
      'routers.yml': `
http:
  routers:
    api:
      rule: "PathPrefix(\`/api\`)"
      middlewares: [strip@file, common]
      service: app
    echo:
      rule: "PathPrefix(\`/echo\`)"
      service: echo@file
`,
      'services.toml': `
[http.services.echo.echo]
`,
    });
    await writeFile(
      path.join(l.dynamic, 'middlewares.yaml'),
      `
http:
  middlewares:
    strip:
      stripPrefix:
        prefixes: ["/api"]
    base: &base
      headers:
        customRequestHeaders:
          X-Env: test
    common:
      <<: *base
`,
    );
    await mkdir(path.join(l.dynamic, 'more'));
    await writeFile(path.join(l.dynamic, 'more', 'app.yml'), `http:\n  services:\n    app:\n      loadBalancer:\n        servers:\n          - url: "${up.url}"\n`);
    const gw = await start(t, l.file);
    const r = await request(`${gw.url}/api/users`);
    assert.equal(r.status, 200);
    const seen = r.json<{ url: string; headers: Record<string, string> }>();
    assert.equal(seen.url, '/users');
    assert.equal(seen.headers['x-env'], 'test');
    assert.equal(seen.headers['x-forwarded-port'], String(new URL(gw.url).port));
    assert.ok(seen.headers['x-forwarded-server']);
    assert.equal(seen.headers['x-real-ip'], '127.0.0.1');
    assert.equal((await request(`${gw.url}/echo/x`)).status, 200);
  });

  it('refuses a bad dynamic file at start with its path and line', async (t) => {
    const l = await layout(t, {
      'a.yml': 'http:\n  services:\n    s:\n      echo: {}\n',
      'b.yml': 'http:\n  routers:\n    r:\n      rule: "PathPrefix(`/`"\n      service: s\n',
    });
    await assert.rejects(createGateway(l.file), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_CONFIG');
      assert.match(e.message, /http\.routers\.r\.rule: .*\(dynamic\/b\.yml:4\)/);
      // The place is kept as fields: the dynamic file (absolute) and the line in it.
      const issue = (e as ConfigError).issues.find((i) => i.path === 'http.routers.r.rule');
      assert.equal(issue?.file, path.join(path.dirname(l.file), 'dynamic', 'b.yml'));
      assert.equal(issue?.line, 4);
      return true;
    });
  });

  it('refuses a name defined in two files, naming both', async (t) => {
    const l = await layout(t, {
      'a.yml': 'http:\n  services:\n    s:\n      echo: {}\n',
      'b.yml': 'http:\n  services:\n    s:\n      echo: {}\n',
    });
    await assert.rejects(createGateway(l.file), /http\.services\.s: is defined twice: in dynamic\/a\.yml:3 and in dynamic\/b\.yml:3; rename one/);
  });

  it('tells a dynamic file given as the main file apart, and refuses other providers', async (t) => {
    const d = await tempDir({ 'dyn.yml': 'http:\n  services:\n    s:\n      echo: {}\n', 'static.yml': 'entryPoints:\n  web:\n    address: "127.0.0.1:0"\nproviders:\n  docker: {}\n' });
    t.after(() => d.cleanup());
    await assert.rejects(createGateway(path.join(d.dir, 'dyn.yml')), /entryPoints: is required: this looks like a Traefik dynamic file/);
    await assert.rejects(createGateway(path.join(d.dir, "static.yml")), { code: "ERR_PROVIDER_UNSUPPORTED", provider: "docker" });
  });

  it('reloads when a dynamic file in a subdirectory of providers.file.directory changes (it is read, so it is followed)', async (t) => {
    const l = await layout(t, { 'services.yml': 'http:\n  services:\n    s:\n      echo: {}\n' });
    await mkdir(path.join(l.dynamic, 'more'));
    const tag = (v: string) => `http:\n  routers:\n    r:\n      rule: "PathPrefix(\`/\`)"\n      middlewares: [tag]\n      service: s\n  middlewares:\n    tag:\n      headers:\n        customResponseHeaders:\n          X-Version: "${v}"\n`;
    await writeFile(path.join(l.dynamic, 'more', 'routers.yml'), tag('1'));
    const gw = await start(t, l.file);
    assert.equal((await request(`${gw.url}/x`)).headers['x-version'], '1');
    const reloaded = nextReload(gw);
    await replaceFile(path.join(l.dynamic, 'more', 'routers.yml'), tag('2'));
    assert.equal((await reloaded).ok, true);
    // The save (a temp file, then a rename) may come as one batch or two: wait for the result.
    await eventually(async () => (await request(`${gw.url}/x`)).headers['x-version'] === '2', 'the changed file is served');
  });

  it('reloads a changed dynamic file under traffic with no failed request; a bad edit is refused with path and line and the last good config keeps serving', async (t) => {
    const l = await layout(t, {
      'services.yml': 'http:\n  services:\n    s:\n      echo: {}\n',
      'routers.yml': 'http:\n  routers:\n    r:\n      rule: "PathPrefix(`/`)"\n      middlewares: [tag]\n      service: s\n  middlewares:\n    tag:\n      headers:\n        customResponseHeaders:\n          X-Version: "1"\n',
    });
    const gw = await start(t, l.file);
    let failures = 0;
    let sent = 0;
    const versions = new Set<string>();
    let stop = false;
    const load = (async () => {
      while (!stop) {
        const r = await request(`${gw.url}/x`).catch(() => ({ status: 0, headers: {} as Record<string, string> }));
        sent++;
        if (r.status !== 200) failures++;
        else versions.add(String(r.headers['x-version']));
      }
    })();
    const reloaded = nextReload(gw);
    await replaceFile(path.join(l.dynamic, 'routers.yml'), 'http:\n  routers:\n    r:\n      rule: "PathPrefix(`/`)"\n      middlewares: [tag]\n      service: s\n  middlewares:\n    tag:\n      headers:\n        customResponseHeaders:\n          X-Version: "2"\n');
    assert.equal((await reloaded).ok, true);
    const after2 = sent;
    // Wait until traffic has flowed on the new table too (behaviour, not time).
    while (sent < after2 + 5) await new Promise((r) => setImmediate(r));
    const rejected = nextReload(gw);
    await replaceFile(path.join(l.dynamic, 'routers.yml'), 'http:\n  routers:\n    r:\n      rule: "PathPrefix(`/`)"\n      service: nowhere\n');
    const e = await rejected;
    assert.equal(e.ok, false);
    assert.match(String(e.error?.message), /http\.routers\.r\.service: unknown service "nowhere".*\(dynamic\/routers\.yml:5\)/);
    const after3 = sent;
    while (sent < after3 + 5) await new Promise((r) => setImmediate(r));
    stop = true;
    await load;
    assert.equal(failures, 0);
    assert.ok(versions.has('2'));
    assert.equal((await request(`${gw.url}/x`)).headers['x-version'], '2');
  });
});
