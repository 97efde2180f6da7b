/**
 * The middleware contract (the same for JavaScript and Lua plugins), binding configured
 * middlewares to loaded plugins, and checking what plugins return.
 *
 * A middleware is a plugin exporting `onRequest(req, ctx)` and/or `onResponse(res, ctx)`. Its
 * metadata may declare `configSchema` (a JSON schema for its config in the gateway file, checked
 * with ajv at start and on every reload, defaults filled in) and `gateway: { requestBody: {
 * maxBytes }, responseBody: { maxBytes } }` to see bodies (no plugin sees a body it did not ask
 * for: copying bodies into a sandbox is the dearest part of a call).
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { MiddlewareResultError } from '../../errors.js';
import { isEmptyTable } from '../../binding/empty.js';
import { LogLimiter } from '../../shared/log-limit.js';
import type { Host } from '../../host/host.js';
import type { PluginInfo } from '../../host/plugin.js';
import type { GatewayStats, MiddlewareStats } from '../stats/stats.js';
import type { Issue, ResolvedMiddleware, Where } from '../config/model.js';
import { schemaIssues } from '../config/issues.js';
import { bindBuiltin } from './builtin/bind.js';
import { didYouMean } from '../../hints.js';

export type {
  MiddlewareRequest,
  MiddlewareContext,
  HeaderValue,
  RequestDecision,
  MiddlewareResponse,
  ResponseDecision,
  Middleware,
  GatewayMeta,
} from './contract.js';
import type { GatewayMeta, MiddlewareContext, RequestDecision, ResponseDecision } from './contract.js';

/** Body size when a plugin declares `requestBody: true`. */
export const DEFAULT_BODY_BYTES = 1 << 20;
const MAX_BODY_BYTES = 64 << 20;


type Fn = (a: unknown, b: unknown) => unknown;

/** What the gateway knows about one loaded plugin; refreshed on lifecycle events, never per request. */
interface CatalogEntry {
  info: PluginInfo;
  onRequest: Fn | undefined;
  onResponse: Fn | undefined;
}

/**
 * The loaded plugins, from one snapshot of `host.plugins` (which copies every plugin's state,
 * so it is taken at start and on lifecycle events only).
 */
export class PluginCatalog {
  private entries = new Map<string, CatalogEntry>();
  failed: PluginInfo[] = [];

  constructor(private readonly host: Host) {
    this.refresh();
  }

  refresh(): void {
    const entries = new Map<string, CatalogEntry>();
    const failed: PluginInfo[] = [];
    for (const info of this.host.plugins) {
      if (info.status === 'failed' || info.status === 'unloaded' || info.status === 'closed') {
        if (info.status === 'failed') failed.push(info);
        continue;
      }
      const names = new Set(info.exports.map((e) => e.name));
      let proxy: Record<string, Fn> | undefined;
      try {
        proxy = this.host.get<Record<string, Fn>>(info.name);
      } catch {
        continue;
      }
      entries.set(info.name, {
        info,
        onRequest: names.has('onRequest') ? proxy.onRequest : undefined,
        onResponse: names.has('onResponse') ? proxy.onResponse : undefined,
      });
    }
    this.entries = entries;
    this.failed = failed;
  }

  get(name: string): CatalogEntry | undefined {
    return this.entries.get(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }
}

const pluginAjv = new Ajv({ allErrors: true, verbose: true, strict: false, useDefaults: true });
const compiled = new Map<string, ValidateFunction | Error>();

function validatorFor(schema: unknown): ValidateFunction | Error {
  const key = JSON.stringify(schema);
  let v = compiled.get(key);
  if (!v) {
    try {
      v = pluginAjv.compile(schema as object);
    } catch (e) {
      v = e instanceof Error ? e : new Error(String(e));
    }
    compiled.set(key, v);
  }
  return v;
}

function headerList(decl: unknown, issues: string[]): string[] | undefined {
  if (decl === undefined || decl === null) return undefined;
  if (Array.isArray(decl) && decl.every((h) => typeof h === 'string' && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(h))) return decl.map((h: string) => h.toLowerCase());
  issues.push('the plugin declares an invalid meta.gateway.requestHeaders: expected a list of header names');
  return undefined;
}

function bodyLimit(decl: unknown, what: string, issues: string[]): number {
  if (decl === undefined || decl === false || decl === null) return 0;
  if (decl === true) return DEFAULT_BODY_BYTES;
  const max = (decl as { maxBytes?: unknown }).maxBytes;
  if (typeof max === 'number' && Number.isInteger(max) && max > 0 && max <= MAX_BODY_BYTES) return max;
  issues.push(`the plugin declares an invalid meta.gateway.${what}: maxBytes must be an integer from 1 to ${MAX_BODY_BYTES}`);
  return 0;
}

/** A configured middleware bound to its plugin, as the request path uses it. */
export class ActiveMiddleware {
  readonly name: string;
  readonly plugin: string;
  readonly failOpen: boolean;
  readonly stats: MiddlewareStats;
  /** The config with the plugin's schema defaults filled in. */
  config: unknown;
  onRequest: Fn | undefined;
  onResponse: Fn | undefined;
  /** Largest body (bytes) the plugin asked to see; 0: none. */
  requestBodyMax = 0;
  responseBodyMax = 0;
  /** Rate limit of this middleware's failure log lines (a failing plugin under load must not flood the log). */
  failureLog: LogLimiter | undefined;
  /** The request headers the plugin declared it reads (meta.gateway.requestHeaders); undefined: all. */
  requestHeaders: string[] | undefined;
  /** meta.gateway.repeatedHeaders: a repeated request header reaches the plugin as the list of its values. */
  repeatedHeaders = false;
  /** Why it cannot run (e.g. its plugin was unloaded, or its config no longer fits a new schema). */
  broken: { code: string; message: string } | undefined;
  /** A built-in (native) middleware: its ctx carries the exchange (see middlewares/types.ts). */
  native = false;
  /** Releases a built-in's timers when the configuration is replaced. */
  dispose: (() => void) | undefined;
  /**
   * The request-phase `ctx` of this middleware's plugin calls, made once and reused (exchange/request.ts
   * ctx): every call copies it into the sandbox, so one object serves every request of its router.
   */
  requestCtx: MiddlewareContext | undefined;

  constructor(
    readonly spec: ResolvedMiddleware,
    stats: GatewayStats,
  ) {
    this.name = spec.name;
    this.plugin = spec.plugin;
    this.failOpen = spec.failOpen;
    this.config = spec.config;
    this.stats = stats.middleware(spec.name, spec.plugin);
  }

  /**
   * Bind to the catalog's current plugin: check the config against its schema and read what it
   * exports. Returns the problems (empty when the middleware can run); `at` gives line numbers.
   */
  bind(catalog: PluginCatalog, where: Where, baseDir = process.cwd()): Issue[] {
    if (this.spec.builtin) return bindBuiltin(this, where, baseDir);
    const base = ['http', 'middlewares', this.name, 'plugin', this.plugin];
    const at = `http.middlewares.${this.name}.plugin.${this.plugin}`;
    const entry = catalog.get(this.plugin);
    if (!entry) {
      const failed = catalog.failed.find((p) => p.name === this.plugin || p.file.replace(/\.[^.]+$/, '') === this.plugin);
      const message = failed
        ? `plugin "${this.plugin}" failed to load: ${failed.error?.message ?? failed.status}`
        : `no plugin named "${this.plugin}" is loaded; loaded plugins: ${catalog.names().join(', ') || 'none'}`;
      this.broken = { code: failed ? 'ERR_PLUGIN_UNAVAILABLE' : 'ERR_NO_PLUGIN', message };
      return [{ ...where(base), path: at, message }];
    }
    const issues: Issue[] = [];
    const meta = entry.info.meta ?? {};
    const problems: string[] = [];
    const gw = (meta.gateway ?? {}) as GatewayMeta;
    const requestBodyMax = bodyLimit(gw.requestBody, 'requestBody', problems);
    const responseBodyMax = bodyLimit(gw.responseBody, 'responseBody', problems);
    const requestHeaders = headerList(gw.requestHeaders, problems);
    if (!entry.onRequest && !entry.onResponse) problems.push(`plugin "${this.plugin}" is not a middleware: it exports neither onRequest nor onResponse`);
    for (const p of problems) issues.push({ ...where(base), path: at, message: p });
    const config: unknown = structuredClone(this.spec.config);
    if (meta.configSchema !== undefined) {
      const validate = validatorFor(meta.configSchema);
      if (validate instanceof Error) {
        issues.push({ ...where(base), path: at, message: `the plugin's meta.configSchema is not a valid JSON schema: ${validate.message}` });
      } else if (!validate(config)) {
        issues.push(...schemaIssues(validate.errors ?? [], base, where));
      }
    }
    if (issues.length > 0) {
      this.broken = { code: 'ERR_CONFIG', message: issues.map((i) => `${i.path}: ${i.message}`).join('; ') };
      return issues;
    }
    this.config = config;
    this.onRequest = entry.onRequest;
    this.onResponse = entry.onResponse;
    this.requestBodyMax = requestBodyMax;
    this.responseBodyMax = responseBodyMax;
    this.requestHeaders = requestHeaders;
    this.repeatedHeaders = gw.repeatedHeaders === true;
    this.broken = undefined;
    return issues;
  }
}

/** The JSON body of a fail-closed answer: names the middleware and the code, never the plugin's message or stack. */
export function middlewareFailureBody(name: string, code: string): string {
  return JSON.stringify({ error: 'middleware failed', middleware: name, code });
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[\r\n\0]/;
const MANAGED = new Set(['content-length', 'transfer-encoding', 'connection']);

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** A mapping a plugin returned (an ambiguous empty table is the empty one, see binding/empty.ts). */
function asMapping(v: unknown, what: string): Record<string, unknown> | undefined {
  if (v === undefined || v === null || isEmptyTable(v)) return undefined;
  if (!isObject(v)) throw new MiddlewareResultError(`${what} must be an object`);
  return v;
}

/** Apply `setHeaders` / `removeHeaders` to a header object (names lower-cased, values checked). */
export function applyHeaderChanges(headers: Record<string, unknown>, set: unknown, remove: unknown, what: string): void {
  if (remove !== undefined && remove !== null) {
    const list = typeof remove === 'string' ? [remove] : remove;
    if (!Array.isArray(list)) throw new MiddlewareResultError(`${what}.removeHeaders must be a list of header names`);
    for (const name of list) {
      if (typeof name !== 'string') throw new MiddlewareResultError(`${what}.removeHeaders must be a list of header names`);
      const k = name.toLowerCase();
      if (MANAGED.has(k)) throw new MiddlewareResultError(`${what}.removeHeaders: ${k} is managed by the gateway`);
      delete headers[k];
    }
  }
  const map = asMapping(set, `${what}.setHeaders`);
  if (map) {
    for (const name in map) {
      const v = map[name];
      if (!TOKEN.test(name)) throw new MiddlewareResultError(`${what}.setHeaders: "${name}" is not a valid header name`);
      const k = name.toLowerCase();
      if (MANAGED.has(k)) throw new MiddlewareResultError(`${what}.setHeaders: ${k} is managed by the gateway`);
      headers[k] = headerValue(v, `${what}.setHeaders.${k}`);
    }
  }
}

function headerValue(v: unknown, what: string): string | string[] {
  if (typeof v === 'string') {
    if (BAD_VALUE.test(v)) throw new MiddlewareResultError(`${what} contains CR, LF or NUL`);
    return v;
  }
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && !BAD_VALUE.test(x))) return v as string[];
  throw new MiddlewareResultError(`${what} must be a string, a number or a list of strings`);
}

/** The headers of a `respond` or a new response, checked. */
export function headerObject(v: unknown, what: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const map = asMapping(v, what);
  if (map) {
    for (const name in map) {
      if (!TOKEN.test(name)) throw new MiddlewareResultError(`${what}: "${name}" is not a valid header name`);
      const k = name.toLowerCase();
      if (MANAGED.has(k)) continue;
      out[k] = headerValue(map[name], `${what}.${k}`);
    }
  }
  return out;
}

/** A status a plugin may answer with. */
export function statusOf(v: unknown, what: string, dflt: number): number {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 200 || v > 599) throw new MiddlewareResultError(`${what} must be an integer from 200 to 599`);
  return v;
}

/** A reason phrase for the status line: RFC 9112's `*( HTAB / SP / VCHAR / obs-text )`, at most 256 characters. */
export function reasonOf(v: unknown): string {
  if (typeof v !== 'string' || v.length > 256 || /[^\t\x20-\x7e\x80-\xff]/.test(v)) throw new MiddlewareResultError('reason must be a string of at most 256 characters without control characters');
  return v;
}

/**
 * A body a plugin returns, as bytes: text as UTF-8, bytes as they are, anything else as JSON
 * (then `json` is true so the caller can default the content-type).
 */
export function bodyBytes(v: unknown, what: string): { bytes: Buffer; json: boolean } {
  if (v === undefined || v === null) return { bytes: Buffer.alloc(0), json: false };
  if (typeof v === 'string') return { bytes: Buffer.from(v, 'utf8'), json: false };
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength), json: false };
  try {
    return { bytes: Buffer.from(JSON.stringify(v), 'utf8'), json: true };
  } catch {
    throw new MiddlewareResultError(`${what} must be a string, bytes or JSON data`);
  }
}

/** The keys `onRequest` may return, for the message about an unknown one. */
const REQUEST_KEYS = new Set(['setHeaders', 'removeHeaders', 'path', 'query', 'body', 'state', 'respond']);
const RESPONSE_KEYS = new Set(['status', 'reason', 'setHeaders', 'removeHeaders', 'body']);

/**
 * Check an onRequest result's shape. Returns the mapping, or undefined for "continue unchanged"
 * (undefined, null, {} and an ambiguous empty table such as Lua's `{}`).
 */
export function requestDecision(r: unknown): RequestDecision | undefined {
  if (r === undefined || r === null || isEmptyTable(r)) return undefined;
  if (!isObject(r)) throw new MiddlewareResultError('onRequest must return nothing or an object');
  for (const k in r) if (!REQUEST_KEYS.has(k)) throw new MiddlewareResultError(`onRequest returned an unknown key "${k}"${didYouMean(k, REQUEST_KEYS)}; expected: ${[...REQUEST_KEYS].join(', ')}`);
  return r as RequestDecision;
}

export function responseDecision(r: unknown): ResponseDecision | undefined {
  if (r === undefined || r === null || isEmptyTable(r)) return undefined;
  if (!isObject(r)) throw new MiddlewareResultError('onResponse must return nothing or an object');
  for (const k in r) if (!RESPONSE_KEYS.has(k)) throw new MiddlewareResultError(`onResponse returned an unknown key "${k}"${didYouMean(k, RESPONSE_KEYS)}; expected: ${[...RESPONSE_KEYS].join(', ')}`);
  return r as ResponseDecision;
}

/** A new path from a plugin: absolute, no query, no control characters. */
export function pathOf(v: unknown): string {
  if (typeof v !== 'string' || !v.startsWith('/') || /[?#\s\0]/.test(v)) throw new MiddlewareResultError('path must be a string starting with "/", without a query or spaces');
  return v;
}

/** A new query from a plugin: string (or number) values, or lists of them. */
export function queryOf(v: unknown): Record<string, string | string[]> {
  const map = asMapping(v, 'query') ?? {};
  const out: Record<string, string | string[]> = {};
  for (const k in map) {
    const x = map[k];
    if (typeof x === 'string') out[k] = x;
    else if (typeof x === 'number' || typeof x === 'boolean') out[k] = String(x);
    else if (Array.isArray(x) && x.every((y) => typeof y === 'string')) out[k] = x as string[];
    else throw new MiddlewareResultError(`query.${k} must be a string or a list of strings`);
  }
  return out;
}

/** State to keep for onResponse: any plain data; an ambiguous empty table counts as {}. */
export function stateOf(v: unknown): Record<string, unknown> {
  if (v === undefined || v === null || isEmptyTable(v)) return {};
  if (!isObject(v)) throw new MiddlewareResultError('state must be an object');
  return v;
}
