/**
 * Routers with `tls` as in Traefik: a TLS router is served on TLS connections only, a plain one on
 * plain entry points (the same rule on web and websecure reaches two services); `tls.options`
 * (minVersion, sniStrict) named per router; a generated default certificate when none is given;
 * every bad input a config issue with its path.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { createGateway, type GatewayConfig } from '../dist/gateway/index.js';
import { ConfigError } from '../dist/errors.js';
import { baseConfig, gateway, request, tempDir, upstream, type Upstream } from './fixtures/gateway/helpers.js';
import { makeCa, type Leaf } from './fixtures/gateway/certs.js';

function handshake(port: number, opts: tls.ConnectionOptions): Promise<{ ok: true; subject: string; version: string | null } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts }, () => {
      resolve({ ok: true, subject: s.getPeerX509Certificate()?.subject ?? '', version: s.getProtocol() });
      s.end();
    });
    s.on('error', (e) => resolve({ ok: false, error: e.message }));
  });
}

function httpsText(port: number, ca: string, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: host, ca, ALPNProtocols: ['http/1.1'] }, () => s.write(`GET / HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`));
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (out += c));
    s.on('end', () => resolve(out.slice(out.indexOf('\r\n\r\n') + 4)));
    s.on('error', reject);
  });
}

describe('gateway TLS routers', () => {
  let files: Awaited<ReturnType<typeof tempDir>>;
  let ca: ReturnType<typeof makeCa>;
  let a: Leaf;
  let plain: Upstream;
  let secure: Upstream;
  before(async () => {
    files = await tempDir({});
    ca = makeCa(files.dir);
    a = ca.leaf('a', 'a.example', ['DNS:a.example']);
    plain = await upstream((_req, res) => res.end('plain'));
    secure = await upstream((_req, res) => res.end('secure'));
  });
  after(async () => {
    await plain.close();
    await secure.close();
    await files.cleanup();
  });

  const twoEntryPoints = (extra: Partial<GatewayConfig> = {}, routerTls: Record<string, unknown> = {}): GatewayConfig =>
    baseConfig(
      files.dir,
      {
        routers: {
          http: { rule: 'Host(`a.example`)', service: 'plain' },
          https: { rule: 'Host(`a.example`)', service: 'secure', tls: routerTls },
        },
        services: { plain: { loadBalancer: { servers: [{ url: plain.url }] } }, secure: { loadBalancer: { servers: [{ url: secure.url }] } } },
      },
      {
        entryPoints: { web: { address: '127.0.0.1:0' }, websecure: { address: '127.0.0.1:0', http: { tls: {} } } },
        tls: { certificates: [{ certFile: a.certFile, keyFile: a.keyFile }] },
        ...extra,
      },
    );

  it('sends the same rule to the plain router on web and to the TLS router on websecure', async (t) => {
    const gw = await gateway(t, twoEntryPoints());
    const r = await request(`${gw.entryPoints.web!.url}/`, { headers: { host: 'a.example' } });
    assert.equal(r.text, 'plain');
    assert.equal(await httpsText(gw.entryPoints.websecure!.port, ca.ca, 'a.example'), 'secure');
  });

  it('applies the tls.options a router names: minVersion VersionTLS13 refuses a TLS 1.2 client', async (t) => {
    const gw = await gateway(t, twoEntryPoints({ tls: { certificates: [{ certFile: a.certFile, keyFile: a.keyFile }], options: { modern: { minVersion: 'VersionTLS13' } } } }, { options: 'modern' }));
    const port = gw.entryPoints.websecure!.port;
    assert.equal((await handshake(port, { servername: 'a.example', maxVersion: 'TLSv1.2' })).ok, false);
    const ok = await handshake(port, { servername: 'a.example' });
    assert.ok(ok.ok && ok.version === 'TLSv1.3');
  });

  it('with sniStrict refuses a name no certificate has; without, serves the default', async (t) => {
    const strict = await gateway(t, twoEntryPoints({ tls: { certificates: [{ certFile: a.certFile, keyFile: a.keyFile }], options: { default: { sniStrict: true } } } }));
    assert.equal((await handshake(strict.entryPoints.websecure!.port, { servername: 'other.example' })).ok, false);
    const loose = await gateway(t, twoEntryPoints());
    assert.equal((await handshake(loose.entryPoints.websecure!.port, { servername: 'other.example' })).ok, true);
  });

  it('serves a generated TRAEFIK DEFAULT CERT when no certificate is configured', async (t) => {
    const cfg = twoEntryPoints();
    delete cfg.tls;
    const gw = await gateway(t, cfg);
    const h = await handshake(gw.entryPoints.websecure!.port, { servername: 'a.example' });
    assert.ok(h.ok && /CN=TRAEFIK DEFAULT CERT/.test(h.subject));
  });

  it('takes tls.certificates and tls.options from a dynamic file of providers.file (paths from that file)', async (t) => {
    const dir = await tempDir({});
    t.after(() => dir.cleanup());
    const { copyFileSync, writeFileSync } = await import('node:fs');
    copyFileSync(a.certFile, `${dir.dir}/a.pem`);
    copyFileSync(a.keyFile, `${dir.dir}/a.key`);
    writeFileSync(`${dir.dir}/dynamic.yml`, [
      'http:',
      '  routers:',
      '    https: { rule: "Host(`a.example`)", service: echo, entryPoints: [websecure], tls: { options: modern } }',
      '  services:',
      '    echo: { echo: {} }',
      'tls:',
      '  certificates:',
      '    - { certFile: a.pem, keyFile: a.key }',
      '  options:',
      '    modern: { minVersion: VersionTLS13 }',
      '',
    ].join('\n'));
    writeFileSync(`${dir.dir}/traefik.yml`, `entryPoints:\n  websecure: { address: "127.0.0.1:0" }\nproviders:\n  file: { filename: ${dir.dir}/dynamic.yml }\naccessLog: false\n`);
    const gw = await gateway(t, `${dir.dir}/traefik.yml`, { watchConfig: false });
    const port = gw.entryPoints.websecure!.port;
    const ok = await handshake(port, { servername: 'a.example' });
    assert.ok(ok.ok && /CN=a\.example/.test(ok.subject) && ok.version === 'TLSv1.3');
    assert.equal((await handshake(port, { servername: 'a.example', maxVersion: 'TLSv1.2' })).ok, false);
  });

  it('reports an unknown resolver, unknown options, a bad minVersion and a bad default certificate with their paths', async () => {
    const cfg = twoEntryPoints(
      {
        tls: { certificates: [{ certFile: a.certFile, keyFile: a.keyFile }], options: { old: { minVersion: 'TLS1.0' } }, stores: { default: { defaultCertificate: { certFile: `${files.dir}/missing.pem`, keyFile: a.keyFile } } } },
      },
      { certResolver: 'le', options: 'nope' },
    );
    await assert.rejects(createGateway(cfg), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.code, 'ERR_CONFIG');
      const paths = e.issues.map((i) => i.path);
      for (const p of ['http.routers.https.tls.certResolver', 'http.routers.https.tls.options', 'tls.options.old.minVersion', 'tls.stores.default.defaultCertificate']) assert.ok(paths.includes(p), `${p} in ${paths.join(', ')}`);
      return true;
    });
  });
});
