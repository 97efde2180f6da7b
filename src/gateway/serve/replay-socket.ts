/**
 * A Duplex over a connected socket that first yields bytes already read from it (`head`), then
 * the socket's own data; writes, end and destroy go to the socket. For a server that must see
 * bytes a reader before it took off the socket: node's TLS server reads a net.Socket through its
 * handle (in C++), so bytes put back with `unshift` never reach it; given a Duplex instead, it
 * wraps it in a JS stream and reads everything through it, in order. The socket's addresses are
 * read through (a PROXY header may have set them on the socket).
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

/** The raw socket under a replay Duplex (for the TLS socket made over it to take its addresses). */
export const replayed = new WeakMap<Duplex, Socket>();

export function replaySocket(socket: Socket, head: Buffer): Duplex {
  const d = new Duplex({
    allowHalfOpen: socket.allowHalfOpen,
    read() {
      socket.resume();
    },
    write(chunk: Buffer, encoding, cb) {
      socket.write(chunk, encoding, cb);
    },
    final(cb) {
      socket.end(cb);
    },
    destroy(err, cb) {
      socket.destroy(err ?? undefined);
      cb(err);
    },
  });
  replayed.set(d, socket);
  for (const k of ['remoteAddress', 'remotePort', 'remoteFamily', 'localAddress', 'localPort'] as const) {
    Object.defineProperty(d, k, { get: () => socket[k], configurable: true });
  }
  if (head.length) d.push(head);
  socket.on('data', (c: Buffer) => {
    // Back-pressure: the socket waits until the reader asks again (read() resumes it).
    if (!d.push(c)) socket.pause();
  });
  socket.on('end', () => d.push(null));
  socket.on('error', (e) => d.destroy(e));
  socket.on('close', () => d.destroy());
  return d;
}
