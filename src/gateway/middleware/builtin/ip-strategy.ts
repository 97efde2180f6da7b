/**
 * Traefik's `ipStrategy` and `sourceCriterion`: which address a request comes from (the socket's
 * peer by default; `depth` counts from the right of X-Forwarded-For; `excludedIPs` skips trusted
 * proxies from the right) and which key a rate or in-flight limit counts by.
 */
import { BlockList, isIP } from 'node:net';
import type { MiddlewareRequest } from '../contract.js';
import { int, obj, str, strList, type BuildEnv } from './types.js';

export interface IpStrategy {
  depth?: number;
  excludedIPs?: string[];
  ipv6Subnet?: number;
}

export const ipStrategySchema = obj({ depth: int(0), excludedIPs: strList, ipv6Subnet: { type: 'integer', minimum: 0, maximum: 128 } });

export interface SourceCriterion {
  ipStrategy?: IpStrategy;
  requestHeaderName?: string;
  requestHost?: boolean;
}

export const sourceCriterionSchema = obj({ ipStrategy: ipStrategySchema, requestHeaderName: str, requestHost: { type: 'boolean' } });

/** `::ffff:1.2.3.4` is 1.2.3.4. */
export function plainIp(a: string): string {
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

/** Parse CIDRs and addresses into a BlockList, reporting the bad ones at `path`. */
export function rangeList(ranges: string[], path: (string | number)[], env: BuildEnv): BlockList {
  const list = new BlockList();
  ranges.forEach((r, i) => {
    const [addr, bits, extra] = r.trim().split('/');
    const fam = isIP(addr ?? '');
    const n = bits === undefined ? undefined : Number(bits);
    if (!fam || extra !== undefined || (n !== undefined && (!Number.isInteger(n) || n < 0 || n > (fam === 4 ? 32 : 128)))) {
      env.issue([...path, i], `"${r}" is not an IP address or CIDR range (e.g. 10.0.0.0/8, 192.168.1.7, ::1/128)`);
      return;
    }
    const type = fam === 4 ? 'ipv4' : 'ipv6';
    if (n === undefined) list.addAddress(addr!, type);
    else list.addSubnet(addr!, n, type);
  });
  return list;
}

export function inList(list: BlockList, ip: string): boolean {
  const fam = isIP(ip);
  if (!fam) return false;
  return list.check(ip, fam === 4 ? 'ipv4' : 'ipv6');
}

/** The client address by an ipStrategy (Traefik's ip.Strategy). '' when it cannot tell. */
export function strategyIp(s: IpStrategy | undefined, excluded: BlockList | undefined, req: MiddlewareRequest): string {
  let ip: string;
  if (s && ((s.depth ?? 0) > 0 || excluded)) {
    const xff = req.headers['x-forwarded-for'];
    const list = (Array.isArray(xff) ? xff.join(',') : (xff ?? '')).split(',').map((x) => x.trim()).filter(Boolean);
    if ((s.depth ?? 0) > 0) {
      // Depth n: the n-th address from the right; fewer than n addresses: no address.
      ip = list.length >= s.depth! ? list[list.length - s.depth!]! : '';
    } else {
      ip = '';
      for (let i = list.length - 1; i >= 0; i--) {
        if (!inList(excluded!, plainIp(list[i]!))) {
          ip = list[i]!;
          break;
        }
      }
    }
  } else ip = req.client.address;
  ip = plainIp(ip);
  if (s?.ipv6Subnet !== undefined && isIP(ip) === 6) ip = ipv6Prefix(ip, s.ipv6Subnet);
  return ip;
}

function ipv6Prefix(ip: string, bits: number): string {
  const [head, tail] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  const nums = groups.map((g) => parseInt(g || '0', 16));
  const out = nums.map((n, i) => {
    const keep = Math.max(0, Math.min(16, bits - i * 16));
    return keep === 0 ? 0 : n & (0xffff << (16 - keep)) & 0xffff;
  });
  return out.map((n) => n.toString(16)).join(':');
}

/** The key a rate or in-flight limit counts by (sourceCriterion; default: the client address). */
export function sourceKey(c: SourceCriterion | undefined, excluded: BlockList | undefined): (req: MiddlewareRequest) => string {
  if (c?.requestHeaderName) {
    const h = c.requestHeaderName.toLowerCase();
    return (req) => {
      const v = req.headers[h];
      return Array.isArray(v) ? v.join(',') : (v ?? '');
    };
  }
  if (c?.requestHost) return (req) => String(req.headers.host ?? '');
  const s = c?.ipStrategy;
  return (req) => strategyIp(s, excluded, req);
}

/** The excludedIPs of a sourceCriterion as a BlockList (undefined when none). */
export function excludedList(s: IpStrategy | undefined, path: (string | number)[], env: BuildEnv): BlockList | undefined {
  return s?.excludedIPs?.length ? rangeList(s.excludedIPs, [...path, 'excludedIPs'], env) : undefined;
}
