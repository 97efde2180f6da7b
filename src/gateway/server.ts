/**
 * `createGateway`: the reverse proxy. Entry points (node:http servers) route each request with the
 * router table, run the router's middleware chain (sandboxed plugins) on the request, forward it
 * to the service, and run the chain in reverse on the response. The routing table is one
 * immutable object swapped atomically on reload, so a request in flight finishes with the table
 * it started with; plugin hot reload comes from the host's `watch`.
 *
 * The request path is written for the common case: sync plugin calls stay sync (no await, no
 * promise), bodies are read only when a plugin asked for them or the echo service needs them, and
 * responses nobody inspects are piped straight through.
 */
import http, { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import querystring from 'node:querystring';
import type { Duplex, Readable } from 'node:stream';
import { watch as watchFiles, type FSWatcher } from 'chokidar';
import { createHost, type Host, type HostOptions } from '../host/host.js';
import { ConfigError, GatewayError, MiddlewareResultError, PluginThrownError, TerrariumError } from '../errors.js';
import { LogLimiter } from '../host/log-limit.js';
import type { PluginPin } from '../host/pin.js';
import type { Logger } from '../types.js';
import { readConfig, sortIssues, type GatewayConfig, type Issue, type ListenAddress, type ResolvedConfig, type ResolvedRouter } from './config.js';
import type { MatchInput } from './rules.js';
import {
  ActiveMiddleware,
  PluginCatalog,
  applyHeaderChanges,
  bodyBytes,
  headerObject,
  middlewareFailureBody,
  pathOf,
  queryOf,
  requestDecision,
  responseDecision,
  stateOf,
  statusOf,
  type MiddlewareContext,
  type MiddlewareRequest,
} from './middleware.js';
import { AgentPool, upstreamHeaders, withoutHopByHop, type UpstreamCall, type UpstreamFailure } from './proxy.js';
import { ECHO_MAX_BODY, echo } from './echo.js';
import { openKv, type KvStore } from './kv.js';
import { GatewayStats, type RouterStats, type ServiceStats } from './metrics.js';
import { startAdmin, type AdminServer } from './admin.js';
import { inboundHeaders, trustsPeer } from './forwarded.js';
import { createEntryPointServer, listenOn as listenAt, type BoundAddress } from './listeners.js';
import { normalizePath } from './path.js';
import { parseTarget } from './target.js';
import { CertStore } from './tls.js';
import { proxyUpgrade } from './websocket.js';
import { dirname } from 'node:path';
import { disposeRuntime } from './runtime-dispose.js';
import { forwarderFactory, UnbuildableService, type Forwarder } from './services/index.js';
import type { RedisProvider } from './providers/redis.js';

/** Options of createGateway besides the configuration itself. */
export interface GatewayOptions {
  /** Access log, lifecycle and plugin output (pino-compatible). Default: discard. */
  logger?: Logger;
  /** Reload the config file when it changes (default: true when the config is a file path). */
  watchConfig?: boolean;
  /** How long close() waits for requests in flight before cutting their connections (default 10000 ms). */
  shutdownTimeoutMs?: number;
  /** Serve the config's admin address (default true; cluster workers leave it to the primary, see cluster.ts). */
  admin?: boolean;
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

const HOP_BY_HOP_1XX = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'content-length']);
const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const JSON_TYPE = 'application/json; charset=utf-8';
const EMPTY = Buffer.alloc(0);

interface EchoService {
  name: string;
  kind: 'echo';
  stats: ServiceStats;
}
interface ProxyService {
  name: string;
  kind: 'loadBalancer';
  /** A loadBalancer, weighted, mirroring or failover service (services/). */
  lb: Forwarder;
  stats: ServiceStats;
}
type Service = EchoService | ProxyService;

interface Router {
  name: string;
  spec: ResolvedRouter;
  match: ResolvedRouter['match'];
  chain: ActiveMiddleware[];
  service: Service;
  stats: RouterStats;
}

/** One routing table: built whole, checked, then swapped in at once. */
interface Runtime {
  config: ResolvedConfig;
  byEntryPoint: Map<string, Router[]>;
  routers: Router[];
  middlewares: Map<string, ActiveMiddleware>;
  services: Map<string, Service>;
}

/** The host routers match: lower-cased, without the port and without a trailing dot (`a.example.` is `a.example`). */
function hostOf(header: string | undefined): string {
  if (!header) return '';
  let h = header;
  if (h.charCodeAt(0) === 91 /* [ */) {
    const end = h.indexOf(']');
    h = end < 0 ? h : h.slice(0, end + 1);
  } else {
    const colon = h.indexOf(':');
    if (colon >= 0) h = h.slice(0, colon);
  }
  if (h.charCodeAt(h.length - 1) === 46 /* . */) h = h.slice(0, -1);
  return h.toLowerCase();
}

export { removeDotSegments } from './path.js';

function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  if (cl !== undefined) return cl !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

function errorCode(e: unknown): string {
  // A plugin that let host.kv's ERR_KV_UNAVAILABLE through: name the cause, not just "it threw".
  if (e instanceof PluginThrownError && (e.thrown as { code?: unknown } | null)?.code === 'ERR_KV_UNAVAILABLE') return 'ERR_KV_UNAVAILABLE';
  if (e instanceof TerrariumError) return e.code;
  return 'ERR_GATEWAY';
}

/**
 * One request through the gateway: request phase, upstream, response phase, write. Its state is
 * plain fields on one object, so that the sync path allocates little and never awaits.
 */
class Exchange {
  // What the request looks like now (middlewares change it).
  path: string;
  rawQuery: string;
  query: Record<string, string | string[]> | undefined;
  urlChanged: boolean;
  readonly headers: http.IncomingHttpHeaders;
  /** The Host header as the client sent it (for X-Forwarded-Host; middlewares may change `headers.host`). */
  readonly originalHost: string | undefined;
  body: Buffer | undefined;
  pluginReq: MiddlewareRequest | undefined;
  states: Record<string, unknown>[] | undefined;
  /** Per chain index: the plugin version this request runs (both phases on one version). */
  pins: (PluginPin | undefined)[] | undefined;
  /** Index of the middleware that answered or failed; the response phase runs the ones before it. */
  stop: number;
  aborted = false;
  upstream: UpstreamCall | undefined;
  // The response being built.
  status = 200;
  resHeaders: OutgoingHttpHeaders = {};
  resBody: Buffer | undefined;
  resStream: Readable | undefined;
  /** Chunks of resStream already read (a body too large to hand to plugins). */
  resPrefix: Buffer[] | undefined;
  sent = false;
  /** An Upgrade request (WebSocket): its raw socket and the bytes read past its headers. */
  upgrade: { socket: Duplex; head: Buffer } | undefined;
  /** The upstream switched protocols: the connection is a tunnel now. */
  switched = false;
  /** Built-in middlewares' view (middlewares/types.ts NativeExchange): the upstream failure, and a hook to take it over (retry). */
  upstreamError: UpstreamFailure | undefined;
  onUpstreamFailure: ((f: UpstreamFailure) => boolean) | undefined;

  constructor(
    readonly gw: GatewayImpl,
    readonly router: Router,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    path: string,
    rawQuery: string,
    urlChanged: boolean,
    /** Our own copy, which middlewares change (X-Forwarded-* of untrusted peers already removed). */
    headers: http.IncomingHttpHeaders,
    /** The authority requested: the Host header, or the authority of an absolute-form target. */
    host: string | undefined,
    /** The entry point terminates TLS. */
    readonly tls: boolean,
  ) {
    this.path = path;
    this.rawQuery = rawQuery;
    this.urlChanged = urlChanged;
    this.headers = headers;
    this.originalHost = host;
    this.stop = router.chain.length;
  }

  /**
   * Run a continuation (promise callback, stream event) so that a bug of ours answers 500 instead
   * of becoming an unhandled rejection or exception that would take the process down.
   */
  guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.gw.logger.error({ router: this.router.name, err: (e as Error)?.message }, `internal error: ${(e as Error)?.stack ?? String(e)}`);
      if (!this.res.headersSent && !this.sent) {
        this.sent = true;
        this.gw.plain(this.res, 500, { error: 'internal gateway error' });
      } else this.res.destroy();
    }
  }

  start(): void {
    const chain = this.router.chain;
    let limit = 0;
    for (let i = 0; i < chain.length; i++) {
      const max = chain[i]!.requestBodyMax;
      if (max > 0 && chain[i]!.onRequest && (limit === 0 || max < limit)) limit = max;
    }
    if (limit > 0) this.readBody(limit, () => this.requestPhase(0));
    else this.requestPhase(0);
  }

  /** Buffer the request body (up to `limit` bytes, else 413), then continue. */
  readBody(limit: number, then: () => void): void {
    if (!hasBody(this.req)) {
      this.body = EMPTY;
      then();
      return;
    }
    const cl = Number(this.req.headers['content-length']);
    if (cl > limit) {
      this.tooLarge(limit);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    this.req.on('data', (c: Buffer) => {
      if (over || this.aborted) return;
      size += c.length;
      if (size > limit) {
        over = true;
        this.tooLarge(limit);
        return;
      }
      chunks.push(c);
    });
    this.req.on('end', () => {
      if (over || this.aborted) return;
      this.body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      this.guard(then);
    });
  }

  private tooLarge(limit: number): void {
    // The rest of the body is not read: the connection cannot be reused.
    this.res.shouldKeepAlive = false;
    this.local(413, { error: 'request body too large', limit });
    this.send();
  }

  pluginRequest(mw: ActiveMiddleware): MiddlewareRequest {
    let r = this.pluginReq;
    if (!r) {
      const socket = this.req.socket;
      r = this.pluginReq = {
        method: this.req.method ?? 'GET',
        path: this.path,
        query: this.queryObject(),
        headers: this.headers as Record<string, string | string[]>,
        client: { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
      };
    }
    const only = mw.requestHeaders;
    if (only) {
      const headers: Record<string, string | string[]> = {};
      for (const h of only) {
        const v = this.headers[h];
        if (v !== undefined) headers[h] = v;
      }
      r = { method: r.method, path: r.path, query: r.query, headers, client: r.client };
    }
    if (mw.requestBodyMax > 0 && this.body !== undefined) return { ...r, body: this.body.toString('utf8') };
    return r;
  }

  queryObject(): Record<string, string | string[]> {
    if (!this.query) this.query = this.rawQuery ? (querystring.parse(this.rawQuery) as Record<string, string | string[]>) : {};
    return this.query;
  }

  /** The pin of middleware i's plugin for this request, taken at its first call. */
  pin(i: number, mw: ActiveMiddleware): PluginPin {
    const pins = (this.pins ??= []);
    return (pins[i] ??= this.gw.host.pin(mw.plugin));
  }

  /** Let the pinned versions go (the response is done or the client left). */
  release(): void {
    const pins = this.pins;
    if (!pins) return;
    this.pins = undefined;
    for (const p of pins) p?.release();
  }

  ctx(mw: ActiveMiddleware, state: Record<string, unknown>): MiddlewareContext {
    if (mw.native) return { config: mw.config, state, router: this.router.name, middleware: mw.name, exchange: this } as MiddlewareContext;
    return { config: mw.config, state, router: this.router.name, middleware: mw.name };
  }

  /** Run onRequest from chain index i; sync plugins stay on this stack, async ones continue in a callback. */
  requestPhase(i: number): void {
    const chain = this.router.chain;
    for (; i < chain.length; i++) {
      if (this.aborted) return;
      const mw = chain[i]!;
      if (mw.broken) {
        if (this.failed(i, 'request', undefined)) return;
        continue;
      }
      const fn = mw.onRequest;
      if (!fn) continue;
      const stats = mw.stats;
      stats.calls.request++;
      const t0 = performance.now();
      let r: unknown;
      try {
        if (mw.native) r = fn(this.pluginRequest(mw), this.ctx(mw, {})); // a built-in: no plugin version to pin
        else {
          const pin = this.pin(i, mw);
          r = pin.has('onRequest') ? pin.call('onRequest', [this.pluginRequest(mw), this.ctx(mw, {})]) : undefined;
        }
      } catch (e) {
        stats.duration.request.observe((performance.now() - t0) / 1000);
        if (this.failed(i, 'request', e)) return;
        continue;
      }
      if (r instanceof Promise) {
        const at = i;
        r.then(
          (v) =>
            this.guard(() => {
              stats.duration.request.observe((performance.now() - t0) / 1000);
              if (this.afterRequest(at, v)) this.requestPhase(at + 1);
            }),
          (e) =>
            this.guard(() => {
              stats.duration.request.observe((performance.now() - t0) / 1000);
              if (!this.failed(at, 'request', e)) this.requestPhase(at + 1);
            }),
        );
        return;
      }
      stats.duration.request.observe((performance.now() - t0) / 1000);
      if (!this.afterRequest(i, r)) return;
    }
    this.forward();
  }

  /** Apply an onRequest result. False when the request is answered (respond, or fail-closed). */
  afterRequest(i: number, r: unknown): boolean {
    if (this.aborted) return false;
    try {
      const d = requestDecision(r);
      if (!d) return true;
      if (d.respond !== undefined) {
        const resp = d.respond as unknown;
        if (resp === null || typeof resp !== 'object' || Array.isArray(resp)) throw new MiddlewareResultError('respond must be an object: { status, headers, body }');
        const { status, headers, body } = resp as { status?: unknown; headers?: unknown; body?: unknown };
        const hs = headerObject(headers, 'respond.headers');
        const b = bodyBytes(body, 'respond.body');
        if (b.json && hs['content-type'] === undefined) hs['content-type'] = JSON_TYPE;
        this.status = statusOf(status, 'respond.status', 200);
        this.resHeaders = hs;
        this.resBody = b.bytes;
        this.stop = i;
        this.router.chain[i]!.stats.responded++;
        this.responsePhase(i - 1);
        return false;
      }
      const mw = this.router.chain[i]!;
      if (d.setHeaders !== undefined || d.removeHeaders !== undefined) applyHeaderChanges(this.headers, d.setHeaders, d.removeHeaders, 'onRequest');
      if (d.path !== undefined) {
        this.path = pathOf(d.path);
        this.urlChanged = true;
        if (this.pluginReq) this.pluginReq.path = this.path;
      }
      if (d.query !== undefined) {
        this.query = queryOf(d.query);
        this.rawQuery = querystring.stringify(this.query);
        this.urlChanged = true;
        if (this.pluginReq) this.pluginReq.query = this.query;
      }
      if (d.body !== undefined) {
        if (mw.requestBodyMax === 0) throw new MiddlewareResultError('body: only plugins that declare meta.gateway.requestBody may replace the request body');
        this.body = bodyBytes(d.body, 'body').bytes;
      }
      if (d.state !== undefined) (this.states ??= [])[i] = stateOf(d.state);
      return true;
    } catch (e) {
      return !this.failed(i, 'request', e);
    }
  }

  /**
   * A middleware failed (thrown, timeout, memory, unavailable, bad result, or broken binding).
   * failOpen: skip it (returns false). Otherwise answer 502 naming it (returns true); in the
   * response phase that replaces the response, and the earlier middlewares still run.
   */
  failed(i: number, phase: 'request' | 'response', e: unknown): boolean {
    const mw = this.router.chain[i]!;
    const code = e === undefined ? (mw.broken?.code ?? new GatewayError('middleware binding lost').code) : errorCode(e);
    const stats = mw.stats;
    const key = `${phase} ${code}`;
    stats.errors.set(key, (stats.errors.get(key) ?? 0) + 1);
    if (code === 'ERR_PLUGIN_TIMEOUT') stats.timeouts[phase]++;
    const message = e === undefined ? (mw.broken?.message ?? '') : e instanceof Error ? e.message : String(e);
    const logger = this.gw.logger;
    mw.failureLog ??= new LogLimiter({ lines: 20, intervalMs: 1000 }, (dropped) =>
      logger.warn({ middleware: mw.name, plugin: mw.plugin, event: 'log-dropped', dropped }, `middleware "${mw.name}": ${dropped} more failures not logged (over 20 per second); see /metrics`),
    );
    if (mw.failureLog.allow())
      logger.warn(
      { middleware: mw.name, plugin: mw.plugin, router: this.router.name, phase, code, failOpen: mw.failOpen },
      `middleware "${mw.name}" failed in ${phase === 'request' ? 'onRequest' : 'onResponse'}${mw.failOpen ? ' (failOpen: skipped)' : ''}: ${message}`,
    );
    if (mw.failOpen) {
      stats.skipped++;
      return false;
    }
    this.local(502, undefined, middlewareFailureBody(mw.name, code));
    if (phase === 'request') {
      this.stop = i;
      this.responsePhase(i - 1);
    }
    return true;
  }

  /** Replace the response with one the gateway makes itself (JSON). */
  local(status: number, json: unknown, text?: string): void {
    this.dropUpstreamBody();
    this.status = status;
    this.resHeaders = { 'content-type': JSON_TYPE };
    this.resBody = Buffer.from(text ?? JSON.stringify(json), 'utf8');
  }

  private dropUpstreamBody(): void {
    if (this.resStream) {
      // Drained, not destroyed, so the keep-alive connection to the upstream can be reused.
      this.resStream.resume();
      this.resStream = undefined;
    }
    this.resPrefix = undefined;
  }

  url(): string {
    if (!this.urlChanged) return this.req.url ?? '/';
    return this.rawQuery ? `${this.path}?${this.rawQuery}` : this.path;
  }

  forward(): void {
    if (this.aborted) return;
    const service = this.router.service;
    service.stats.requests++;
    const headers = upstreamHeaders(this.headers, this.req.socket.remoteAddress ?? '', this.originalHost, this.tls, this.upgrade !== undefined);
    if (this.upgrade && service.kind === 'loadBalancer' && service.lb.upgrade) {
      const { socket, head } = this.upgrade;
      this.upstream = proxyUpgrade({ upgrade: service.lb.upgrade.bind(service.lb) }, {
        method: this.req.method ?? 'GET',
        url: this.url(),
        headers,
        protocol: String(this.req.headers.upgrade ?? ''),
        client: socket,
        head,
        isAborted: () => this.aborted,
        failed: (f) => this.guard(() => this.upstreamFailed(service, f)),
        refused: (upRes) => this.guard(() => this.upstreamResponse(upRes)),
        switched: (status) => {
          this.upstream = undefined;
          this.switched = true;
          this.sent = true;
          this.res.statusCode = status;
          // The socket is a tunnel now: the response object lets go of it and counts as done.
          this.res.detachSocket(socket as Socket);
          this.gw.tunnels.add(socket);
          socket.once('close', () => this.gw.tunnels.delete(socket));
          this.res.emit('close');
        },
      });
      return;
    }
    if (service.kind === 'echo') {
      const reply = () => {
        const r = echo({
          method: this.req.method ?? 'GET',
          url: this.url(),
          path: this.path,
          query: { ...this.queryObject() },
          headers,
          body: this.body ? this.body.toString('utf8') : '',
        });
        this.status = r.status;
        this.resHeaders = r.headers;
        this.resBody = r.body;
        this.responsePhase(this.stop - 1);
      };
      if (this.body === undefined) this.readBody(ECHO_MAX_BODY, reply);
      else reply();
      return;
    }
    let wantsBody = false;
    for (let i = 0; i < this.stop; i++) {
      const mw = this.router.chain[i]!;
      if (mw.onResponse && mw.responseBodyMax > 0) wantsBody = true;
    }
    // A plugin that reads the response body needs it uncompressed.
    if (wantsBody) delete headers['accept-encoding'];
    const body = this.body ?? (hasBody(this.req) ? this.req : undefined);
    if (this.body !== undefined && this.body.length > 0) headers['content-length'] = String(this.body.length);
    else if (this.body !== undefined) delete headers['content-length'];
    const onInformation = (status: number, message: string, raw: string[]) => this.information(status, message, raw);
    this.upstream = service.lb.forward({ method: this.req.method ?? 'GET', url: this.url(), headers, body, onInformation }, (failure, upRes) =>
      this.guard(() => {
        this.upstream = undefined;
        if (failure) this.upstreamFailed(service, failure);
        else this.upstreamResponse(upRes!);
      }),
    );
  }

  /** Pass an informational response (103 Early Hints, 102...) on to the client, as a proxy must (RFC 9110 15.2). */
  information(status: number, message: string, raw: string[]): void {
    if (this.aborted || this.sent || this.res.headersSent || this.upgrade) return;
    let head = `HTTP/1.1 ${status} ${message}\r\n`;
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!;
      if (HOP_BY_HOP_1XX.has(k.toLowerCase())) continue;
      head += `${k}: ${raw[i + 1]}\r\n`;
    }
    // ServerResponse's own path for interim responses (writeEarlyHints uses it): keeps the order
    // with pipelined responses on the same connection.
    (this.res as unknown as { _writeRaw(data: string, encoding: string): void })._writeRaw(`${head}\r\n`, 'latin1');
  }

  upstreamFailed(service: ProxyService, f: UpstreamFailure): void {
    if (this.aborted) return;
    this.upstreamError = f;
    if (this.onUpstreamFailure?.(f)) return;
    service.stats.errors.set(f.kind, (service.stats.errors.get(f.kind) ?? 0) + 1);
    this.gw.logger.warn({ service: service.name, router: this.router.name, kind: f.kind }, `upstream of service "${service.name}" failed: ${f.detail}`);
    this.local(f.status, { error: f.message, service: service.name });
    this.responsePhase(this.stop - 1);
  }

  upstreamResponse(upRes: IncomingMessage): void {
    if (this.aborted) {
      upRes.resume();
      return;
    }
    this.status = upRes.statusCode ?? 502;
    const headers = withoutHopByHop(upRes.headers);
    this.resHeaders = headers;
    // The upstream went away mid-body: the client must not wait for the rest.
    upRes.on('close', () => {
      if (!upRes.complete) this.res.destroy();
    });
    let phase = false;
    let bodyMax = 0;
    for (let i = 0; i < this.stop; i++) {
      const mw = this.router.chain[i]!;
      if (mw.onResponse || mw.broken) {
        phase = true;
        if (mw.onResponse && mw.responseBodyMax > bodyMax) bodyMax = mw.responseBodyMax;
      }
    }
    if (!phase) {
      this.resStream = upRes;
      this.send();
      return;
    }
    const noBody = this.req.method === 'HEAD' || this.status === 204 || this.status === 304;
    const cl = headers['content-length'] === undefined ? -1 : Number(headers['content-length']);
    if (bodyMax === 0 || noBody || cl > bodyMax) {
      this.resStream = upRes;
      this.responsePhase(this.stop - 1);
      return;
    }
    // Read the body for the plugins that asked, up to the largest maxBytes among them.
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      chunks.push(c);
      if (size > bodyMax) {
        // Too large to hand over: the plugins see no body, and what was read is sent first.
        upRes.off('data', onData);
        upRes.off('end', onEnd);
        upRes.pause();
        this.resPrefix = chunks;
        this.resStream = upRes;
        this.guard(() => this.responsePhase(this.stop - 1));
      }
    };
    const onEnd = () => {
      if (this.aborted) return;
      this.resBody = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      this.guard(() => this.responsePhase(this.stop - 1));
    };
    upRes.on('data', onData);
    upRes.on('end', onEnd);
  }

  /** Run onResponse from chain index i down to 0, then send. */
  responsePhase(i: number): void {
    const chain = this.router.chain;
    for (; i >= 0; i--) {
      if (this.aborted) return;
      const mw = chain[i]!;
      if (mw.broken) {
        this.failed(i, 'response', undefined);
        continue;
      }
      const fn = mw.onResponse;
      if (!fn) continue;
      const stats = mw.stats;
      stats.calls.response++;
      const res: { status: number; headers: OutgoingHttpHeaders; body?: string } = { status: this.status, headers: this.resHeaders };
      if (mw.responseBodyMax > 0 && this.resBody !== undefined && this.resBody.length <= mw.responseBodyMax) res.body = this.resBody.toString('utf8');
      const t0 = performance.now();
      let r: unknown;
      try {
        if (mw.native) r = fn(res, this.ctx(mw, this.states?.[i] ?? {}));
        else {
          const pin = this.pin(i, mw);
          r = pin.has('onResponse') ? pin.call('onResponse', [res, this.ctx(mw, this.states?.[i] ?? {})]) : undefined;
        }
      } catch (e) {
        stats.duration.response.observe((performance.now() - t0) / 1000);
        this.failed(i, 'response', e);
        continue;
      }
      if (r instanceof Promise) {
        const at = i;
        r.then(
          (v) =>
            this.guard(() => {
              stats.duration.response.observe((performance.now() - t0) / 1000);
              this.afterResponse(at, v);
              this.responsePhase(at - 1);
            }),
          (e) =>
            this.guard(() => {
              stats.duration.response.observe((performance.now() - t0) / 1000);
              this.failed(at, 'response', e);
              this.responsePhase(at - 1);
            }),
        );
        return;
      }
      stats.duration.response.observe((performance.now() - t0) / 1000);
      this.afterResponse(i, r);
    }
    this.send();
  }

  afterResponse(i: number, r: unknown): void {
    if (this.aborted) return;
    try {
      const d = responseDecision(r);
      if (!d) return;
      // Check everything before changing anything: a bad result leaves the response as it was.
      const status = d.status === undefined ? this.status : statusOf(d.status, 'status', this.status);
      const body = d.body === undefined ? undefined : bodyBytes(d.body, 'body');
      const headers = Object.assign({}, this.resHeaders); // not a spread: see the constructor
      if (d.setHeaders !== undefined || d.removeHeaders !== undefined) applyHeaderChanges(headers, d.setHeaders, d.removeHeaders, 'onResponse');
      if (body) {
        this.dropUpstreamBody();
        this.resBody = body.bytes;
        if (body.json && headers['content-type'] === undefined) headers['content-type'] = JSON_TYPE;
        delete headers['content-encoding'];
      }
      this.status = status;
      this.resHeaders = headers;
    } catch (e) {
      this.failed(i, 'response', e);
    }
  }

  send(): void {
    if (this.aborted || this.sent) return;
    this.sent = true;
    const res = this.res;
    if (this.gw.closing) res.shouldKeepAlive = false;
    const headers = this.resHeaders;
    try {
      if (this.resBody !== undefined) {
        delete headers['transfer-encoding'];
        if (this.req.method !== 'HEAD' || headers['content-length'] === undefined) headers['content-length'] = String(this.resBody.length);
        res.writeHead(this.status, headers);
        res.end(this.req.method === 'HEAD' ? undefined : this.resBody);
        return;
      }
      res.writeHead(this.status, headers);
      const stream = this.resStream;
      if (!stream) {
        res.end();
        return;
      }
      if (this.resPrefix) for (const c of this.resPrefix) res.write(c);
      stream.pipe(res);
      stream.resume();
    } catch (e) {
      this.gw.logger.error({ router: this.router.name, err: (e as Error)?.message }, `could not send the response: ${(e as Error)?.message ?? String(e)}`);
      res.destroy();
    }
  }

  /** The client went away before the response was complete: stop everything still running for it. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.upstream?.abort();
    this.upstream = undefined;
    this.resStream?.destroy();
  }
}

class GatewayImpl implements Gateway {
  runtime!: Runtime;
  closing = false;
  readonly stats = new GatewayStats();
  readonly agents = new AgentPool();
  readonly servers = new Map<string, http.Server>();
  readonly bound: Record<string, BoundAddress> = {};
  adminServer: AdminServer | undefined;
  certs: CertStore | undefined;
  /** Client sockets switched to another protocol (WebSocket): no longer the HTTP servers' to close. */
  readonly tunnels = new Set<Duplex>();
  /** Every entry point listens (until then, a failure is a failed start, not a stop). */
  started = false;
  catalog!: PluginCatalog;
  inFlight = 0;
  private drainWaiters: (() => void)[] = [];
  private readonly listeners = new Set<(e: ReloadEvent) => void>();
  private reloading: Promise<void> = Promise.resolve();
  private watcher: FSWatcher | undefined;
  private unsubscribe: (() => void)[] = [];
  private closed: Promise<void> | undefined;

  constructor(
    readonly source: string | GatewayConfig,
    readonly startConfig: ResolvedConfig,
    readonly host: Host,
    readonly kv: KvStore | undefined,
    readonly logger: Logger,
    readonly options: GatewayOptions,
  ) {}

  get entryPoints(): Readonly<Record<string, BoundAddress>> {
    return this.bound;
  }

  get admin(): BoundAddress | undefined {
    return this.adminServer?.address;
  }

  get config(): ResolvedConfig {
    return this.runtime.config;
  }

  /**
   * Build a routing table and bind its middlewares to the plugins. Throws ConfigError listing every
   * problem, `earlier` ones (from checkConfig) included.
   */
  build(config: ResolvedConfig, earlier: Issue[] = []): Runtime {
    const issues: Issue[] = [...earlier];
    const middlewares = new Map<string, ActiveMiddleware>();
    for (const spec of config.middlewares.values()) {
      const mw = new ActiveMiddleware(spec, this.stats);
      issues.push(...mw.bind(this.catalog, config.at, config.file ? dirname(config.file) : process.cwd()));
      middlewares.set(spec.name, mw);
    }
    const services = new Map<string, Service>();
    const forwarder = forwarderFactory(config.services, this.agents, this.logger);
    for (const s of config.services.values()) {
      const stats = this.stats.service(s.name);
      if (s.kind === 'echo') services.set(s.name, { name: s.name, kind: 'echo', stats });
      else {
        try {
          services.set(s.name, { name: s.name, kind: 'loadBalancer', lb: forwarder(s.name), stats });
        } catch (e) {
          if (!(e instanceof UnbuildableService)) throw e; // reported by checkConfig
        }
      }
    }
    // On reload, routers may only use the entry points that are listening (they change on restart only).
    const running = this.servers.size > 0 ? new Set(this.servers.keys()) : undefined;
    const routers: Router[] = [];
    const byEntryPoint = new Map<string, Router[]>();
    for (const spec of config.routers) {
      spec.entryPoints.forEach((ep, i) => {
        if (running && !running.has(ep) && config.entryPoints.has(ep)) {
          const segs = ['http', 'routers', spec.name, 'entryPoints', i];
          issues.push({ path: `http.routers.${spec.name}.entryPoints[${i}]`, message: `entry point "${ep}" is not running (entry points change only on restart)${config.at(segs)}` });
        }
      });
      const service = services.get(spec.service);
      if (!service) continue; // already reported by checkConfig
      const router: Router = {
        name: spec.name,
        spec,
        match: spec.match,
        chain: spec.middlewares.map((m) => middlewares.get(m)).filter((m): m is ActiveMiddleware => m !== undefined),
        service,
        stats: this.stats.router(spec.name),
      };
      routers.push(router);
      for (const ep of spec.entryPoints) {
        let list = byEntryPoint.get(ep);
        if (!list) byEntryPoint.set(ep, (list = []));
        list.push(router);
      }
    }
    if (issues.length > 0) {
      disposeRuntime({ middlewares, services });
      throw new ConfigError(config.file, sortIssues(issues));
    }
    return { config, byEntryPoint, routers, middlewares, services };
  }

  /** After a plugin is loaded, reloaded or unloaded: refresh what we know of it and re-check the middlewares that use it. */
  onPluginChange(plugin: string, event: string): void {
    this.catalog.refresh();
    for (const mw of this.runtime.middlewares.values()) {
      if (mw.plugin !== plugin || mw.spec.builtin) continue;
      const wasBroken = mw.broken;
      const issues = mw.bind(this.catalog, this.runtime.config.at);
      if (issues.length > 0) {
        this.logger.error(
          { middleware: mw.name, plugin, event, issues },
          `middleware "${mw.name}" cannot run after plugin "${plugin}" was ${event} (${mw.failOpen ? 'skipped, failOpen' : 'answering 502'}): ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
        );
      } else if (wasBroken) {
        this.logger.info({ middleware: mw.name, plugin, event }, `middleware "${mw.name}" runs again: plugin "${plugin}" was ${event}`);
      }
    }
  }

  handle(entryPoint: string, req: IncomingMessage, res: ServerResponse, upgrade?: { socket: Duplex; head: Buffer }): void {
    const t0 = performance.now();
    const rt = this.runtime;
    const ep = this.startConfig.entryPoints.get(entryPoint)!;
    this.inFlight++;
    this.stats.inFlight++;
    const url = req.url ?? '/';
    let exchange: Exchange | undefined;
    let stats: RouterStats | undefined;
    // Go's WriteTimeout: from the end of the request headers to the end of the response.
    const writeTimer = ep.writeTimeoutMs > 0 ? setTimeout(() => req.socket.destroy(), ep.writeTimeoutMs) : undefined;
    res.on('close', () => {
      if (writeTimer) clearTimeout(writeTimer);
      const finished = res.writableFinished || exchange?.switched === true;
      if (!finished) exchange?.abort();
      exchange?.release();
      this.inFlight--;
      this.stats.inFlight--;
      const code = finished ? res.statusCode : 499;
      const ms = performance.now() - t0;
      if (stats) {
        stats.requests++;
        stats.codes.set(code, (stats.codes.get(code) ?? 0) + 1);
        stats.duration.observe(ms / 1000);
      }
      if (rt.config.accessLog) {
        this.logger.info(
          {
            entryPoint,
            router: exchange?.router.name,
            method: req.method,
            path: url,
            status: code,
            ms: Math.round(ms * 100) / 100,
            client: req.socket.remoteAddress,
            ...(exchange && exchange.urlChanged ? { upstreamUrl: exchange.url() } : {}),
          },
          'access',
        );
      }
      if (this.inFlight === 0 && this.drainWaiters.length > 0) for (const w of this.drainWaiters.splice(0)) w();
    });
    const target = parseTarget(url, req.rawHeaders, req.httpVersion);
    if (target.error !== undefined) {
      res.shouldKeepAlive = false;
      this.plain(res, 400, { error: target.error });
      return;
    }
    // Traefik's request path handling: refuse ambiguous escapes, decode unreserved ones, remove
    // dot segments and merge slashes, so `/%61dmin` and `//admin` are routed as `/admin`.
    const normalized = normalizePath(target.path);
    if (normalized.refused !== undefined) {
      this.plain(res, 400, { error: normalized.refused });
      return;
    }
    const path = normalized.path;
    const urlChanged = target.absolute || path !== target.path;
    const peer = req.socket.remoteAddress ?? '';
    const headers = inboundHeaders(req.headers, trustsPeer(ep.forwarded, peer));
    // RFC 9112 3.2.2: the authority of an absolute-form target replaces the Host header.
    if (target.absolute) headers.host = target.host;
    const rawQuery = target.rawQuery;
    let parsedQuery: Record<string, string | string[]> | undefined;
    const input: MatchInput = {
      host: hostOf(target.host),
      path,
      method: req.method ?? 'GET',
      headers,
      query: () => (parsedQuery ??= querystring.parse(rawQuery) as Record<string, string | string[]>),
      clientIp: peer,
    };
    const routers = rt.byEntryPoint.get(entryPoint);
    let router: Router | undefined;
    if (routers) {
      for (let i = 0; i < routers.length; i++) {
        if (routers[i]!.match(input)) {
          router = routers[i];
          break;
        }
      }
    }
    if (!router) {
      stats = this.stats.router('(none)');
      this.plain(res, 404, { error: 'no router matches this request' });
      return;
    }
    stats = router.stats;
    exchange = new Exchange(this, router, req, res, path, rawQuery, urlChanged, headers, target.host, ep.tls);
    exchange.upgrade = upgrade;
    if (parsedQuery) exchange.query = parsedQuery;
    try {
      exchange.start();
    } catch (e) {
      // A bug of ours must not take the process down or leave the client hanging.
      this.logger.error({ router: router.name, err: (e as Error)?.message }, `internal error: ${(e as Error)?.stack ?? String(e)}`);
      if (!res.headersSent) this.plain(res, 500, { error: 'internal gateway error' });
      else res.destroy();
    }
  }

  /**
   * An Upgrade request (WebSocket): routed and run through the middlewares' onRequest like any
   * other, on a ServerResponse of its own socket so that a middleware's answer (or a 404, 502)
   * is written as usual; Exchange.forward then tunnels it to the upstream.
   */
  handleUpgrade(entryPoint: string, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const res = new http.ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.on('finish', () => socket.end());
    socket.on('error', () => socket.destroy());
    this.handle(entryPoint, req, res, { socket, head });
  }

  plain(res: ServerResponse, status: number, json: unknown): void {
    const body = JSON.stringify(json);
    if (this.closing) res.shouldKeepAlive = false;
    res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  async listen(): Promise<void> {
    const certs = this.startConfig.certificates.length > 0 ? (this.certs = new CertStore(this.startConfig.certificates, this.logger)) : undefined;
    for (const [name, ep] of this.startConfig.entryPoints) {
      const server = createEntryPointServer(ep, certs, {
        request: (req, res) => this.handle(name, req, res),
        upgrade: (req, socket, head) => this.handleUpgrade(name, req, socket, head),
      });
      this.servers.set(name, server);
      this.bound[name] = await listenAt(server, ep, `entryPoints.${name}`, this.startConfig.file, ep.tls);
    }
    if (this.startConfig.admin && this.options.admin !== false) {
      this.adminServer = await startAdmin(this, this.startConfig.admin, this.startConfig);
    }
    this.started = true;
    certs?.watch();
  }

  /** Watch the config files; resolves once the watcher is ready, so a change made after createGateway is seen. */
  watchConfig(file: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    // The static file and, with providers.file, the dynamic files or their directory.
    const w = watchFiles([file, ...(this.startConfig.watchPaths ?? [])], { ignoreInitial: true });
    w.on('all', (event) => {
      if (event !== 'change' && event !== 'add' && event !== 'unlink') return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        this.reloadFrom('file', file).catch(() => undefined);
      }, 100);
    });
    w.on('error', (err) => this.logger.warn({ file, err: (err as Error)?.message }, `watching the config file failed: ${(err as Error)?.message}`));
    this.watcher = w;
    this.unsubscribe.push(() => clearTimeout(timer));
    return new Promise<void>((resolve) => {
      w.once('ready', () => resolve());
      w.once('error', () => resolve());
    });
  }

  on(event: 'reload', listener: (e: ReloadEvent) => void): () => void {
    if (event !== 'reload') throw new TypeError(`unknown gateway event "${String(event)}"; expected "reload"`);
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  private emit(e: ReloadEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.logger.error({ err: (err as Error)?.message }, 'a reload listener threw');
      }
    }
  }

  reload(config?: string | GatewayConfig): Promise<void> {
    return this.reloadFrom('api', config ?? this.source);
  }

  /** The Redis provider saw a change: reload (a rejected change is logged with its keys; the running config stays). */
  reloadFromProvider(): Promise<void> {
    return this.reloadFrom('redis', this.source).catch(() => undefined);
  }

  /** The Redis provider, when `providers.redis` is configured (its routers/middlewares/services are laid over the file's). */
  provider: RedisProvider | undefined;

  private reloadFrom(source: 'file' | 'api' | 'redis', config: string | GatewayConfig): Promise<void> {
    const run = async () => {
      if (this.closing) return;
      let next: ResolvedConfig;
      let runtime: Runtime;
      try {
        const checked = await readConfig(config, this.provider?.overlay);
        next = checked.config;
        runtime = this.build(next, checked.issues);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        this.stats.reloads.failure++;
        this.logger.error({ file: e.file, issues: e.issues }, `configuration rejected, the running one is kept: ${e.message}`);
        this.emit({ ok: false, source, error: e });
        throw e;
      }
      const ignored = staticChanges(this.startConfig, next);
      if (ignored.length > 0) this.logger.warn({ ignored }, `configuration changes that need a restart were not applied: ${ignored.join(', ')}`);
      const previous = this.runtime;
      this.runtime = runtime;
      disposeRuntime(previous);
      this.stats.reloads.success++;
      this.logger.info({ routers: runtime.routers.length, middlewares: runtime.middlewares.size, services: runtime.services.size }, 'configuration reloaded');
      this.emit({ ok: true, source, ...(ignored.length ? { ignored } : {}) });
    };
    const p = this.reloading.then(run, run);
    this.reloading = p.catch(() => undefined);
    return p;
  }

  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    for (const u of this.unsubscribe) u();
    await this.watcher?.close().catch(() => undefined);
    const closedServers = [...this.servers.values()].map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    // Idle keep-alive connections are closed now; busy ones get `connection: close` on their response.
    for (const s of this.servers.values()) s.closeIdleConnections();
    if (this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.drainWaiters.push(resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            this.logger.warn({ inFlight: this.inFlight }, 'shutdown timeout: closing connections with requests in flight');
            resolve();
          }, this.options.shutdownTimeoutMs ?? 10_000);
        }),
      ]);
      clearTimeout(timer);
    }
    for (const s of this.servers.values()) s.closeAllConnections();
    for (const t of this.tunnels) t.destroy();
    await Promise.all(closedServers);
    await this.adminServer?.close();
    await this.certs?.close();
    this.agents.destroy();
    // Report failure lines still held back by the rate limit.
    // No runtime when the configuration was refused at start: the kv and the host are still closed.
    if (this.runtime) {
      for (const mw of this.runtime.middlewares.values()) mw.failureLog?.close();
      disposeRuntime(this.runtime);
    }
    await this.provider?.close();
    await this.host.close();
    this.kv?.dispose();
    if (this.started) this.logger.info({}, 'gateway stopped');
  }

  /** The exports a new version of `plugin` must keep: the phases its bound middlewares call (host reload.requiredExports). */
  requiredExports(plugin: string): string[] {
    const out = new Set<string>();
    for (const mw of this.runtime?.middlewares.values() ?? []) {
      if (mw.plugin !== plugin || mw.broken || mw.spec.builtin) continue;
      if (mw.onRequest) out.add('onRequest');
      if (mw.onResponse) out.add('onResponse');
    }
    return [...out];
  }

  /** Subscribe to the host's lifecycle events (plugin hot reload). */
  followPlugins(): void {
    for (const event of ['loaded', 'reloaded', 'unloaded'] as const) {
      this.unsubscribe.push(this.host.on(event, (e) => this.onPluginChange(e.plugin, event)));
    }
  }
}

/** What differs in the parts of the config that only apply at start. */
function staticChanges(running: ResolvedConfig, next: ResolvedConfig): string[] {
  const out: string[] = [];
  const eps = (c: ResolvedConfig) => JSON.stringify([...c.entryPoints].map(([n, a]) => [n, a.text, a.signature]));
  if (eps(running) !== eps(next)) out.push('entryPoints');
  if (running.admin?.text !== next.admin?.text) out.push('admin');
  if (JSON.stringify(running.certificates) !== JSON.stringify(next.certificates)) out.push('tls.certificates');
  if (JSON.stringify(running.plugins) !== JSON.stringify(next.plugins)) out.push('plugins');
  if (JSON.stringify(running.watchPaths ?? []) !== JSON.stringify(next.watchPaths ?? [])) out.push('providers.file (what is watched)');
  if (JSON.stringify(running.redisProvider) !== JSON.stringify(next.redisProvider)) out.push('providers.redis');
  return out;
}

/** Listen with the admin server's or an entry point's address (a ListenError when it cannot). */
function listenOn(server: http.Server, addr: ListenAddress, what: string, config: ResolvedConfig): Promise<BoundAddress> {
  return listenAt(server, addr, what, config.file);
}

export { listenOn };

/**
 * Start a gateway from a YAML file path or a config object: load the plugins, check the whole
 * configuration (a ConfigError lists every problem, with its path and line), listen on every
 * entry point and the admin address.
 * @example
 * await using gw = await createGateway('scripts-examples/gateway.yaml', { logger: pino() })
 * console.log(gw.entryPoints.web.url) // http://127.0.0.1:8080
 */
export async function createGateway(config: string | GatewayConfig, options: GatewayOptions = {}): Promise<Gateway> {
  const logger = options.logger ?? silentLogger;
  // Problems past the schema are reported together with the middleware checks, which need the plugins.
  const { config: resolved, issues } = await readConfig(config);
  const kv = resolved.plugins.kv ? await openKv(resolved.plugins.kv, logger) : undefined;
  const hostOptions: HostOptions = {
    dir: resolved.plugins.dir,
    logger,
    ...(kv ? { capabilities: kv.capability } : {}),
    ...(resolved.plugins.limits ? { limits: resolved.plugins.limits } : {}),
    ...(resolved.plugins.pluginLimits ? { pluginLimits: resolved.plugins.pluginLimits } : {}),
    ...(resolved.plugins.watch !== undefined ? { watch: resolved.plugins.watch } : {}),
    ...(resolved.plugins.trust ? { trust: resolved.plugins.trust } : {}),
    // A new version must keep the phases the bound middlewares call (ERR_EXPORTS_REMOVED otherwise).
    reload: { requiredExports: (plugin) => gwRef?.requiredExports(plugin) ?? [] },
  };
  let gwRef: GatewayImpl | undefined;
  let host: Host;
  try {
    host = await createHost(hostOptions);
  } catch (e) {
    kv?.dispose();
    if (e instanceof TerrariumError && e.code === 'ERR_OPTIONS') {
      throw new ConfigError(resolved.file, sortIssues([...issues, { path: 'plugins', message: e.message.replace(/^ERR_OPTIONS: /, '') }]));
    }
    throw e;
  }
  const gw = new GatewayImpl(config, resolved, host, kv, logger, options);
  gwRef = gw;
  try {
    gw.catalog = new PluginCatalog(host);
    gw.runtime = await firstRuntime(gw, config, resolved, issues);
    gw.followPlugins();
    // Standbys built before the first request: the request after a limit violation is served.
    await host.ready();
    await gw.listen();
  } catch (e) {
    await gw.close().catch(() => undefined);
    throw e;
  }
  if (typeof config === 'string' && options.watchConfig !== false) await gw.watchConfig(resolved.file!);
  logger.info(
    { entryPoints: gw.bound, admin: gw.admin?.url, routers: gw.runtime.routers.map((r) => r.name), plugins: gw.catalog.names() },
    `gateway listening on ${Object.entries(gw.bound).map(([n, a]) => `${n} ${a.url}`).join(', ')}${gw.admin ? `; admin ${gw.admin.url}` : ''}`,
  );
  return gw;
}

/**
 * The routing table to start with. With a Redis provider, the file plus what Redis holds; if that
 * is invalid the file alone serves (the bad keys are logged), as a bad change would on reload.
 */
async function firstRuntime(gw: GatewayImpl, config: string | GatewayConfig, resolved: ResolvedConfig, issues: Issue[]): Promise<Runtime> {
  if (!resolved.redisProvider) return gw.build(resolved, issues);
  // Loaded only when configured: a gateway without Redis never loads ioredis.
  const { startRedisProvider } = await import('./providers/redis.js');
  const provider = await startRedisProvider(resolved.redisProvider, gw.logger);
  gw.provider = provider;
  provider.onChange(() => void gw.reloadFromProvider());
  try {
    // The file may rely on what Redis defines (a service its routers use): check them together first.
    const checked = await readConfig(config, provider.overlay);
    return gw.build(checked.config, checked.issues);
  } catch (e) {
    if (!(e instanceof ConfigError) || provider.keys === 0) throw e;
    gw.logger.error({ provider: 'redis', issues: e.issues }, `provider redis: the configuration in Redis is rejected, trying the file's alone: ${e.message}`);
    return gw.build(resolved, issues);
  }
}

export type { GatewayImpl };
