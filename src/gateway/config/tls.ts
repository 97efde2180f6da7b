/**
 * TLS termination: the top-level `tls.certificates` (certFile/keyFile pairs, as in Traefik's
 * dynamic configuration) used by the entry points with `http.tls`. The certificate for a
 * connection is chosen by SNI among the names (subjectAltName DNS entries, wildcards included) of
 * each certificate; the first one is the default. The files are watched: a changed pair is loaded
 * for new connections, and a pair that does not load is reported and the previous one kept.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import tls, { type SecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { PluginWatcher } from '../../host/watch.js';
import type { Logger } from '../../types.js';
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

interface Loaded {
  names: string[];
  context: SecureContext;
  pem: { cert: string; key: string };
}

function load(files: CertFiles): Loaded {
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
      load(files);
      out.push(files);
    } catch (e) {
      issue(['tls', 'certificates', i], `cannot load ${files.certFile} with ${files.keyFile}: ${(e as Error).message}; give a PEM certificate and its private key`);
    }
  });
  return out;
}

function matches(name: string, servername: string): boolean {
  if (name === servername) return true;
  if (!name.startsWith('*.')) return false;
  const suffix = name.slice(1);
  return servername.endsWith(suffix) && !servername.slice(0, -suffix.length).includes('.');
}

/** The loaded certificates of a gateway, reloaded when their files change. */
export class CertStore {
  private loaded: Loaded[] = [];
  private watcher: PluginWatcher | undefined;
  private closed = false;
  private readonly servers = new Set<tls.Server>();

  constructor(
    private readonly files: CertFiles[],
    private readonly logger: Logger,
  ) {
    this.loaded = files.map(load);
  }

  /** Options for https.createServer: the default certificate and SNI selection. */
  serverOptions(): tls.TlsOptions {
    return {
      ...this.loaded[0]!.pem,
      SNICallback: (servername, cb) => {
        const s = servername.toLowerCase();
        const hit = this.loaded.find((l) => l.names.some((n) => matches(n, s))) ?? this.loaded[0]!;
        cb(null, hit.context);
      },
    };
  }

  /** Servers whose default certificate follows reloads. */
  attach(server: tls.Server): void {
    this.servers.add(server);
  }

  /** Watch the files; `onReload` hears each outcome. */
  async watch(onReload?: (ok: boolean, error?: Error) => void): Promise<void> {
    if (this.files.length === 0) return;
    // The host's watcher (chokidar, loaded only here) batches the events: cert and key are usually
    // written one after the other, and are read once both are there.
    const { watchPlugins } = await import('../../host/watch.js');
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
      const next = this.files.map(load);
      this.loaded = next;
      for (const s of this.servers) s.setSecureContext(next[0]!.pem);
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
