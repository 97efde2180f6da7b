/** IP addresses and CIDR ranges (node:net BlockList), for ClientIP rules and trusted proxies. */
import { BlockList, isIP } from 'node:net';

/** Add `10.0.0.0/8`, `::1` or `192.168.1.7` to `list`; returns what is wrong with `text`, if anything. */
export function addToBlockList(list: BlockList, text: string): string | undefined {
  const [addr, bits, extra] = text.trim().split('/');
  const family = isIP(addr ?? '');
  if (!addr || family === 0 || extra !== undefined) return 'expected an IP address or a CIDR range such as 10.0.0.0/8 or fd00::/8';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (bits === undefined) {
    list.addAddress(addr, type);
    return undefined;
  }
  const n = Number(bits);
  if (!/^[0-9]{1,3}$/.test(bits) || n > (family === 4 ? 32 : 128)) return `prefix length /${bits} is out of range for IPv${family}`;
  list.addSubnet(addr, n, type);
  return undefined;
}

/**
 * A peer address as Traefik (Go) names it: an IPv4 client of a dual-stack (`:port`) listener is
 * `127.0.0.1`, not node's IPv4-mapped `::ffff:127.0.0.1`, in X-Forwarded-For, X-Real-Ip, the
 * access log and what middlewares see.
 */
export function clientAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** Whether a peer address (as node:net reports it, IPv4-mapped IPv6 included) is in `list`. */
export function ipIn(list: BlockList, address: string): boolean {
  if (!address) return false;
  const mapped = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : undefined;
  if (mapped) return list.check(mapped, 'ipv4');
  const family = isIP(address);
  if (family === 0) return false;
  return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}
