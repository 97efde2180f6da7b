/**
 * The forwarding headers Traefik adds besides X-Forwarded-For/-Host/-Proto (which proxy.ts sets):
 * X-Forwarded-Port (the port of the Host the client asked for, else 80 / 443 by scheme),
 * X-Forwarded-Server (this machine's host name) and X-Real-Ip (the client's address). A value the
 * client sent for X-Forwarded-Port or X-Real-Ip is kept, as proxy.ts keeps X-Forwarded-Host; which
 * clients are trusted to send them is the forwarded-headers trust's business (proxy.ts).
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import os from 'node:os';

const SERVER = os.hostname();

export function traefikForwardedHeaders(out: OutgoingHttpHeaders, socket: Socket, originalHost: string | undefined): void {
  const tls = Boolean((socket as { encrypted?: boolean }).encrypted);
  if (out['x-forwarded-port'] === undefined) {
    const m = originalHost ? /:([0-9]+)$/.exec(originalHost) : null;
    out['x-forwarded-port'] = m ? m[1] : tls ? '443' : '80';
  }
  out['x-forwarded-server'] = SERVER;
  if (out['x-real-ip'] === undefined) {
    const a = socket.remoteAddress ?? '';
    out['x-real-ip'] = a.startsWith('::ffff:') ? a.slice(7) : a;
  }
}
