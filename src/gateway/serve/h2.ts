/**
 * HTTP/2 on TLS entry points: the https server negotiates ALPN (h2, http/1.1 by default, the
 * entry point's tls.options alpnProtocols, and acme-tls/1 while a TLS challenge runs); an h2
 * connection is handed to a node:http2 server of its own, an http/1.1 one stays on the https
 * server with all its behaviour (timeouts, 400/408/431 answers, upgrades). Requests arrive at the
 * same handler as HTTP/1.1 ones, adapted: pseudo-headers removed, `:authority` as Host.
 */
import http2 from 'node:http2';
import type http from 'node:http';
import type { Socket } from 'node:net';
import type https from 'node:https';
import type tls from 'node:tls';
import { OFFERS_ACME_TLS } from './certs.js';

/** What a TLS entry point needs for h2: the ALPN choice and the http2 server the h2 connections go to. */
export interface H2Side {
  /** Close every h2 session (gracefully, then at once after `closeAll`). */
  close(): void;
  closeAll(): void;
}

/** Make an HTTP/2 request look like the HTTP/1.1 one the dispatcher expects (in place). */
export function adaptH2Request(req: http2.Http2ServerRequest): void {
  // A copy: node's url and method getters read the pseudo-headers of the original.
  const src = req.headers as Record<string, string | string[] | undefined>;
  const h: Record<string, string | string[] | undefined> = {};
  for (const k of Object.keys(src)) if (k.charCodeAt(0) !== 58 /* : */) h[k] = src[k];
  const authority = src[':authority'];
  if (h.host === undefined && typeof authority === 'string') h.host = authority;
  // An h2 request body needs no content-length (DATA frames until END_STREAM); HTTP/1.1's way to
  // say "a body of unknown length" is chunked, which is what the exchange and the upstream request read.
  if (h['content-length'] === undefined && !req.stream.endAfterHeaders) h['transfer-encoding'] = 'chunked';
  Object.defineProperty(req, 'headers', { value: h, configurable: true, writable: true });
  const raw: string[] = [];
  for (const [k, v] of Object.entries(h)) {
    if (Array.isArray(v)) for (const x of v) raw.push(k, x);
    else if (v !== undefined) raw.push(k, v);
  }
  // HTTP/2 has no Host header of its own: the rest of the gateway (Host checks, rules) sees :authority as one.
  Object.defineProperty(req, 'rawHeaders', { value: raw, configurable: true });
}

/**
 * Give `server` (https) HTTP/2: ALPN by `protocols()` (asked per connection, so acme-tls/1 can come
 * and go), h2 connections to a node:http2 server calling `handler`.
 */
export function addHttp2(server: https.Server, protocols: () => string[], handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): H2Side {
  const { h2, side } = h2Server(handler);
  // The server's own ALPN: the first of our protocols the client offers (none offered: no ALPN, HTTP/1.1).
  (server as unknown as { ALPNProtocols: unknown }).ALPNProtocols = undefined;
  // A function, not an arrow: node calls it with the TLS socket as `this`, before the SNI callback.
  (server as unknown as { ALPNCallback: (this: tls.TLSSocket, a: { servername: string; protocols: string[] }) => string | undefined }).ALPNCallback = function (this: tls.TLSSocket, { protocols: offered }) {
    const chosen = protocols().find((p) => offered.includes(p)) ?? (offered.includes('http/1.1') ? 'http/1.1' : undefined);
    if (chosen === 'acme-tls/1') (this as unknown as Record<symbol, boolean>)[OFFERS_ACME_TLS] = true;
    return chosen;
  };
  const h1 = server.listeners('secureConnection') as ((s: tls.TLSSocket) => void)[];
  server.removeAllListeners('secureConnection');
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    if (socket.alpnProtocol === 'h2') h2.emit('connection', socket);
    else if (socket.alpnProtocol === 'acme-tls/1') socket.end();
    else for (const l of h1) l.call(server, socket);
  });
  return side;
}

/** The node:http2 server the h2 connections of one entry point go to, and its sessions for shutdown. */
function h2Server(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): { h2: http2.Http2Server; side: H2Side } {
  const h2 = http2.createServer({}, (req, res) => {
    adaptH2Request(req);
    handler(req as unknown as http.IncomingMessage, res as unknown as http.ServerResponse);
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  return {
    h2,
    side: {
      close: () => {
        for (const s of sessions) s.close();
      },
      closeAll: () => {
        for (const s of sessions) s.destroy();
      },
    },
  };
}

/** The client connection preface of HTTP/2 (RFC 9113 3.4), what an h2c client with prior knowledge sends first. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/**
 * h2c on a cleartext entry point, as Traefik serves it (its non-TLS servers are wrapped in Go's
 * h2c handler): a connection that starts with the HTTP/2 preface (prior knowledge) goes to a
 * node:http2 server, any other stays on the HTTP/1.1 server with all its behaviour. The first bytes
 * are read to decide (at most the preface's 24), then handed on: to http2 put back in the socket's
 * buffer, which a new session reads first (node does so for data already buffered); to HTTP/1.1
 * fed to its parser as the first 'data' chunk, the parser reading the rest from the socket's handle.
 * HTTP/1.1's `Upgrade: h2c` is not taken (node's http2 cannot adopt an upgraded connection): such
 * a request is served over HTTP/1.1, which a client must accept.
 */
export function addH2c(server: http.Server, handler: (req: http.IncomingMessage, res: http.ServerResponse) => void, timeoutMs: number): H2Side {
  const { h2, side } = h2Server(handler);
  const own = server.listeners('connection') as ((s: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), timeoutMs > 0 ? timeoutMs : 60_000);
    const done = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onGone);
      socket.off('error', onGone);
    };
    const onGone = () => {
      done();
      socket.destroy();
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const n = Math.min(buf.length, PREFACE.length);
      const prefix = buf.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (prefix && n < PREFACE.length) return;
      done();
      if (prefix) {
        socket.pause();
        socket.unshift(buf);
        h2.emit('connection', socket);
        return;
      }
      for (const l of own) l.call(server, socket);
      socket.emit('data', buf);
    };
    socket.on('data', onData);
    socket.on('end', onGone);
    socket.on('error', onGone);
  });
  return side;
}
