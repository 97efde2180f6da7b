/**
 * One request through the gateway, part 2: forwarding it to its service (load balancer, echo, or a
 * WebSocket tunnel), passing 1xx responses on, and taking the upstream's response or failure.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { ECHO_MAX_BODY, echo } from '../services/echo.js';
import { upstreamHeaders, withoutHopByHop, type UpstreamFailure } from '../services/proxy.js';
import type { ProxyService } from './runtime.js';
import { proxyUpgrade } from '../services/websocket.js';
import { ExchangeBase, hasBody } from './base.js';
import { clientAddress } from '../routing/ipnet.js';

const HOP_BY_HOP_1XX = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'content-length']);

export abstract class UpstreamExchange extends ExchangeBase {
  forward(): void {
    if (this.aborted) return;
    const service = this.router.service;
    service.stats.requests++;
    const headers = upstreamHeaders(this.headers, clientAddress(this.req.socket.remoteAddress), this.originalHost, this.tls, this.upgrade !== undefined);
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
          this.env.tunnels.add(socket);
          socket.once('close', () => this.env.tunnels.delete(socket));
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
    // A plugin that reads the response body needs it uncompressed.
    if (this.responseNeeds().bodyMax > 0) delete headers['accept-encoding'];
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
    this.env.logger.warn({ service: service.name, router: this.router.name, kind: f.kind }, `upstream of service "${service.name}" failed: ${f.detail}`);
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
    this.upRes = upRes;
    // The upstream went away mid-body: the client must not wait for the rest.
    upRes.on('close', () => {
      if (!upRes.complete) this.res.destroy();
    });
    const { phase, bodyMax } = this.responseNeeds();
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

  /**
   * Whether the middlewares before `stop` have a response phase, and the largest response body
   * they read: the router's figures (computed when its bindings change) for a whole chain.
   */
  private responseNeeds(): { phase: boolean; bodyMax: number } {
    const r = this.router;
    if (this.stop === r.chain.length) return { phase: r.responsePhase, bodyMax: r.responseBodyMax };
    let phase = false;
    let bodyMax = 0;
    for (let i = 0; i < this.stop; i++) {
      const mw = r.chain[i]!;
      if (mw.onResponse || mw.broken) {
        phase = true;
        if (mw.onResponse && mw.responseBodyMax > bodyMax) bodyMax = mw.responseBodyMax;
      }
    }
    return { phase, bodyMax };
  }
}
