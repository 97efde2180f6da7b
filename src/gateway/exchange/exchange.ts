/**
 * One request through the gateway: its state, one plain object (so that the sync path allocates
 * little and never awaits), and the entry points of its phases. The phases are functions of that
 * state, one file each, composed here rather than stacked as classes (issue 22):
 *   request.ts   onRequest from the first middleware to the last (what plugins see, pins, ctx);
 *   upstream.ts  forwarding to the service, 1xx, the upstream's response or failure;
 *   response.ts  onResponse from the last middleware that ran down to the first;
 *   answer.ts    the gateway's own answers, middleware failures and the write of the response.
 * Built-in middlewares see this object as their `ctx.exchange` (builtin/types.ts NativeExchange).
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import type { PluginPin } from '../../host/pin.js';
import type { MiddlewareRequest } from '../middleware/contract.js';
import type { NativeExchange } from '../middleware/builtin/types.js';
import type { UpstreamCall, UpstreamFailure } from '../services/proxy.js';
import type { Router } from './runtime.js';
import { guard, type ExchangeEnv } from './answer.js';
import { forward } from './upstream.js';
import { startRequest } from './request.js';

export type { ExchangeEnv } from './answer.js';

export class Exchange implements NativeExchange {
  // What the request looks like now (middlewares change it).
  path: string;
  rawQuery: string;
  query: Record<string, string | string[]> | undefined;
  urlChanged: boolean;
  /** The request headers as middlewares left them: `req.headers` itself until one changes them (request.ts ownHeaders). */
  headers: IncomingHttpHeaders;
  /** The Host header as the client sent it (for X-Forwarded-Host; middlewares may change `headers.host`). */
  readonly originalHost: string | undefined;
  body: Buffer | undefined;
  /** What plugins see of the request, built at the first plugin call and kept up to date by the later ones' changes. */
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
  /** Built-in middlewares' view (NativeExchange): the upstream failure, and a hook to take it over (retry). */
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

  /** Run the request: its body first when a middleware reads it, then the middlewares, the upstream, the response. */
  start(): void {
    startRequest(this);
  }

  /** Send the request upstream (again: retry calls it after a failure). */
  forward(): void {
    forward(this);
  }

  /** Path and query as they will be sent upstream (after the middlewares' rewrites). */
  url(): string {
    if (!this.urlChanged) return this.req.url ?? '/';
    return this.rawQuery ? `${this.path}?${this.rawQuery}` : this.path;
  }

  /** Let the pinned versions go (the response is done or the client left). */
  release(): void {
    const pins = this.pins;
    if (!pins) return;
    this.pins = undefined;
    for (const p of pins) p?.release();
  }

  /** The client went away before the response was complete: stop everything still running for it. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.upstream?.abort();
    this.upstream = undefined;
    this.resStream?.destroy();
  }

  /** Run a continuation so that a bug of ours answers 500 (answer.ts guard). */
  guard(fn: () => void): void {
    guard(this, fn);
  }
}
