/**
 * Upgrade requests (WebSocket, and any other protocol switch) once routed and through the
 * middlewares' onRequest: sent to the upstream on a connection of their own; when it answers 101
 * the gateway writes that answer to the client and splices the two sockets together. An upstream
 * that refuses gets its response passed on like any other.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { UpstreamCall, UpstreamFailure } from './proxy.js';
import type { Forwarder } from './forwarder.js';

/** What the exchange hands over, and hears back. */
export interface UpgradeCall {
  method: string;
  url: string;
  /** The upstream headers (hop-by-hop ones already removed). */
  headers: OutgoingHttpHeaders;
  /** The protocol asked for (the client's Upgrade header). */
  protocol: string;
  client: Duplex;
  /** Bytes the client sent past its request headers. */
  head: Buffer;
  failed(f: UpstreamFailure): void;
  /** The upstream answered without switching: a normal response. */
  refused(res: IncomingMessage): void;
  /** The tunnel is up (called before any byte flows). */
  switched(status: number): void;
  isAborted(): boolean;
}

/**
 * Ask the next server of `lb` to switch protocols.
 * @example proxyUpgrade(lb, { method: 'GET', url: '/ws', headers, protocol: 'websocket', client, head, ... })
 */
export function proxyUpgrade(lb: Required<Pick<Forwarder, 'upgrade'>>, call: UpgradeCall): UpstreamCall {
  const headers = call.headers;
  headers.connection = 'upgrade';
  headers.upgrade = call.protocol;
  return lb.upgrade({ method: call.method, url: call.url, headers, body: undefined }, (failure, res, upstream, upHead) => {
    if (failure) return call.failed(failure);
    if (!upstream) return call.refused(res!);
    const client = call.client;
    if (call.isAborted() || client.destroyed) {
      upstream.destroy();
      return;
    }
    let head = `HTTP/1.1 ${res!.statusCode} ${res!.statusMessage}\r\n`;
    const raw = res!.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
    call.switched(res!.statusCode ?? 101);
    (client as Socket).setTimeout?.(0);
    upstream.setTimeout(0);
    upstream.setNoDelay(true);
    client.write(`${head}\r\n`);
    if (upHead && upHead.length > 0) client.write(upHead);
    if (call.head.length > 0) upstream.write(call.head);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    // A side that ends ends the tunnel (both sockets allow half-open connections, which nobody
    // would ever close here); what was written is still flushed.
    const end = () => {
      client.end();
      upstream.end();
    };
    client.on('end', end);
    upstream.on('end', end);
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
}
