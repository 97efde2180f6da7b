/**
 * The entry point servers: node:http, or node:https with the gateway's certificates, with the
 * entry point's responding timeouts and connection limit, and the answers the gateway gives
 * without routing: 400 for a malformed request, 431 for headers past the limit, 408 when the
 * client is too slow, 405 for CONNECT (the gateway is not a forward proxy).
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ListenError } from '../../errors.js';
import type { EntryPointOptions } from '../config/entrypoint.js';
import type { AdminAddress, ListenAddress } from '../config/model.js';
import type { Logger } from '../../types.js';
import type { CertStore } from './certs.js';
import type { ResolvedTlsOptions } from '../config/model.js';
import { addH2c, addHttp2, type H2Side } from './h2.js';
import { acceptProxyProtocol } from './proxy-protocol.js';
import { createAdminServer, type AdminSource } from '../admin/api.js';
import { adminAuth } from '../admin/auth.js';

/** Where a server listens, once bound (port 0 in the config becomes the real port). */
export interface BoundAddress {
  host: string;
  port: number;
  /** `http://host:port` (or https), ready for a client. */
  url: string;
}

/** What an entry point server hands to the gateway. */
export interface EntryPointHandlers {
  request(req: http.IncomingMessage, res: http.ServerResponse): void;
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 405: 'Method Not Allowed', 408: 'Request Timeout', 413: 'Content Too Large', 431: 'Request Header Fields Too Large' };

/** A complete response on a raw socket, then close it. */
export function rawResponse(socket: Duplex, status: number, extra = ''): void {
  const body = JSON.stringify({ error: STATUS_TEXT[status]?.toLowerCase() ?? 'error' });
  socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ''}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${body.length}\r\n${extra}\r\n${body}`);
}

/** The HTTP/2 side of entry point servers (ALPN h2 on TLS, h2c on cleartext), for shutdown. */
export const h2Sides = new WeakMap<http.Server, H2Side>();

/** What a TLS entry point serves: its TLS options, and whether the TLS challenge's ALPN is offered. */
export interface EntryPointTls {
  certs: CertStore;
  options: ResolvedTlsOptions;
  /** acme-tls/1 offered as well (a resolver with tlsChallenge). */
  alpnChallenge: boolean;
}

/** Create (not yet listening) the server of one entry point. */
export function createEntryPointServer(ep: EntryPointOptions, secure: EntryPointTls | undefined, handlers: EntryPointHandlers, logger?: Logger): http.Server {
  const certs = secure?.certs;
  const read = ep.readTimeoutMs;
  const options: http.ServerOptions = {
    // Go's ReadTimeout: the whole request, headers and body. Node checks it every
    // connectionsCheckingInterval, so that is kept well below the timeout.
    requestTimeout: read,
    headersTimeout: read,
    connectionsCheckingInterval: read > 0 ? Math.min(30_000, Math.max(50, Math.floor(read / 4))) : 30_000,
    keepAliveTimeout: ep.idleTimeoutMs,
  };
  const server = ep.tls && certs ? https.createServer({ ...options, ...certs.serverOptions(secure.options) }, handlers.request) : http.createServer(options, handlers.request);
  if (ep.tls && certs) {
    certs.attach(server as https.Server, secure.options);
    const protocols = secure.alpnChallenge ? [...secure.options.alpnProtocols, 'acme-tls/1'] : secure.options.alpnProtocols;
    h2Sides.set(server, addHttp2(server as https.Server, () => protocols, handlers.request));
  } else {
    h2Sides.set(server, addH2c(server, handlers.request, ep.readTimeoutMs));
  }
  // After addHttp2: its secureConnection dispatch is in place, so the proxied address reaches h2 sockets too.
  if (ep.proxyProtocol) acceptProxyProtocol(server, ep.proxyProtocol, ep.readTimeoutMs, (peer, reason) => logger?.debug({ peer, reason }, `PROXY protocol header refused: ${reason}`), Boolean(ep.tls && certs));
  if (ep.maxConnections > 0) server.maxConnections = ep.maxConnections;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // Once a response has started on this connection, there is nothing left to say: close it.
    const started = (socket as Socket & { _httpMessage?: http.ServerResponse | null })._httpMessage?.headersSent;
    if (!socket.writable || started) {
      socket.destroy();
      return;
    }
    switch (err.code) {
      case 'HPE_HEADER_OVERFLOW':
        rawResponse(socket, 431);
        break;
      case 'ERR_HTTP_REQUEST_TIMEOUT':
        rawResponse(socket, 408);
        break;
      case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
        rawResponse(socket, 413);
        break;
      case 'ECONNRESET':
        socket.destroy();
        break;
      default:
        rawResponse(socket, 400);
    }
  });
  server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => rawResponse(socket, 405));
  server.on('upgrade', handlers.upgrade);
  return server;
}

/** Listen, or fail with a ListenError that says which address and what to do. */
export async function listenOn(server: http.Server, addr: ListenAddress, what: string, file: string | undefined, tls = false): Promise<BoundAddress> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(new ListenError(what, addr.text, err, file));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(addr.port, addr.host);
  });
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  const shown = a.address === '::' || a.address === '0.0.0.0' ? 'localhost' : host;
  return { host: a.address, port: a.port, url: `${tls ? 'https' : 'http'}://${shown}:${a.port}` };
}

export interface AdminServer {
  address: BoundAddress;
  close(): Promise<void>;
}

/** Listen on the admin address with the admin API (admin/api.ts), behind its auth (admin/auth.ts: refused at start when open to the network). */
export async function startAdmin(gw: AdminSource, addr: AdminAddress, file: string | undefined, logger?: Logger): Promise<AdminServer> {
  const server = createAdminServer(gw, { auth: adminAuth(addr, file, logger), logger });
  const address = await listenOn(server, addr, 'admin', file);
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
