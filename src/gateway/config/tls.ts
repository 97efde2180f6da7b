/**
 * The top-level `tls.certificates` (certFile/keyFile pairs, as in Traefik's dynamic
 * configuration) used by the entry points with `http.tls`: its schema, and each pair checked by
 * loading it. Serving them (SNI, reloads) is serve/certs.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import tls, { type SecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { TlsConfig, CertFiles } from './model.js';
/** Declared in the config model (model.ts), re-exported for the modules that use them with this one. */
export type { TlsConfig, CertFiles };

/** The JSON schema of the top-level `tls`. */
export const TLS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    certificates: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['certFile', 'keyFile'],
        properties: {
          certFile: { type: 'string', minLength: 1, description: 'a PEM certificate (chain) file, relative to the config file' },
          keyFile: { type: 'string', minLength: 1, description: 'its PEM private key file' },
        },
      },
    },
  },
} as const;

/** A certificate pair read and parsed: the names it answers for and its TLS context. */
export interface Loaded {
  names: string[];
  context: SecureContext;
  pem: { cert: string; key: string };
}

/** Read and parse a pair (the checker tries it, serve/certs.ts keeps it). Throws when it does not load. */
export function loadCertificate(files: CertFiles): Loaded {
  const cert = readFileSync(files.certFile, 'utf8');
  const key = readFileSync(files.keyFile, 'utf8');
  const context = tls.createSecureContext({ cert, key });
  const x = new X509Certificate(cert);
  const names = (x.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4).toLowerCase());
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x.subject)?.[1];
  if (names.length === 0 && cn) names.push(cn.toLowerCase());
  return { names, context, pem: { cert, key } };
}

/** Check the certificate pairs of a configuration (readable, loadable); problems go to `issue`. */
export function resolveCertificates(cfg: TlsConfig | undefined, baseDir: string, issue: (segs: (string | number)[], message: string) => void): CertFiles[] {
  const out: CertFiles[] = [];
  (cfg?.certificates ?? []).forEach((c, i) => {
    const files = { certFile: path.resolve(baseDir, c.certFile), keyFile: path.resolve(baseDir, c.keyFile) };
    try {
      loadCertificate(files);
      out.push(files);
    } catch (e) {
      issue(['tls', 'certificates', i], `cannot load ${files.certFile} with ${files.keyFile}: ${(e as Error).message}; give a PEM certificate and its private key`);
    }
  });
  return out;
}
