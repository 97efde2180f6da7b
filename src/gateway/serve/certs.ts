/**
 * TLS termination for the entry points with `http.tls`. The certificate for a connection is chosen
 * by SNI among the names (subjectAltName DNS entries, wildcards included) of each certificate; the
 * first one is the default. The files are watched: a changed pair is loaded for new connections,
 * and a pair that does not load is reported and the previous one kept.
 */
import type tls from 'node:tls';
import type { PluginWatcher } from '../../host/watch.js';
import type { Logger } from '../../types.js';
import type { CertFiles } from '../config/model.js';
import { loadCertificate, type Loaded } from '../config/tls.js';

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
    this.loaded = files.map(loadCertificate);
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
      const next = this.files.map(loadCertificate);
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
