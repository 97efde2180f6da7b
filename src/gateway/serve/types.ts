/**
 * The gateway's public types: what `createGateway` takes besides the configuration, the running
 * gateway it returns, and what its `reload` listeners receive.
 */
import type { ConfigError } from '../../errors.js';
import type { Host } from '../../host/host.js';
import type { Logger } from '../../types.js';
import type { GatewayConfig, ResolvedConfig } from '../config/model.js';
import type { BoundAddress } from './listeners.js';
import type { AcmeTiming } from '../acme/resolver.js';

/** Options of createGateway besides the configuration itself. */
export type { AcmeTiming };

export interface GatewayOptions {
  /** Access log, lifecycle and plugin output (pino-compatible). Default: discard. */
  logger?: Logger;
  /** Reload the config file when it changes (default: true when the config is a file path). */
  watchConfig?: boolean;
  /** How long close() waits for requests in flight before cutting their connections (default: the entry points' longest lifeCycle.graceTimeOut, 10000 ms unless set). */
  shutdownTimeoutMs?: number;
  /** Serve the config's admin address (default true; cluster workers leave it to the primary, see cluster.ts). */
  admin?: boolean;
  /** ACME retry and renewal check timing (defaults: retry from 60 s doubling to 1 h, check every 24 h). */
  acme?: AcmeTiming;
  /**
   * Test hook: the accept grace of a shutdown (lifeCycle.requestAcceptGraceTimeout) also ends when
   * this resolves, so a test can end it on an event instead of waiting out a timer.
   */
  acceptGraceEnd?: Promise<void>;
}

export type { BoundAddress };

/** What `gateway.on('reload', ...)` listeners receive. */
export interface ReloadEvent {
  ok: boolean;
  /** What triggered it: the file watcher, a `reload()` call or SIGHUP (the CLI), or the Redis provider. */
  source: 'file' | 'api' | 'redis';
  /** The problems, when the new configuration was rejected (the running one is kept). */
  error?: ConfigError;
  /** Changes that need a restart to apply (entryPoints, admin, plugins): reported, not applied. */
  ignored?: string[];
}

/** A running gateway. Close it (or `await using`) to stop gracefully. */
export interface Gateway extends AsyncDisposable {
  /** The plugin host the middlewares run in. */
  readonly host: Host;
  /** Bound entry points by name. */
  readonly entryPoints: Readonly<Record<string, BoundAddress>>;
  /** The bound admin server, when configured. */
  readonly admin: BoundAddress | undefined;
  /** The configuration being served. */
  readonly config: ResolvedConfig;
  /**
   * Check a configuration (by default the same file or object again) and swap the routing table
   * to it atomically. Rejects with ConfigError, and keeps serving the running one, if it is invalid.
   */
  reload(config?: string | GatewayConfig): Promise<void>;
  /** Listen to reloads (by file watch or reload()). Returns a function that removes the listener. */
  on(event: 'reload', listener: (e: ReloadEvent) => void): () => void;
  /** Stop accepting, finish the requests in flight (up to shutdownTimeoutMs), close the plugin host. */
  close(): Promise<void>;
}

