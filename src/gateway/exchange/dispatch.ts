/**
 * Where a request enters the gateway: the request target and Host are checked (RFC 9112 3.2), the
 * path normalized as Traefik does, X-Forwarded-* of untrusted peers dropped, a router chosen from
 * the current routing table, and an Exchange started; when the response closes, the counters,
 * the access log line and the requests-in-flight count (for a graceful close) are updated.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { ReplayRecorder } from '../stats/recorder.js';
import type { Socket } from 'node:net';
import querystring from 'node:querystring';
import type { Duplex } from 'node:stream';
import type { Host } from '../../host/host.js';
import type { Logger } from '../../types.js';
import type { ListenAddress } from '../config/model.js';
import type { EntryPointOptions } from '../config/entrypoint.js';
import { newExchange, type Exchange } from './exchange.js';
import { plainResponse, type ExchangeEnv } from './answer.js';
import { inboundHeaders, trustsPeer } from '../routing/forwarded.js';
import type { GatewayStats, RouterStats } from '../stats/stats.js';
import { normalizePath, routingPath } from '../routing/path.js';
import { clientAddress } from '../routing/ipnet.js';
import { AccessLogWriter } from './access-log.js';
import type { ResolvedAccessLog } from '../config/model.js';
import type { MatchInput } from '../routing/rules.js';
import type { Router, Runtime } from './runtime.js';
import { parseTarget } from '../routing/target.js';

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

/** Routes the requests of every entry point with the routing table in force, and counts them. */
export class Dispatcher implements ExchangeEnv {
  /** The routing table in force; replaced whole on reload. */
  runtime!: Runtime;
  closing = false;
  readonly tunnels = new Set<Duplex>();
  private inFlight = 0;
  /** The replay recorder (config `replay`), when on: offered each routed request, writes off the request path. */
  recorder: ReplayRecorder | undefined;
  private drainWaiters: (() => void)[] = [];

  constructor(
    readonly host: Host,
    readonly logger: Logger,
    readonly stats: GatewayStats,
    private readonly entryPoints: ReadonlyMap<string, ListenAddress & EntryPointOptions>,
  ) {}

  private access: AccessLogWriter | undefined;

  /** The access log writer of a configuration's accessLog section (a reload with a new section gets a new one). */
  private accessLog(spec: ResolvedAccessLog): AccessLogWriter {
    if (this.access?.spec !== spec) {
      void this.access?.close();
      this.access = new AccessLogWriter(spec, this.logger);
    }
    return this.access;
  }

  /** Close the access log file, if any (the gateway is stopping). */
  async closeAccessLog(): Promise<void> {
    const a = this.access;
    this.access = undefined;
    await a?.close();
  }

  /** Requests whose response has not closed yet. */
  get pending(): number {
    return this.inFlight;
  }

  /** Resolves when no request is in flight. */
  drained(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  handle(entryPoint: string, req: IncomingMessage, res: ServerResponse, upgrade?: { socket: Duplex; head: Buffer }): void {
    const t0 = performance.now();
    const rt = this.runtime;
    const ep = this.entryPoints.get(entryPoint)!;
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
      this.stats.traefik?.record(entryPoint, exchange?.router.name, exchange?.router.service.name, req.method ?? 'GET', req.headers, code, ms / 1000);
      const spec = rt.config.accessLogSpec;
      if (spec) {
        const remote = clientAddress(req.socket.remoteAddress);
        this.accessLog(spec).write({
          start: new Date(Date.now() - ms),
          durationMs: ms,
          entryPoint,
          router: exchange?.router.name,
          service: exchange?.router.service.name,
          method: req.method ?? 'GET',
          path: url,
          protocol: `HTTP/${req.httpVersion}`,
          scheme: ep.tls ? 'https' : 'http',
          host: String(req.headers.host ?? ''),
          clientHost: remote,
          clientPort: req.socket.remotePort ?? 0,
          status: code,
          contentSize: Number(res.getHeader('content-length') ?? 0),
          username: undefined,
          headers: req.headers,
        });
      } else if (rt.config.accessLog) {
        this.logger.info(
          {
            entryPoint,
            router: exchange?.router.name,
            method: req.method,
            path: url,
            status: code,
            ms: Math.round(ms * 100) / 100,
            client: clientAddress(req.socket.remoteAddress),
            ...(exchange && exchange.urlChanged ? { upstreamUrl: exchange.url() } : {}),
          },
          'access',
        );
      }
      if (this.inFlight === 0 && this.drainWaiters.length > 0) for (const w of this.drainWaiters.splice(0)) w();
    });
    const target = parseTarget(url, req.rawHeaders, req.httpVersion, req.method);
    if (target.error !== undefined) {
      res.shouldKeepAlive = false;
      this.plain(res, 400, { error: target.error });
      return;
    }
    if (target.asterisk) {
      // `OPTIONS *` asks about the gateway itself, not a resource: it answers, as Traefik does
      // (Go's http.Server answers it before any router: 200, no body), and nothing is forwarded.
      if (this.closing) res.shouldKeepAlive = false;
      res.writeHead(200, { 'content-length': 0 });
      res.end();
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
    const peer = clientAddress(req.socket.remoteAddress);
    let headers = inboundHeaders(req.headers, trustsPeer(ep.forwarded, peer));
    // RFC 9112 3.2.2: the authority of an absolute-form target replaces the Host header.
    if (target.absolute) {
      if (headers === req.headers) headers = Object.assign({}, headers);
      headers.host = target.host;
    }
    const rawQuery = target.rawQuery;
    let parsedQuery: Record<string, string | string[]> | undefined;
    const input: MatchInput = {
      host: hostOf(target.host),
      // Rules see the path with the escapes that change no meaning decoded (Traefik's routing path).
      path: routingPath(path),
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
    this.recorder?.offer(router.name, req.method ?? 'GET', path, (parsedQuery ??= querystring.parse(rawQuery) as Record<string, string | string[]>), headers, { address: peer, port: req.socket.remotePort ?? 0 });
    exchange = newExchange(this, router, req, res, path, rawQuery, urlChanged, headers, target.host, ep.tls);
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

  get jsonErrors(): boolean {
    return this.runtime.config.errorFormat === 'json';
  }

  plain(res: ServerResponse, status: number, json: unknown): void {
    plainResponse(res, status, json, this.closing, this.jsonErrors);
  }
}
