/**
 * The outbound policy of one plugin: which origins it may fetch (scheme, host, port), and which
 * addresses are refused after DNS resolution (loopback, private, link-local, CGNAT, metadata)
 * unless the allowlist entry names the address itself (an IP literal, or `localhost`): an
 * allowlisted name that resolves to 127.0.0.1 is DNS rebinding, refused.
 */
import { BlockList, isIP } from 'node:net';

/** One allowlist entry, parsed: `https://auth.example.com` -> { protocol: 'https:', host: 'auth.example.com', port: '443' }. */
export interface AllowedOrigin {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: string;
  /** The entry names an IP literal or localhost: internal addresses are allowed for it. */
  internalOk: boolean;
}

const DEFAULT_PORT: Record<string, string> = { 'http:': '80', 'https:': '443' };

/** Parse an allowlist entry; throws a plain Error saying what is wrong (the caller wraps it as ERR_OPTIONS). */
export function parseOrigin(entry: string): AllowedOrigin {
  let u: URL;
  try {
    u = new URL(entry);
  } catch {
    throw new Error(`"${entry}" is not a URL (write an origin: "https://auth.example.com" or "http://127.0.0.1:8080")`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`"${entry}": only http: and https: origins can be granted`);
  if (u.username || u.password) throw new Error(`"${entry}": an origin has no credentials`);
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) throw new Error(`"${entry}": an origin has no path, query or fragment (write "${u.origin}")`);
  const hostname = bare(u.hostname);
  return { protocol: u.protocol, hostname, port: u.port || DEFAULT_PORT[u.protocol]!, internalOk: isIP(hostname) !== 0 || hostname === 'localhost' };
}

/** A hostname without IPv6 brackets. */
export const bare = (h: string): string => (h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h).toLowerCase();

/** The allowlist entry matching `u`'s origin, or undefined. */
export function matchOrigin(allow: readonly AllowedOrigin[], u: URL): AllowedOrigin | undefined {
  const hostname = bare(u.hostname);
  const port = u.port || DEFAULT_PORT[u.protocol];
  return allow.find((a) => a.protocol === u.protocol && a.hostname === hostname && a.port === port);
}

// Two lists: node's BlockList matches a v4 address against v6 rules through ::ffff:0:0/96 too.
const internal = new BlockList();
const internal6 = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, 169.254.169.254 metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  internal.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7], // ULA, fd00:ec2::254 metadata
  ['fe80::', 10], // link-local
  ['ff00::', 8],
  ['64:ff9b::', 96], // NAT64 of v4 addresses
  ['::ffff:0:0', 96], // IPv4-mapped in hex form (::ffff:7f00:1): refused whole, DNS answers v4 as v4
] as const) {
  internal6.addSubnet(net, bits, 'ipv6');
}

/** True for a loopback, private, link-local, CGNAT, metadata or otherwise non-public address. */
export function isInternalAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return internal.check(address, 'ipv4');
  if (family !== 6) return true;
  const a = address.toLowerCase();
  // IPv4-mapped (::ffff:127.0.0.1): the v4 rules apply
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) return internal.check(mapped[1]!, 'ipv4');
  return internal6.check(a, 'ipv6');
}
