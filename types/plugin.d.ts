/**
 * Types for plugin authors: `terrarium-plugins/plugin`. Declares the `host` global as a plugin
 * sees it, and re-exports the middleware contract and the metadata shape from the library's own
 * declarations (so they cannot drift from what the gateway checks).
 *
 *   /// <reference types="terrarium-plugins/plugin" />
 *   import type { RequestDecision, MiddlewareRequest, MiddlewareContext } from 'terrarium-plugins/plugin';
 *
 * Only Terrarium's own globals are here. The platform globals of the JavaScript sandbox
 * (TextEncoder, URL, crypto, structuredClone, queueMicrotask, performance, console) are the
 * standard ones: add "DOM" to "lib" for them, keeping in mind that DOM also declares what the
 * sandbox does not have (fetch, timers, document): see docs/platform.md.
 */
import type { GatewayMeta } from '../dist/gateway/middleware/contract.js';
import type { ScopedFs } from '../dist/capabilities/fs.js';
import type { PluginMeta as HostPluginMeta } from '../dist/types.js';
import type { SelfTestCase } from '../dist/host/selftest.js';

export type {
  GatewayMeta,
  HeaderValue,
  Middleware,
  MiddlewareContext,
  MiddlewareRequest,
  MiddlewareResponse,
  RequestDecision,
  ResponseDecision,
} from '../dist/gateway/middleware/contract.js';
export type { ScopedFs, SelfTestCase };

/** `host.log.*`: arguments are joined with spaces (non-strings as JSON) into one line for the host's logger. */
export interface HostLog {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/**
 * `host.kv`: each plugin has its own key space (`'@name/key'` reaches a namespace granted with
 * `grants.<plugin>.kv.shared`). The gateway's store is synchronous; `terrarium call` and
 * `terrarium test` grant an in-memory one whose `get` returns a Promise, hence `get`'s type.
 */
export interface HostKv {
  get(key: string): unknown;
  set(key: string, value: unknown, ttlMs?: number): true;
  /** The new count; the TTL starts when the key is created. */
  incr(key: string, by?: number, ttlMs?: number): number;
  delete(key: string): boolean;
}

/**
 * The `host` global. `log` and `config` are always there; `kv` and `fs` only when the host grants
 * them (the gateway: `plugins.capabilities.kv`; `terrarium call`/`test`: both). An application's
 * own capabilities are added by declaration merging:
 *   declare module 'terrarium-plugins/plugin' { interface TerrariumHost { users: { fetch(id: string): Promise<User> } } }
 */
export interface TerrariumHost {
  readonly log: HostLog;
  /** This plugin's config (`options.config[name]`; a middleware's is also `ctx.config`), read fresh on each access. */
  readonly config: unknown;
  readonly kv?: HostKv;
  readonly fs?: ScopedFs;
}

/** `export const meta` (JavaScript, TypeScript) or the `meta` field (Lua). */
export interface PluginMeta extends HostPluginMeta {
  /** The plugin's name (default: the file name without its extension). */
  name?: string;
  version?: string;
  /** Checked against the host's `apiVersions` when it declares some. */
  apiVersion?: string | number;
  description?: string;
  /** Self-tests: input/expected pairs per export, run on every load and by `terrarium test`. */
  tests?: Record<string, SelfTestCase[]>;
  /** A JSON schema for the middleware's config in the gateway file (checked with ajv; defaults filled in). */
  configSchema?: Record<string, unknown> | boolean;
  /** What a middleware declares to the gateway: bodies, the request headers it reads. */
  gateway?: GatewayMeta;
}

declare global {
  /** Terrarium's capabilities: frozen, read-only; functions copy their arguments out and the result back in. */
  const host: TerrariumHost;
}
