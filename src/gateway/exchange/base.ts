/**
 * One request through the gateway, part 1: its state (plain fields on one object, so that the sync
 * path allocates little and never awaits), the request body, what plugins see of the request, the
 * versions pinned for it, failures of middlewares, the gateway's own answers and the write of the
 * response. exchange-upstream.ts forwards it; exchange.ts runs the middleware phases.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import querystring from 'node:querystring';
import type { Duplex, Readable } from 'node:stream';
import { GatewayError, PluginThrownError, TerrariumError } from '../../errors.js';
import type { Host } from '../../host/host.js';
import { LogLimiter } from '../../shared/log-limit.js';
import type { PluginPin } from '../../host/pin.js';
import type { Logger } from '../../types.js';
import { middlewareFailureBody, type ActiveMiddleware } from '../middleware/plugin.js';
import type { MiddlewareContext, MiddlewareRequest } from '../middleware/contract.js';
import type { UpstreamCall, UpstreamFailure } from '../services/proxy.js';
import type { Router } from './runtime.js';
import { clientAddress } from '../routing/ipnet.js';
import { envoyError, repeatedHeaders } from '../middleware/envoy/index.js';

/** What an exchange needs of the gateway that runs it. */
export interface ExchangeEnv {
  readonly logger: Logger;
  readonly host: Pick<Host, 'pin'>;
  /** The gateway is shutting down: responses close their connection. */
  readonly closing: boolean;
  /** Client sockets switched to another protocol (WebSocket): no longer the HTTP servers' to close. */
  readonly tunnels: Set<Duplex>;
  /** The gateway's own error answers are JSON (`errorFormat: json`) rather than Traefik's text. */
  readonly jsonErrors: boolean;
}

export const JSON_TYPE = 'application/json; charset=utf-8';
const EMPTY = Buffer.alloc(0);

export const TEXT_TYPE = 'text/plain; charset=utf-8';

/**
 * The bodies Traefik (Go's net/http) answers with: `http.NotFound` for no router, else
 * `http.StatusText`. Go's wording, where it differs from node's STATUS_CODES (413).
 */
const GO_STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  404: '404 page not found\n',
  413: 'Request Entity Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/**
 * The body and type of an error the gateway answers itself: Traefik's text, or JSON when
 * configured. `json` is a prepared JSON body that stays JSON either way: a plugin middleware's
 * failure (Terrarium's own answer, no Traefik counterpart) names the middleware and the code.
 */
export function errorBody(status: number, json: unknown, jsonErrors: boolean, text?: string): { type: string; body: string } {
  if (text !== undefined) return { type: JSON_TYPE, body: text };
  if (jsonErrors) return { type: JSON_TYPE, body: JSON.stringify(json) };
  // A malformed request keeps its reason (which escape, which header): the client can fix it.
  const reason = (json as { error?: unknown } | undefined)?.error;
  if (status === 400 && typeof reason === 'string') return { type: TEXT_TYPE, body: `400 Bad Request: ${reason}` };
  return { type: TEXT_TYPE, body: GO_STATUS_TEXT[status] ?? String(status) };
}

/** An error answer the gateway makes itself, outside any exchange (400, 404, 500). */
export function plainResponse(res: ServerResponse, status: number, json: unknown, closing: boolean, jsonErrors = true): void {
  const { type, body } = errorBody(status, json, jsonErrors);
  if (closing) res.shouldKeepAlive = false;
  // Go's http.Error sets nosniff on its text answers; Traefik's 404 and proxy errors carry it.
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...(jsonErrors ? {} : { 'x-content-type-options': 'nosniff' }) });
  res.end(body);
}

export function hasBody(req: IncomingMessage): boolean {
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
export abstract class ExchangeBase {
  // What the request looks like now (middlewares change it).
  path: string;
  rawQuery: string;
  query: Record<string, string | string[]> | undefined;
  urlChanged: boolean;
  /** The request headers as middlewares left them: `req.headers` itself until one changes them (ownHeaders). */
  headers: IncomingHttpHeaders;
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
  /** The upstream's response while its headers are the response's (repeatedHeaders reads its distinct values). */
  upRes: IncomingMessage | undefined;
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
    readonly env: ExchangeEnv,
    readonly router: Router,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    path: string,
    rawQuery: string,
    urlChanged: boolean,
    /** `req.headers`, or a copy (X-Forwarded-* of untrusted peers already removed). */
    headers: IncomingHttpHeaders,
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
   * The request headers, ours to change: `req.headers` is copied the first time (once per
   * request, whatever the number of middlewares that change them).
   */
  ownHeaders(): IncomingHttpHeaders {
    if (this.headers === this.req.headers) {
      this.headers = Object.assign({}, this.headers);
      if (this.pluginReq) this.pluginReq.headers = this.headers as Record<string, string | string[]>;
    }
    return this.headers;
  }

  /** Run onResponse from chain index i down to 0, then send (exchange.ts). */
  abstract responsePhase(i: number): void;

  /**
   * Run a continuation (promise callback, stream event) so that a bug of ours answers 500 instead
   * of becoming an unhandled rejection or exception that would take the process down.
   */
  guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.env.logger.error({ router: this.router.name, err: (e as Error)?.message }, `internal error: ${(e as Error)?.stack ?? String(e)}`);
      if (!this.res.headersSent && !this.sent) {
        this.sent = true;
        plainResponse(this.res, 500, { error: 'internal gateway error' }, this.env.closing, this.env.jsonErrors);
      } else this.res.destroy();
    }
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
        // `local` (the address:port the client connected to) is Envoy's downstreamLocalAddress (middleware/envoy).
        client: { address: clientAddress(socket.remoteAddress), port: socket.remotePort ?? 0, local: hostPort(clientAddress(socket.localAddress), socket.localPort ?? 0) },
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
    // meta.gateway.repeatedHeaders (Envoy filters): a repeated request header as its list of values, not node's joined string.
    if (mw.repeatedHeaders) {
      const h = repeatedHeaders(r.headers, this.req);
      if (h !== r.headers) r = { ...r, headers: h };
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
    return (pins[i] ??= this.env.host.pin(mw.plugin));
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

  /**
   * A middleware failed (thrown, timeout, memory, unavailable, bad result, or broken binding).
   * failOpen: skip it (returns false). Otherwise answer 502 naming it (returns true); in the
   * response phase that replaces the response, and the earlier middlewares still run.
   */
  failed(i: number, phase: 'request' | 'response', thrown: unknown): boolean {
    const mw = this.router.chain[i]!;
    // An Envoy filter's refusal of a handle method carries its own code (middleware/envoy/).
    const e = envoyError(thrown);
    const code = e === undefined ? (mw.broken?.code ?? new GatewayError('middleware binding lost').code) : errorCode(e);
    const stats = mw.stats;
    const key = `${phase} ${code}`;
    stats.errors.set(key, (stats.errors.get(key) ?? 0) + 1);
    if (code === 'ERR_PLUGIN_TIMEOUT') stats.timeouts[phase]++;
    const message = e === undefined ? (mw.broken?.message ?? '') : e instanceof Error ? e.message : String(e);
    const logger = this.env.logger;
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

  /** Replace the response with an error the gateway makes itself (Traefik's text, or JSON). */
  local(status: number, json: unknown, text?: string): void {
    this.dropUpstreamBody();
    this.upRes = undefined;
    this.status = status;
    const { type, body } = errorBody(status, json, this.env.jsonErrors, text);
    this.resHeaders = type === JSON_TYPE ? { 'content-type': type } : { 'content-type': type, 'x-content-type-options': 'nosniff' };
    this.resBody = Buffer.from(body, 'utf8');
  }

  protected dropUpstreamBody(): void {
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

  send(): void {
    if (this.aborted || this.sent) return;
    this.sent = true;
    const res = this.res;
    if (this.env.closing) res.shouldKeepAlive = false;
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
      this.env.logger.error({ router: this.router.name, err: (e as Error)?.message }, `could not send the response: ${(e as Error)?.message ?? String(e)}`);
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

/** `address:port`, an IPv6 address in brackets (Envoy's form of an address). */
function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
