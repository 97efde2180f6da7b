/**
 * ACME renewal timing against a real pebble issuing short-lived certificates (pebble's
 * certificateValidityPeriod: 5 days). Traefik renews a certificate when less than its renew period
 * is left, the period coming from the resolver's certificatesDuration (Traefik v3's
 * getCertificateRenewDurations): 30 days (720 h) renews 10 days ahead, 7 days (168 h) one day
 * ahead. So the 5-day certificate is renewed by the 720 h resolver and kept by the 168 h one; the
 * renewed certificate is served to new connections without a restart. The checks are shortened
 * (the AcmeTiming test knob); the tests wait on events (a new serial served, a check logged).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { X509Certificate } from 'node:crypto';
import path from 'node:path';
import type { GatewayConfig } from '../dist/gateway/index.js';
import { renewDurations } from '../dist/gateway/acme/resolver.js';
import { baseConfig, eventually, gateway, memoryLogger, tempDir } from './fixtures/gateway/helpers.js';
import { freePort, peerCert, startPebble } from './fixtures/gateway/pebble.js';

const FIVE_DAYS = 5 * 24 * 3600;

function config(dir: string, ports: { web: number; websecure: number }, pebble: { directory: string; tlsCaFile: string }): GatewayConfig {
  const resolver = (name: string, hours: number) => ({
    acme: { email: 'ops@example.org', storage: path.join(dir, `${name}.json`), caServer: pebble.directory, caCertificates: [pebble.tlsCaFile], certificatesDuration: hours, httpChallenge: { entryPoint: 'web' } },
  });
  return baseConfig(
    dir,
    {
      routers: {
        month: { rule: 'Host(`month.test`)', service: 'echo', entryPoints: ['websecure'], tls: { certResolver: 'month' } },
        week: { rule: 'Host(`week.test`)', service: 'echo', entryPoints: ['websecure'], tls: { certResolver: 'week' } },
      },
    },
    {
      entryPoints: { web: { address: `127.0.0.1:${ports.web}` }, websecure: { address: `127.0.0.1:${ports.websecure}`, http: { tls: {} } } },
      certificatesResolvers: { month: resolver('month', 720), week: resolver('week', 168) },
    },
  );
}

describe('gateway ACME renewal timing (pebble, 5-day certificates)', () => {
  it("Traefik's renew periods: 10 days ahead for certificatesDuration 720 h, 1 day for 168 h, and their check intervals", () => {
    const day = 24 * 3600_000;
    assert.deepEqual(renewDurations(720), { beforeMs: 10 * day, intervalMs: 12 * 3600_000 });
    assert.deepEqual(renewDurations(168), { beforeMs: day, intervalMs: 3600_000 });
    assert.deepEqual(renewDurations(2160), { beforeMs: 30 * day, intervalMs: day });
    assert.deepEqual(renewDurations(1), { beforeMs: 20 * 60_000, intervalMs: 60_000 });
  });

  it('renews the certificate inside its renew period and serves the new one without a restart; keeps the one outside it', async (t) => {
    const files = await tempDir({});
    t.after(() => files.cleanup());
    const ports = { web: await freePort(), websecure: await freePort() };
    const pebble = await startPebble(files.dir, { httpPort: ports.web, tlsPort: ports.websecure }, undefined, { validitySeconds: FIVE_DAYS });
    t.after(() => pebble.stop());
    const logger = memoryLogger();
    const gw = await gateway(t, config(files.dir, ports, pebble), { logger, acme: { retryMinMs: 200, retryMaxMs: 1000, checkIntervalMs: 300 } });
    const port = gw.entryPoints.websecure!.port;
    const issued = async (host: string) => {
      const c = await peerCert(port, host);
      return /TRAEFIK DEFAULT CERT/.test(c.subject) ? undefined : c;
    };

    // The first certificate of each, from pebble, valid for 5 days.
    let first: X509Certificate | undefined;
    await eventually(async () => (first = await issued('month.test')) !== undefined, 'month.test gets its first certificate', 60_000);
    const lifetime = Date.parse(first!.validTo) - Date.parse(first!.validFrom);
    assert.ok(Math.abs(lifetime - FIVE_DAYS * 1000) < 3600_000, `pebble issued a 5-day certificate (${first!.validFrom} .. ${first!.validTo})`);
    let week: X509Certificate | undefined;
    await eventually(async () => (week = await issued('week.test')) !== undefined, 'week.test gets its first certificate', 60_000);

    // month (renew 10 days ahead): the 5-day certificate is due at once; a new one is served.
    await eventually(async () => (await peerCert(port, 'month.test')).serialNumber !== first!.serialNumber, 'a renewed certificate (new serial) served for month.test', 60_000);
    const renewed = await peerCert(port, 'month.test');
    assert.doesNotMatch(renewed.subject, /TRAEFIK DEFAULT CERT/);
    assert.ok(renewed.subjectAltName?.includes('DNS:month.test'));

    // week (renew 1 day ahead): checks after the first certificate find nothing due; it is kept.
    const obtainedAt = logger.lines.findIndex((l) => /certificate resolver week: obtained/.test(l.msg ?? ''));
    assert.ok(obtainedAt >= 0);
    const nothingDue = () => logger.lines.slice(obtainedAt).filter((l) => /certificate resolver week: 1 certificate\(s\) checked, 0 due/.test(l.msg ?? '')).length;
    await eventually(() => nothingDue() >= 2, 'two checks of week.test after it was obtained', 30_000);
    assert.equal((await peerCert(port, 'week.test')).serialNumber, week!.serialNumber);
    assert.equal(logger.lines.filter((l) => /certificate resolver week: obtained/.test(l.msg ?? '')).length, 1);
  });
});
