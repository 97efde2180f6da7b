/**
 * `certificatesResolvers.<name>.acme` (Traefik's static configuration) checked and resolved: the
 * challenge (httpChallenge on a named entry point, or tlsChallenge), the storage file, the CA
 * server and its trust. Obtaining and renewing is src/gateway/acme/.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AcmeConfig, ResolvedAcme } from './model.js';

/** Let's Encrypt production, Traefik's default caServer. */
export const LETS_ENCRYPT = 'https://acme-v02.api.letsencrypt.org/directory';
const KEY_TYPES: Record<string, ResolvedAcme['keyType']> = { EC256: 'EC256', EC384: 'EC384', RSA2048: 'RSA2048', RSA4096: 'RSA4096' };

/** Resolve the resolvers; problems go to `issue`. `entryPoints` are the names defined. */
export function resolveResolvers(
  cfg: Record<string, { acme: AcmeConfig }> | undefined,
  baseDir: string,
  entryPoints: Set<string>,
  issue: (segs: (string | number)[], message: string) => void,
): Map<string, ResolvedAcme> {
  const out = new Map<string, ResolvedAcme>();
  for (const [name, { acme: a }] of Object.entries(cfg ?? {})) {
    const segs = ['certificatesResolvers', name, 'acme'];
    const raw = a as Record<string, unknown>;
    if (raw.dnsChallenge !== undefined) issue([...segs, 'dnsChallenge'], 'is not supported: use httpChallenge: { entryPoint } or tlsChallenge: {}');
    if (raw.eab !== undefined) issue([...segs, 'eab'], 'external account binding is not supported');
    let challenge: ResolvedAcme['challenge'] | undefined;
    if (a.httpChallenge) {
      challenge = { kind: 'http-01', entryPoint: a.httpChallenge.entryPoint };
      if (!entryPoints.has(a.httpChallenge.entryPoint)) issue([...segs, 'httpChallenge', 'entryPoint'], `unknown entry point "${a.httpChallenge.entryPoint}"; defined: ${[...entryPoints].join(', ')}`);
    } else if (a.tlsChallenge) challenge = { kind: 'tls-alpn-01' };
    else if (raw.dnsChallenge === undefined) issue(segs, 'needs a challenge: httpChallenge: { entryPoint: web } or tlsChallenge: {}');
    const keyType = KEY_TYPES[a.keyType ?? 'EC256'];
    if (!keyType) issue([...segs, 'keyType'], `unknown key type "${a.keyType}"; expected one of ${Object.keys(KEY_TYPES).join(', ')} (EC256 is the default)`);
    if (a.caServer !== undefined) {
      let u: URL | undefined;
      try {
        u = new URL(a.caServer);
      } catch {
        /* reported below */
      }
      if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:')) issue([...segs, 'caServer'], `must be the ACME directory URL, e.g. ${LETS_ENCRYPT} (got "${a.caServer}")`);
    }
    const ca: string[] = [];
    (a.caCertificates ?? []).forEach((f, i) => {
      try {
        ca.push(f.includes('-----BEGIN') ? f : readFileSync(path.resolve(baseDir, f), 'utf8'));
      } catch (e) {
        issue([...segs, 'caCertificates', i], `cannot read ${path.resolve(baseDir, f)}: ${(e as Error).message}`);
      }
    });
    if (!challenge) continue;
    out.set(name, {
      name,
      email: a.email || undefined,
      storage: path.resolve(baseDir, a.storage ?? 'acme.json'),
      caServer: a.caServer ?? LETS_ENCRYPT,
      ca: ca.length ? ca : undefined,
      challenge,
      keyType: keyType ?? 'EC256',
      certificatesDurationHours: a.certificatesDuration ?? 2160,
    });
  }
  return out;
}
