/**
 * One request's state: one plain object (so that the sync path allocates little and never
 * awaits), and the entry points of its phases, which are functions of this state handed to it
 * when it is made (exchange.ts composes them; no phase module imports another's state class).
 * Built-in middlewares see this object as their `ctx.exchange` (builtin/types.ts NativeExchange).
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import type { PluginPin } from '../../host/pin.js';
import type { MiddlewareRequest } from '../middleware/contract.js';
import type { NativeExchange } from '../middleware/builtin/types.js';
import type { UpstreamCall, UpstreamFailure } from '../services/proxy.js';
import type { Router } from './runtime.js';
import type { Host } from '../../host/host.js';
import type { Logger } from '../../types.js';

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

/** The phases an exchange runs, as functions of its state (exchange.ts PHASES). */
export interface Phases {
  start(x: Exchange): void;
  forward(x: Exchange): void;
}

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
  /** A reason phrase a middleware set for the status line (HTTP/1.1 only). */
  reason: string | undefined;
  resHeaders: OutgoingHttpHeaders = {};
  resBody: Buffer | undefined;
  resStream: Readable | undefined;
  /** Chunks of resStream already read (a body too large to hand to plugins). */
  resPrefix: Buffer[] | undefined;
  /** The upstream's response while its headers are the response's (repeatedHeaders reads its distinct values). */
  upRes: IncomingMessage | undefined;
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
    private readonly phases: Phases,
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
    this.phases.start(this);
  }

  /** Send the request upstream (again: retry calls it after a failure). */
  forward(): void {
    this.phases.forward(this);
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
}
