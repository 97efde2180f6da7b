/**
 * The certificates the TLS entry points serve, chosen by SNI: the `tls.certificates` (files,
 * watched: a changed pair is loaded for new connections, a pair that does not load is reported
 * and the previous one kept), the certificates ACME resolvers obtained (swapped in at once), and
 * the default one: `tls.stores.default.defaultCertificate`, or one generated at start like
 * Traefik's "TRAEFIK DEFAULT CERT". A connection whose name matches nothing gets the default,
 * unless its entry point's TLS options say sniStrict (then the handshake fails).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { PluginWatcher } from '../../shared/watch.js';
import type { Logger } from '../../types.js';
import type { CertFiles, ResolvedTlsOptions } from '../config/model.js';
import { defaultTlsOptions, loadCertificate, type Loaded } from '../config/tls.js';

function matches(name: string, servername: string): boolean {
  if (name === servername) return true;
  if (!name.startsWith('*.')) return false;
  const suffix = name.slice(1);
  return servername.endsWith(suffix) && !servername.slice(0, -suffix.length).includes('.');
}

/** Set on a TLS socket whose client offered acme-tls/1 (the ALPN callback runs before the SNI one): only it gets a tls-alpn-01 answer. */
export const OFFERS_ACME_TLS = Symbol('offers acme-tls/1');

/** A self-signed certificate like Traefik's default one (CN "TRAEFIK DEFAULT CERT"), made with openssl. */
export function generateDefaultCertificate(): { cert: string; key: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'terrarium-default-cert-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '365', '-subj', '/CN=TRAEFIK DEFAULT CERT', '-addext', 'subjectAltName=DNS:TRAEFIK DEFAULT CERT'], { stdio: 'ignore' });
    return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Node's context options for one TLS options entry (what a SecureContext can carry). */
function contextOptions(o: ResolvedTlsOptions): tls.SecureContextOptions {
  return {
    minVersion: o.minVersion,
    maxVersion: o.maxVersion,
    ...(o.ciphers ? { ciphers: o.ciphers } : {}),
    ...(o.ecdhCurve ? { ecdhCurve: o.ecdhCurve } : {}),
    ...(o.clientAuth?.ca.length ? { ca: o.clientAuth.ca } : {}),
  };
}

/** The certificates of a gateway: files (reloaded when they change), ACME ones, the default. */
export class CertStore {
  private loaded: Loaded[] = [];
  private readonly acme = new Map<string, Loaded>();
  /** tls-alpn-01 answers, by domain, while a validation is pending. */
  private readonly challenges = new Map<string, tls.SecureContext>();
  private defaultPem: { cert: string; key: string };
  /** Contexts by certificate and options, made once. */
  private contexts = new WeakMap<object, Map<string, tls.SecureContext>>();
  private watcher: PluginWatcher | undefined;
  private closed = false;
  private readonly servers = new Map<tls.Server, ResolvedTlsOptions>();

  constructor(
    private readonly files: CertFiles[],
    private readonly logger: Logger,
    defaultCertificate?: CertFiles,
  ) {
    this.loaded = files.map((f) => loadCertificate(f));
    if (defaultCertificate) this.defaultPem = loadCertificate(defaultCertificate).pem;
    else if (this.loaded[0]) this.defaultPem = this.loaded[0].pem;
    else {
      this.defaultPem = generateDefaultCertificate();
      logger.info({}, 'no TLS certificate is configured: serving a generated self-signed default certificate (TRAEFIK DEFAULT CERT)');
    }
  }

  /** The pair for a name, or undefined (files first, then ACME ones). */
  private find(servername: string): Loaded | undefined {
    const s = servername.toLowerCase().replace(/\.$/, '');
    return this.loaded.find((l) => l.names.some((n) => matches(n, s))) ?? [...this.acme.values()].find((l) => l.names.some((n) => matches(n, s)));
  }

  /** Whether a valid certificate (not the default) answers for `name`, valid past `until` (ms since epoch). */
  has(name: string, until = Date.now()): boolean {
    const l = this.find(name);
    return l !== undefined && (l.notAfter ?? Infinity) > until;
  }

  private context(key: object, pem: { cert: string; key: string }, o: ResolvedTlsOptions): tls.SecureContext {
    let byOptions = this.contexts.get(key);
    if (!byOptions) this.contexts.set(key, (byOptions = new Map()));
    let c = byOptions.get(o.name);
    if (!c) byOptions.set(o.name, (c = tls.createSecureContext({ ...pem, ...contextOptions(o) })));
    return c;
  }

  /** Options for a TLS server with these TLS options: the default certificate and SNI selection. */
  serverOptions(options: ResolvedTlsOptions = defaultTlsOptions()): tls.TlsOptions {
    const ca = options.clientAuth;
    const store = this;
    return {
      ...this.defaultPem,
      ...contextOptions(options),
      ...(ca ? { requestCert: true, rejectUnauthorized: ca.require && ca.verify } : {}),
      // A function, not an arrow: node calls it with the TLS socket as `this`.
      SNICallback(this: unknown, servername, cb) {
        const challenge = (this as { [OFFERS_ACME_TLS]?: boolean } | undefined)?.[OFFERS_ACME_TLS] ? store.challenges.get(servername.toLowerCase()) : undefined;
        if (challenge) return cb(null, challenge);
        const hit = store.find(servername);
        if (!hit && options.sniStrict) return cb(new Error(`no certificate for "${servername}" (sniStrict)`), undefined);
        cb(null, hit ? store.context(hit, hit.pem, options) : store.context(store.defaultPem, store.defaultPem, options));
      },
    };
  }

  /** Servers whose default certificate follows reloads. */
  attach(server: tls.Server, options: ResolvedTlsOptions = defaultTlsOptions()): void {
    this.servers.set(server, options);
  }

  /** A certificate an ACME resolver obtained, served at once for its names (no restart). */
  put(id: string, pem: { cert: string; key: string }): void {
    this.acme.set(id, loadCertificate({ certFile: '', keyFile: '' }, pem));
  }

  /** A tls-alpn-01 answer for `domain` (undefined removes it). */
  challenge(domain: string, pem: { cert: string; key: string } | undefined): void {
    if (pem) this.challenges.set(domain.toLowerCase(), tls.createSecureContext(pem));
    else this.challenges.delete(domain.toLowerCase());
  }

  /** Watch the files; `onReload` hears each outcome. */
  async watch(onReload?: (ok: boolean, error?: Error) => void): Promise<void> {
    if (this.files.length === 0) return;
    // The host's watcher (chokidar, loaded only here) batches the events: cert and key are usually
    // written one after the other, and are read once both are there.
    const { watchPlugins } = await import('../../shared/watch.js');
    const watcher = await watchPlugins({
      dir: undefined,
      files: this.files.flatMap((f) => [f.certFile, f.keyFile]),
      debounceMs: 100,
      isPlugin: () => true,
      onChange: () => this.reload(onReload),
      onError: (err) => this.logger.warn({ err: err.message }, `watching the certificate files failed: ${err.message}`),
    });
    if (this.closed) await watcher.close();
    else this.watcher = watcher;
  }

  private reload(onReload?: (ok: boolean, error?: Error) => void): void {
    if (this.closed) return;
    try {
      const next = this.files.map((f) => loadCertificate(f));
      const wasDefault = this.loaded[0] !== undefined && this.defaultPem === this.loaded[0].pem;
      this.loaded = next;
      if (wasDefault) {
        this.defaultPem = next[0]!.pem;
        for (const [s, o] of this.servers) s.setSecureContext({ ...next[0]!.pem, ...contextOptions(o) });
      }
      this.logger.info({ certificates: this.files.map((f) => f.certFile) }, 'TLS certificates reloaded');
      onReload?.(true);
    } catch (e) {
      this.logger.error({ err: (e as Error).message }, `TLS certificates not reloaded, the previous ones are kept: ${(e as Error).message}`);
      onReload?.(false, e as Error);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.watcher?.close().catch(() => undefined);
  }
}
