/**
 * ACME end to end against a real pebble (Debian's, started here on free ports with its own DNS):
 * a router with tls.certResolver gets a certificate through http-01 or tls-alpn-01, served at once
 * by SNI; the certificate persists in Traefik's acme.json format and is served again after a
 * restart with no ACME server; without a reachable ACME server the gateway starts, serves the
 * generated default certificate, logs why, and retries.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { GatewayConfig } from '../dist/gateway/index.js';
import { baseConfig, eventually, gateway, memoryLogger, tempDir } from './fixtures/gateway/helpers.js';
import { freePort, pebbleTls, peerCert, startPebble } from './fixtures/gateway/pebble.js';

/** An HTTPS GET verified against `ca` with SNI. */
function verifiedGet(port: number, servername: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca, ALPNProtocols: ['http/1.1'] }, () => {
      s.write(`GET /hello HTTP/1.1\r\nhost: ${servername}\r\nconnection: close\r\n\r\n`);
    });
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (out += c));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

function acmeConfig(dir: string, ports: { web: number; websecure: number; acme: number }, caFile: string, challenge: 'http' | 'tls', domain: string): GatewayConfig {
  return baseConfig(dir, { routers: { app: { rule: `Host(\`${domain}\`)`, service: 'echo', entryPoints: ['websecure'], tls: { certResolver: 'le' } } } }, {
    entryPoints: { web: { address: `127.0.0.1:${ports.web}` }, websecure: { address: `127.0.0.1:${ports.websecure}`, http: { tls: {} } } },
    certificatesResolvers: {
      le: {
        acme: {
          email: 'ops@example.org',
          storage: path.join(dir, 'acme.json'),
          caServer: `https://localhost:${ports.acme}/dir`,
          caCertificates: [caFile],
          ...(challenge === 'http' ? { httpChallenge: { entryPoint: 'web' } } : { tlsChallenge: {} }),
        },
      },
    },
  });
}

async function issuedBy(cert: X509Certificate, intermediatePem: string): Promise<boolean> {
  const intermediate = new X509Certificate(intermediatePem);
  if (!(cert.checkIssued(intermediate) && cert.verify(intermediate.publicKey))) {
    throw new Error(`served ${cert.subject} issued by ${cert.issuer}; pebble's intermediate is ${intermediate.subject}`);
  }
  return true;
}

describe('gateway ACME against pebble', () => {
  it('starts without a reachable ACME server (default certificate, the reason logged), then obtains one over http-01 once pebble is up, and keeps it across a restart', async (t) => {
    const files = await tempDir({});
    t.after(() => files.cleanup());
    const ports = { web: await freePort(), websecure: await freePort(), acme: await freePort() };
    // Gateway first, pebble down: the start must not wait for ACME. Pebble's HTTPS CA is made
    // now, since the resolver's caCertificates names it.
    const logger = memoryLogger();
    const pebbleDir = await tempDir({});
    t.after(() => pebbleDir.cleanup());
    const pebbleFiles = pebbleTls(pebbleDir.dir);
    const caFile = pebbleFiles.ca.caFile;
    const gw = await gateway(t, acmeConfig(files.dir, ports, caFile, 'http', 'app.test'), { logger, acme: { retryMinMs: 200, retryMaxMs: 1000 } });
    const before = await peerCert(gw.entryPoints.websecure!.port, 'app.test');
    assert.match(before.subject, /CN=TRAEFIK DEFAULT CERT/);
    await eventually(() => logger.lines.some((l) => l.level === 'error' && /certificate resolver le: cannot obtain a certificate for app\.test/.test(l.msg ?? '')), 'the failure is logged with its reason');

    const pebble = await startPebble(pebbleDir.dir, { httpPort: ports.web, tlsPort: ports.websecure, listenPort: ports.acme }, pebbleFiles);
    t.after(() => pebble.stop());
    await eventually(async () => !/TRAEFIK DEFAULT CERT/.test((await peerCert(gw.entryPoints.websecure!.port, 'app.test')).subject), 'the obtained certificate is served', 60_000);
    const served = await peerCert(gw.entryPoints.websecure!.port, 'app.test');
    assert.ok(await issuedBy(served, await pebble.intermediate()), "issued by pebble's intermediate");
    assert.ok(served.subjectAltName?.includes('DNS:app.test'));
    const chainCa = `${await pebble.intermediate()}\n${await pebble.root()}`;
    assert.match(await verifiedGet(gw.entryPoints.websecure!.port, 'app.test', chainCa), /^HTTP\/1\.1 200/);

    // Traefik's acme.json: the resolver's Account and Certificates, base64 PEM, mode 0600.
    const storage = path.join(files.dir, 'acme.json');
    const stored = JSON.parse(readFileSync(storage, 'utf8')) as Record<string, { Account: { Email: string; PrivateKey: string }; Certificates: { domain: { main: string }; certificate: string; key: string; Store: string }[] }>;
    assert.equal(stored.le!.Account.Email, 'ops@example.org');
    assert.equal(stored.le!.Certificates[0]!.domain.main, 'app.test');
    assert.equal(new X509Certificate(Buffer.from(stored.le!.Certificates[0]!.certificate, 'base64').toString()).fingerprint256, served.fingerprint256);
    assert.equal(statSync(storage).mode & 0o777, 0o600);

    // Restart with pebble gone: the stored certificate is served at once.
    await pebble.stop();
    await gw.close();
    const again = await gateway(t, acmeConfig(files.dir, ports, caFile, 'http', 'app.test'), { acme: { retryMinMs: 200, retryMaxMs: 1000 } });
    assert.equal((await peerCert(again.entryPoints.websecure!.port, 'app.test')).fingerprint256, served.fingerprint256);
  });

  it('obtains a certificate over tls-alpn-01 on the TLS entry point', async (t) => {
    const files = await tempDir({});
    t.after(() => files.cleanup());
    const ports = { web: await freePort(), websecure: await freePort(), acme: await freePort() };
    const pebble = await startPebble(files.dir, { httpPort: ports.web, tlsPort: ports.websecure, listenPort: ports.acme });
    t.after(() => pebble.stop());
    const gw = await gateway(t, acmeConfig(files.dir, ports, pebble.tlsCaFile, 'tls', 'alpn.test'), { acme: { retryMinMs: 200, retryMaxMs: 1000 } });
    await eventually(async () => !/TRAEFIK DEFAULT CERT/.test((await peerCert(gw.entryPoints.websecure!.port, 'alpn.test')).subject), 'the obtained certificate is served', 60_000);
    const served = await peerCert(gw.entryPoints.websecure!.port, 'alpn.test');
    assert.ok(await issuedBy(served, await pebble.intermediate()), "issued by pebble's intermediate");
  });
});
