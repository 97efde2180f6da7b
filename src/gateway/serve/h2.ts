/**
 * HTTP/2 on TLS entry points: the https server negotiates ALPN (h2, http/1.1 by default, the
 * entry point's tls.options alpnProtocols, and acme-tls/1 while a TLS challenge runs); an h2
 * connection is handed to a node:http2 server of its own, an http/1.1 one stays on the https
 * server with all its behaviour (timeouts, 400/408/431 answers, upgrades). Requests arrive at the
 * same handler as HTTP/1.1 ones, adapted: pseudo-headers removed, `:authority` as Host.
 */
import http2 from 'node:http2';
import type http from 'node:http';
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
  const h2 = http2.createServer({}, (req, res) => {
    adaptH2Request(req);
    handler(req as unknown as http.IncomingMessage, res as unknown as http.ServerResponse);
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
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
  return {
    close: () => {
      for (const s of sessions) s.close();
    },
    closeAll: () => {
      for (const s of sessions) s.destroy();
    },
  };
}
