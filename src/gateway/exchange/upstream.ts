/**
 * An exchange's upstream phase: forwarding it to its service (load balancer, echo, or a WebSocket
 * tunnel), passing 1xx responses on, and taking the upstream's response or failure, then the
 * response phase (response.ts).
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { ECHO_MAX_BODY, echo } from '../services/echo.js';
import { upstreamHeaders, withoutHopByHop, type UpstreamFailure } from '../services/proxy.js';
import type { ProxyService } from './runtime.js';
import { proxyUpgrade } from '../services/websocket.js';
import { clientAddress } from '../routing/ipnet.js';
import { guard, hasBody, local, send } from './answer.js';
import { queryObject, readBody } from './input.js';
import { responsePhase } from './response.js';
import type { Exchange } from './state.js';

const HOP_BY_HOP_1XX = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'content-length']);

/** Send the request upstream (again: retry calls it after a failure, through Exchange.forward). */
export function forward(x: Exchange): void {
  if (x.aborted) return;
  const service = x.router.service;
  service.stats.requests++;
  const headers = upstreamHeaders(x.headers, clientAddress(x.req.socket.remoteAddress), x.originalHost, x.tls, x.upgrade !== undefined);
  if (x.upgrade && service.kind === 'loadBalancer' && service.lb.upgrade) {
    const { socket, head } = x.upgrade;
    x.upstream = proxyUpgrade({ upgrade: service.lb.upgrade.bind(service.lb) }, {
      method: x.req.method ?? 'GET',
      url: x.url(),
      headers,
      protocol: String(x.req.headers.upgrade ?? ''),
      client: socket,
      head,
      isAborted: () => x.aborted,
      failed: (f) => guard(x, () => upstreamFailed(x, service, f)),
      refused: (upRes) => guard(x, () => upstreamResponse(x, upRes)),
      switched: (status) => {
        x.upstream = undefined;
        x.switched = true;
        x.sent = true;
        x.res.statusCode = status;
        // The socket is a tunnel now: the response object lets go of it and counts as done.
        x.res.detachSocket(socket as Socket);
        x.env.tunnels.add(socket);
        socket.once('close', () => x.env.tunnels.delete(socket));
        x.res.emit('close');
      },
    });
    return;
  }
  if (service.kind === 'echo') {
    const reply = () => {
      const r = echo({
        method: x.req.method ?? 'GET',
        url: x.url(),
        path: x.path,
        query: { ...queryObject(x) },
        headers,
        body: x.body ? x.body.toString('utf8') : '',
      });
      x.status = r.status;
      x.resHeaders = r.headers;
      x.resBody = r.body;
      responsePhase(x, x.stop - 1);
    };
    if (x.body === undefined) readBody(x, ECHO_MAX_BODY, reply);
    else reply();
    return;
  }
  // A plugin that reads the response body needs it uncompressed.
  if (responseNeeds(x).bodyMax > 0) delete headers['accept-encoding'];
  const body = x.body ?? (hasBody(x.req) ? x.req : undefined);
  if (x.body !== undefined && x.body.length > 0) headers['content-length'] = String(x.body.length);
  else if (x.body !== undefined) delete headers['content-length'];
  const onInformation = (status: number, message: string, raw: string[]) => information(x, status, message, raw);
  x.upstream = service.lb.forward({ method: x.req.method ?? 'GET', url: x.url(), headers, body, onInformation }, (failure, upRes) =>
    guard(x, () => {
      x.upstream = undefined;
      if (failure) upstreamFailed(x, service, failure);
      else upstreamResponse(x, upRes!);
    }),
  );
}

/** Pass an informational response (103 Early Hints, 102...) on to the client, as a proxy must (RFC 9110 15.2). */
function information(x: Exchange, status: number, message: string, raw: string[]): void {
  if (x.aborted || x.sent || x.res.headersSent || x.upgrade) return;
  let head = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!;
    if (HOP_BY_HOP_1XX.has(k.toLowerCase())) continue;
    head += `${k}: ${raw[i + 1]}\r\n`;
  }
  // ServerResponse's own path for interim responses (writeEarlyHints uses it): keeps the order
  // with pipelined responses on the same connection.
  (x.res as unknown as { _writeRaw(data: string, encoding: string): void })._writeRaw(`${head}\r\n`, 'latin1');
}

function upstreamFailed(x: Exchange, service: ProxyService, f: UpstreamFailure): void {
  if (x.aborted) return;
  x.upstreamError = f;
  if (x.onUpstreamFailure?.(f)) return;
  service.stats.errors.set(f.kind, (service.stats.errors.get(f.kind) ?? 0) + 1);
  x.env.logger.warn({ service: service.name, router: x.router.name, kind: f.kind }, `upstream of service "${service.name}" failed: ${f.detail}`);
  local(x, f.status, { error: f.message, service: service.name });
  responsePhase(x, x.stop - 1);
}

function upstreamResponse(x: Exchange, upRes: IncomingMessage): void {
  if (x.aborted) {
    upRes.resume();
    return;
  }
  x.status = upRes.statusCode ?? 502;
  const headers = withoutHopByHop(upRes.headers);
  x.resHeaders = headers;
  x.upRes = upRes;
  // The upstream went away mid-body: the client must not wait for the rest.
  upRes.on('close', () => {
    if (!upRes.complete) x.res.destroy();
  });
  const { phase, bodyMax } = responseNeeds(x);
  if (!phase) {
    x.resStream = upRes;
    send(x);
    return;
  }
  const noBody = x.req.method === 'HEAD' || x.status === 204 || x.status === 304;
  const cl = headers['content-length'] === undefined ? -1 : Number(headers['content-length']);
  if (bodyMax === 0 || noBody || cl > bodyMax) {
    x.resStream = upRes;
    responsePhase(x, x.stop - 1);
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
      x.resPrefix = chunks;
      x.resStream = upRes;
      guard(x, () => responsePhase(x, x.stop - 1));
    }
  };
  const onEnd = () => {
    if (x.aborted) return;
    x.resBody = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
    guard(x, () => responsePhase(x, x.stop - 1));
  };
  upRes.on('data', onData);
  upRes.on('end', onEnd);
}

/**
 * Whether the middlewares before `stop` have a response phase, and the largest response body
 * they read: the router's figures (computed when its bindings change) for a whole chain.
 */
function responseNeeds(x: Exchange): { phase: boolean; bodyMax: number } {
  const r = x.router;
  if (x.stop === r.chain.length) return { phase: r.responsePhase, bodyMax: r.responseBodyMax };
  let phase = false;
  let bodyMax = 0;
  for (let i = 0; i < x.stop; i++) {
    const mw = r.chain[i]!;
    if (mw.onResponse || mw.broken) {
      phase = true;
      if (mw.onResponse && mw.responseBodyMax > bodyMax) bodyMax = mw.responseBodyMax;
    }
  }
  return { phase, bodyMax };
}
