/**
 * `entryPoints.<n>.proxyProtocol`: the PROXY protocol header (v1 text, v2 binary) a load balancer
 * in front sends before the connection's bytes, read before HTTP or TLS sees the connection.
 * As Traefik (pires/go-proxyproto with its policy): from a trusted source (`trustedIPs`, or every
 * source with `insecure`) the header's source address becomes the connection's remote address,
 * and a connection without a header is served as it is; from an untrusted source a header is
 * removed but its address is ignored. A malformed header, or one not complete within the time
 * bound, closes the connection; the server keeps serving the others.
 */
import { isIPv4, isIPv6, type BlockList, type Socket } from 'node:net';
import type { Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { clientAddress, ipIn } from '../routing/ipnet.js';
import { replaySocket, replayed } from './replay-socket.js';

/** Who may set the client address with a header. */
export interface ProxyProtocolPolicy {
  insecure: boolean;
  trusted: BlockList | undefined;
}

/** A parsed header: the client's address, or none (v1 UNKNOWN, v2 LOCAL or a non-IP family). */
export type ProxyHeader = { length: number; source?: { address: string; port: number; family: 'IPv4' | 'IPv6' } };

const V1 = Buffer.from('PROXY ');
const V2 = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** The v1 line's limit in the specification, CRLF included. */
const V1_MAX = 107;

/** The start of `buf` is a possible header start: 'v1', 'v2', 'none' (no header), or 'more' (too short to say). */
export function headerKind(buf: Buffer): 'v1' | 'v2' | 'none' | 'more' {
  const startsWith = (sig: Buffer) => buf.subarray(0, sig.length).equals(sig.subarray(0, Math.min(sig.length, buf.length)));
  if (startsWith(V1)) return buf.length >= V1.length ? 'v1' : 'more';
  if (startsWith(V2)) return buf.length >= V2.length ? 'v2' : 'more';
  return 'none';
}

/** Parse a header at the start of `buf`: the header, undefined when more bytes are needed, or an Error when malformed. */
export function parseProxyHeader(buf: Buffer): ProxyHeader | undefined | Error {
  const kind = headerKind(buf);
  if (kind === 'more') return undefined;
  if (kind === 'none') return new Error('no PROXY protocol signature');
  return kind === 'v1' ? parseV1(buf) : parseV2(buf);
}

const PORT = /^(0|[1-9][0-9]{0,4})$/;

function parseV1(buf: Buffer): ProxyHeader | undefined | Error {
  const end = buf.indexOf('\r\n');
  if (end < 0) return buf.length >= V1_MAX ? new Error('PROXY v1 line longer than 107 bytes') : undefined;
  if (end + 2 > V1_MAX) return new Error('PROXY v1 line longer than 107 bytes');
  const parts = buf.toString('latin1', 0, end).split(' ');
  if (parts[1] === 'UNKNOWN') return { length: end + 2 };
  if (parts.length !== 6) return new Error('PROXY v1 line: expected PROXY TCP4|TCP6 src dst sport dport');
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const isIp = proto === 'TCP4' ? isIPv4 : proto === 'TCP6' ? isIPv6 : undefined;
  if (!isIp) return new Error(`PROXY v1 line: unknown protocol "${proto}"`);
  if (!isIp(src) || !isIp(dst)) return new Error(`PROXY v1 line: addresses are not ${proto} addresses`);
  if (!PORT.test(sport) || !PORT.test(dport) || Number(sport) > 65535 || Number(dport) > 65535) return new Error('PROXY v1 line: bad port');
  return { length: end + 2, source: { address: src, port: Number(sport), family: proto === 'TCP4' ? 'IPv4' : 'IPv6' } };
}

function parseV2(buf: Buffer): ProxyHeader | undefined | Error {
  if (buf.length < 16) return undefined;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return new Error('PROXY v2 header: version is not 2');
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return new Error('PROXY v2 header: unknown command');
  const fam = buf[13]!;
  const len = buf.readUInt16BE(14);
  if (buf.length < 16 + len) return undefined;
  const length = 16 + len;
  // LOCAL: the proxy's own connection (a health check); the real address stays.
  if (cmd === 0) return { length };
  const af = fam >> 4;
  const proto = fam & 0x0f;
  if (proto > 2) return new Error('PROXY v2 header: unknown transport protocol');
  if (af === 1) {
    if (len < 12) return new Error('PROXY v2 header: IPv4 addresses cut short');
    const a = buf.subarray(16, 20).join('.');
    return { length, source: { address: a, port: buf.readUInt16BE(24), family: 'IPv4' } };
  }
  if (af === 2) {
    if (len < 36) return new Error('PROXY v2 header: IPv6 addresses cut short');
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(16 + i * 2).toString(16));
    return { length, source: { address: compactIPv6(groups), port: buf.readUInt16BE(48), family: 'IPv6' } };
  }
  if (af > 3) return new Error('PROXY v2 header: unknown address family');
  // AF_UNSPEC or AF_UNIX: no IP address to use.
  return { length };
}

/** `0:0:0:0:0:0:0:1` as `::1`, the form node gives remote addresses in. */
function compactIPv6(groups: string[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Make `socket` report `source` as its remote address (everything downstream reads remoteAddress). */
function setRemote(socket: Socket, source: NonNullable<ProxyHeader['source']>): void {
  Object.defineProperty(socket, 'remoteAddress', { value: source.address, configurable: true });
  Object.defineProperty(socket, 'remotePort', { value: source.port, configurable: true });
  Object.defineProperty(socket, 'remoteFamily', { value: source.family, configurable: true });
}

/** The address a header set on this raw socket, for the TLS socket made over it. */
const proxied = new WeakMap<Socket, NonNullable<ProxyHeader['source']>>();

/**
 * Read a PROXY header on each connection of `server` (http or https) before its own connection
 * handling: the bytes after the header are handed on untouched. `timeoutMs` bounds the wait for a
 * complete header (Traefik: the entry point's readTimeout). `tls`: the server is node's TLS
 * server, which reads a socket through its handle: it is given a replay Duplex (replay-socket.ts)
 * carrying the bytes after the header, instead of the socket with them put back.
 */
export function acceptProxyProtocol(server: Server, policy: ProxyProtocolPolicy, timeoutMs: number, onReject: (peer: string, reason: string) => void, tls = false): void {
  const own = server.listeners('connection') as ((s: Socket | Duplex) => void)[];
  server.removeAllListeners('connection');
  const handOn = (socket: Socket | Duplex) => {
    for (const l of own) l.call(server, socket);
  };
  server.on('connection', (socket: Socket) => {
    const peer = clientAddress(socket.remoteAddress);
    const trusted = policy.insecure || (policy.trusted !== undefined && ipIn(policy.trusted, peer));
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => fail('no complete PROXY header in time'), timeoutMs > 0 ? timeoutMs : 10_000);
    const done = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onEnd);
    };
    const fail = (reason: string) => {
      done();
      onReject(peer, reason);
      socket.destroy();
    };
    const onError = () => {
      done();
      socket.destroy();
    };
    const onEnd = () => fail('connection ended inside the PROXY header');
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const kind = headerKind(buf);
      let rest = buf;
      if (kind === 'more') return;
      if (kind !== 'none') {
        const h = parseProxyHeader(buf);
        if (h === undefined) {
          if (buf.length > 16 + 65535) fail('PROXY header too long');
          return;
        }
        if (h instanceof Error) return fail(h.message);
        rest = buf.subarray(h.length);
        // An untrusted source's header is taken off the stream but its address is not used (Traefik's IGNORE).
        if (h.source && trusted) {
          setRemote(socket, h.source);
          proxied.set(socket, h.source);
        }
      }
      done();
      socket.pause();
      if (tls) {
        handOn(replaySocket(socket, rest));
        return;
      }
      if (rest.length) socket.unshift(rest);
      // The HTTP parser reads the socket's own handle when it can, which would skip the bytes put
      // back: marked as consumed, it reads them through the stream, in order.
      const handle = (socket as unknown as { _handle?: { _consumed?: boolean } })._handle;
      if (handle) handle._consumed = true;
      handOn(socket);
      socket.resume();
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('end', onEnd);
  });
  // A TLS socket asks its own handle for the peer, which over a replay Duplex knows none: it is
  // given the raw socket's address (the header's, when one was taken). The Duplex is reached as
  // node links it: TLSWrap._parentWrap (a JSStreamSocket) .stream.
  server.on('secureConnection', (tlsSocket: Socket) => {
    const wrap = (tlsSocket as unknown as { _handle?: { _parentWrap?: { stream?: Duplex } } })._handle?._parentWrap;
    const raw = wrap?.stream ? replayed.get(wrap.stream) : (tlsSocket as unknown as { _parent?: Socket })._parent;
    if (!raw) return;
    const source = proxied.get(raw);
    setRemote(tlsSocket, source ?? { address: raw.remoteAddress ?? '', port: raw.remotePort ?? 0, family: raw.remoteFamily === 'IPv6' ? 'IPv6' : 'IPv4' });
  });
}
