/**
 * The top-level `tls.certificates` (certFile/keyFile pairs, as in Traefik's dynamic
 * configuration) used by the entry points with `http.tls`: its schema, and each pair checked by
 * loading it. Serving them (SNI, reloads) is serve/certs.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import tls, { type SecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { TlsConfig, CertFiles, ResolvedTlsOptions, TlsOptionsConfig, RouterTlsConfig, ResolvedRouterTls } from './model.js';
/** Declared in the config model (model.ts), re-exported for the modules that use them with this one. */
export type { TlsConfig, CertFiles };

const pairProperties = {
  certFile: { type: 'string', minLength: 1, description: 'a PEM certificate (chain) file, relative to the config file' },
  keyFile: { type: 'string', minLength: 1, description: 'its PEM private key file' },
} as const;

/** The JSON schema of a router's `tls` (and of an entry point's `http.tls` defaults). */
export const ROUTER_TLS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    certResolver: { type: 'string', minLength: 1, description: 'a certificatesResolvers name' },
    options: { type: 'string', minLength: 1, description: 'a tls.options name' },
    domains: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['main'],
        properties: { main: { type: 'string', minLength: 1 }, sans: { type: 'array', items: { type: 'string', minLength: 1 } } },
      },
    },
  },
  description: 'tls: {} or { certResolver, options, domains }',
} as const;

const stringList = { type: 'array', items: { type: 'string', minLength: 1 } } as const;

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
        properties: { ...pairProperties, stores: stringList },
      },
    },
    stores: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          defaultCertificate: { type: 'object', additionalProperties: false, required: ['certFile', 'keyFile'], properties: pairProperties },
          defaultGeneratedCert: { type: 'object', description: 'refused: use certificatesResolvers with tls.domains on a router' },
        },
      },
    },
    options: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          minVersion: { type: 'string' },
          maxVersion: { type: 'string' },
          cipherSuites: stringList,
          curvePreferences: stringList,
          sniStrict: { type: 'boolean' },
          alpnProtocols: stringList,
          preferServerCipherSuites: { type: 'boolean', description: 'deprecated in Traefik, accepted and ignored' },
          clientAuth: {
            type: 'object',
            additionalProperties: false,
            properties: { caFiles: stringList, clientAuthType: { type: 'string' } },
          },
        },
      },
    },
  },
} as const;

/** The JSON schema of `certificatesResolvers` (static). */
export const RESOLVERS_SCHEMA = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    additionalProperties: false,
    required: ['acme'],
    properties: {
      acme: {
        type: 'object',
        additionalProperties: false,
        properties: {
          email: { type: 'string' },
          storage: { type: 'string', minLength: 1, description: 'the acme.json file, relative to the config file' },
          caServer: { type: 'string', minLength: 1, description: 'the ACME directory URL' },
          caCertificates: stringList,
          certificatesDuration: { type: 'integer', minimum: 1 },
          keyType: { type: 'string' },
          httpChallenge: { type: 'object', additionalProperties: false, required: ['entryPoint'], properties: { entryPoint: { type: 'string', minLength: 1 } } },
          tlsChallenge: { type: 'object', additionalProperties: false },
          dnsChallenge: { type: 'object', description: 'refused: use httpChallenge or tlsChallenge' },
          preferredChain: { type: 'string' },
          eab: { type: 'object', description: 'refused' },
        },
      },
    },
  },
} as const;

const VERSIONS: Record<string, ResolvedTlsOptions['minVersion']> = { VersionTLS10: 'TLSv1', VersionTLS11: 'TLSv1.1', VersionTLS12: 'TLSv1.2', VersionTLS13: 'TLSv1.3' };

// Go's cipher suite names (crypto/tls) to OpenSSL's. TLS 1.3 suites are not configurable in Go: accepted, no effect.
const CIPHERS: Record<string, string | null> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_AES_128_GCM_SHA256: null,
  TLS_AES_256_GCM_SHA384: null,
  TLS_CHACHA20_POLY1305_SHA256: null,
};
const CURVES: Record<string, string> = { CurveP256: 'P-256', secp256r1: 'P-256', CurveP384: 'P-384', secp384r1: 'P-384', CurveP521: 'P-521', secp521r1: 'P-521', X25519: 'X25519' };
const CLIENT_AUTH = ['NoClientCert', 'RequestClientCert', 'RequireAnyClientCert', 'VerifyClientCertIfGiven', 'RequireAndVerifyClientCert'];

/** Traefik's `default` options: TLS 1.2 and up, Go's defaults otherwise; ALPN h2, http/1.1 (acme-tls/1 is added for the TLS challenge). */
export function defaultTlsOptions(name = 'default'): ResolvedTlsOptions {
  return { name, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', ciphers: undefined, ecdhCurve: undefined, sniStrict: false, alpnProtocols: ['h2', 'http/1.1'], clientAuth: undefined };
}

/** Resolve `tls.options`; problems go to `issue`. `default` is always there. */
export function resolveTlsOptions(cfg: Record<string, TlsOptionsConfig> | undefined, baseDir: string, issue: (segs: (string | number)[], message: string) => void): Map<string, ResolvedTlsOptions> {
  const out = new Map<string, ResolvedTlsOptions>([['default', defaultTlsOptions()]]);
  for (const [name, o] of Object.entries(cfg ?? {})) {
    const segs = ['tls', 'options', name];
    const r = defaultTlsOptions(name);
    const version = (key: 'minVersion' | 'maxVersion') => {
      const v = o[key];
      if (v === undefined) return;
      const n = VERSIONS[v];
      if (n) r[key] = n;
      else issue([...segs, key], `unknown TLS version "${v}"; expected one of ${Object.keys(VERSIONS).join(', ')}`);
    };
    version('minVersion');
    version('maxVersion');
    if (o.cipherSuites) {
      const list: string[] = [];
      o.cipherSuites.forEach((c, i) => {
        const n = CIPHERS[c];
        if (n === undefined) issue([...segs, 'cipherSuites', i], `unknown cipher suite "${c}"; give Go's names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`);
        else if (n !== null) list.push(n);
      });
      if (list.length > 0) r.ciphers = list.join(':');
    }
    if (o.curvePreferences) {
      const list: string[] = [];
      o.curvePreferences.forEach((c, i) => {
        const n = CURVES[c];
        if (!n) issue([...segs, 'curvePreferences', i], `unknown curve "${c}"; expected one of CurveP256, CurveP384, CurveP521, X25519`);
        else list.push(n);
      });
      if (list.length > 0) r.ecdhCurve = list.join(':');
    }
    r.sniStrict = o.sniStrict ?? false;
    if (o.alpnProtocols) r.alpnProtocols = [...o.alpnProtocols];
    if (o.clientAuth) {
      const type = o.clientAuth.clientAuthType ?? 'NoClientCert';
      if (!CLIENT_AUTH.includes(type)) issue([...segs, 'clientAuth', 'clientAuthType'], `unknown client auth type "${type}"; expected one of ${CLIENT_AUTH.join(', ')}`);
      const ca: string[] = [];
      (o.clientAuth.caFiles ?? []).forEach((f, i) => {
        try {
          ca.push(f.includes('-----BEGIN') ? f : readFileSync(path.resolve(baseDir, f), 'utf8'));
        } catch (e) {
          issue([...segs, 'clientAuth', 'caFiles', i], `cannot read ${path.resolve(baseDir, f)}: ${(e as Error).message}`);
        }
      });
      if (type !== 'NoClientCert') {
        r.clientAuth = {
          ca,
          request: true,
          require: type === 'RequireAnyClientCert' || type === 'RequireAndVerifyClientCert',
          verify: type === 'VerifyClientCertIfGiven' || type === 'RequireAndVerifyClientCert',
        };
        if (r.clientAuth.verify && ca.length === 0) issue([...segs, 'clientAuth', 'caFiles'], `${type} needs caFiles: the CA certificates client certificates are verified against`);
      }
    }
    if (VERSIONS_ORDER.indexOf(r.minVersion) > VERSIONS_ORDER.indexOf(r.maxVersion)) issue([...segs, 'maxVersion'], `is below minVersion (${o.minVersion})`);
    out.set(name, r);
  }
  return out;
}
const VERSIONS_ORDER = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/** The Host names of a rule (``Host(`a.example`, `b.example`)``), lower-cased: the names a TLS router's certificate is for when it has no tls.domains. */
export function ruleHosts(rule: string): string[] {
  const out: string[] = [];
  for (const m of rule.matchAll(/\bHost\(([^)]*)\)/g)) {
    for (const a of m[1]!.matchAll(/[`"]([^`"]+)[`"]/g)) out.push(a[1]!.toLowerCase());
  }
  return out;
}

/** A router's TLS, resolved against the known option and resolver names. */
export function resolveRouterTls(
  t: RouterTlsConfig,
  rule: string,
  segs: (string | number)[],
  known: { options: Set<string>; resolvers: Set<string> },
  issue: (segs: (string | number)[], message: string) => void,
): ResolvedRouterTls {
  const options = t.options?.replace(/@.*$/, '') ?? 'default';
  if (!known.options.has(options)) issue([...segs, 'options'], `unknown TLS options "${t.options}"; defined: ${[...known.options].join(', ')}`);
  if (t.certResolver !== undefined && !known.resolvers.has(t.certResolver)) {
    issue([...segs, 'certResolver'], `unknown certificate resolver "${t.certResolver}"; ${known.resolvers.size ? `defined: ${[...known.resolvers].join(', ')}` : 'none is defined under certificatesResolvers'}`);
  }
  const domains = t.domains ? t.domains.map((d) => [d.main, ...(d.sans ?? [])].map((n) => n.toLowerCase())) : ruleHosts(rule).length ? [ruleHosts(rule)] : [];
  return { options, certResolver: t.certResolver, domains };
}

/** A certificate pair read and parsed: the names it answers for and its TLS context. */
export interface Loaded {
  names: string[];
  /** When it stops being valid (ms since the epoch). */
  notAfter?: number;
  context: SecureContext;
  pem: { cert: string; key: string };
}

/** Read and parse a pair (the checker tries it, serve/certs.ts keeps it). Throws when it does not load. */
export function loadCertificate(files: CertFiles, pem?: { cert: string; key: string }): Loaded {
  const cert = pem?.cert ?? readFileSync(files.certFile, 'utf8');
  const key = pem?.key ?? readFileSync(files.keyFile, 'utf8');
  const context = tls.createSecureContext({ cert, key });
  const x = new X509Certificate(cert);
  const names = (x.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4).toLowerCase());
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x.subject)?.[1];
  if (names.length === 0 && cn) names.push(cn.toLowerCase());
  return { names, context, pem: { cert, key }, notAfter: Date.parse(x.validTo) };
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
    (c.stores ?? []).forEach((st, j) => {
      if (st !== 'default') issue(['tls', 'certificates', i, 'stores', j], `unknown TLS store "${st}"; only the default store exists (as in Traefik)`);
    });
  });
  return out;
}

/** `tls.stores.default.defaultCertificate`, checked; other stores are refused (Traefik has only `default`). */
export function resolveDefaultCertificate(cfg: TlsConfig | undefined, baseDir: string, issue: (segs: (string | number)[], message: string) => void): CertFiles | undefined {
  let out: CertFiles | undefined;
  for (const [name, st] of Object.entries(cfg?.stores ?? {})) {
    if (name !== 'default') issue(['tls', 'stores', name], `unknown TLS store "${name}"; only the default store exists (as in Traefik)`);
    if ((st as Record<string, unknown>).defaultGeneratedCert !== undefined) issue(['tls', 'stores', name, 'defaultGeneratedCert'], 'is not supported: give defaultCertificate, or a router with tls.certResolver and tls.domains');
    const c = st.defaultCertificate;
    if (!c || name !== 'default') continue;
    const files = { certFile: path.resolve(baseDir, c.certFile), keyFile: path.resolve(baseDir, c.keyFile) };
    try {
      loadCertificate(files);
      out = files;
    } catch (e) {
      issue(['tls', 'stores', name, 'defaultCertificate'], `cannot load ${files.certFile} with ${files.keyFile}: ${(e as Error).message}; give a PEM certificate and its private key`);
    }
  }
  return out;
}
