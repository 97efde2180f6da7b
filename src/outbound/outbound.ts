/**
 * Outbound HTTP for one plugin, made by the host on node:http/https under the plugin's policy:
 * the origin allowlist (checked again on every redirect, which is followed by hand), the address
 * check after DNS (the name is resolved once, and the socket connects to the checked address
 * through the request's `lookup`, so a second answer cannot switch it: no DNS rebinding), a
 * timeout, a maximum response size (at most the plugin's memory cap: the bytes end up in its
 * heap), a maximum header size and a maximum number of requests in flight.
 */
import http from 'node:http';
import https from 'node:https';
import { lookup as dnsLookup } from 'node:dns/promises';
import { type LookupFunction, isIP } from 'node:net';
import { FetchDeniedError, FetchFailedError, FetchLimitError } from '../errors.js';
import { type AllowedOrigin, bare, isInternalAddress, matchOrigin, parseOrigin } from './policy.js';

/** The fetch grant of one plugin, as createHost `grants.<plugin>.fetch` takes it (an array is `{ allow }`). */
export interface FetchGrant {
  /** Origins the plugin may fetch: "https://auth.example.com", "http://127.0.0.1:8080". */
  allow: readonly string[];
  /** Per request, including redirects and reading the body (default 10000). */
  timeoutMs?: number;
  /** Largest response body in bytes (default 1 MiB; never more than the plugin's memoryBytes). */
  maxResponseBytes?: number;
  /** Requests in flight at once for this plugin (default 8). */
  maxInFlight?: number;
}

/** What the guest glue sends: the request, already normalised to plain values. */
export interface OutboundRequest {
  url: string;
  method: string;
  headers: [string, string][];
  body: Uint8Array | string | null;
  /** The guest's own timeout (AbortSignal.timeout), if shorter than the grant's. */
  timeoutMs?: number;
  redirect?: 'follow' | 'manual' | 'error';
}

export interface OutboundResponse {
  url: string;
  status: number;
  statusText: string;
  headers: [string, string][];
  body: Uint8Array;
  redirected: boolean;
}

/** A resolver: the addresses of `hostname`. Tests inject one; production uses the system's (dns.lookup). */
export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

const systemResolver: Resolver = (h) => dnsLookup(h, { all: true, verbatim: true });

const MAX_REDIRECTS = 10;
const MAX_HEADER_BYTES = 16384;

export interface OutboundOptions {
  plugin: () => string;
  /** The grant, or a function giving the one in force now (the host narrows it by the plugin's declared permissions once its meta is read). */
  grant: FetchGrant | undefined | (() => FetchGrant | undefined);
  memoryBytes: number;
  /** Requests in flight, shared by every instance of the plugin. */
  inFlight?: { n: number };
  /** Test hook: resolve names with this instead of the system resolver. */
  resolver?: Resolver;
}

/** One plugin's outbound HTTP client. */
export class Outbound {
  private readonly inFlight: { n: number };
  private allowOf: { grant: FetchGrant | undefined; allow: AllowedOrigin[] } = { grant: undefined, allow: [] };
  private readonly aborts = new Map<number, AbortController>();

  constructor(private readonly o: OutboundOptions) {
    this.inFlight = o.inFlight ?? { n: 0 };
  }

  private get grant(): FetchGrant | undefined {
    return typeof this.o.grant === 'function' ? this.o.grant() : this.o.grant;
  }

  /** The parsed allowlist of `grant`, parsed again only when the grant in force changes. */
  private allowFor(grant: FetchGrant | undefined): AllowedOrigin[] {
    if (this.allowOf.grant !== grant) this.allowOf = { grant, allow: (grant?.allow ?? []).map(parseOrigin) };
    return this.allowOf.allow;
  }

  /** Cancel request `id` (the guest's AbortController fired). */
  abort(id: number): void {
    this.aborts.get(id)?.abort();
  }

  /** Fetch `req` under the policy; `id` lets the guest abort it. Rejects with a coded error naming the plugin and URL. */
  async fetch(req: OutboundRequest, id = 0): Promise<OutboundResponse> {
    const plugin = this.o.plugin();
    const grant = this.grant;
    if (!grant) throw new FetchDeniedError('not-granted', req.url, plugin, 'the plugin has no fetch grant (or its meta.permissions declares no fetch)');
    const max = grant.maxInFlight ?? 8;
    if (this.inFlight.n >= max) throw new FetchLimitError('in-flight', req.url, plugin, max, `${max} requests of this plugin are already in flight`);
    const timeoutMs = Math.min(grant.timeoutMs ?? 10000, req.timeoutMs ?? Infinity);
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new FetchLimitError('timeout', req.url, plugin, timeoutMs, `no complete response within ${timeoutMs} ms`)), timeoutMs);
    if (id) this.aborts.set(id, ac);
    this.inFlight.n++;
    try {
      return await this.follow(req, plugin, ac.signal);
    } catch (e) {
      if (ac.signal.aborted && ac.signal.reason instanceof Error) throw ac.signal.reason;
      throw e;
    } finally {
      this.inFlight.n--;
      clearTimeout(timer);
      if (id) this.aborts.delete(id);
    }
  }

  private async follow(first: OutboundRequest, plugin: string, signal: AbortSignal): Promise<OutboundResponse> {
    let req = first;
    for (let hop = 0; ; hop++) {
      const res = await this.once(req, plugin, signal, hop > 0);
      const location = res.headers.find(([k]) => k === 'location')?.[1];
      if (res.status < 300 || res.status > 399 || res.status === 304 || location === undefined || first.redirect === 'manual') {
        return { ...res, redirected: hop > 0 };
      }
      if (first.redirect === 'error') throw new FetchDeniedError('redirect', req.url, plugin, `redirect to ${location} with redirect: "error"`);
      if (hop >= MAX_REDIRECTS) throw new FetchDeniedError('redirect', req.url, plugin, `more than ${MAX_REDIRECTS} redirects`);
      let next: string;
      try {
        next = new URL(location, req.url).href;
      } catch {
        throw new FetchFailedError(req.url, plugin, `invalid redirect location ${location}`);
      }
      const toGet = res.status === 303 || ((res.status === 301 || res.status === 302) && req.method === 'POST');
      req = {
        ...req,
        url: next,
        method: toGet ? 'GET' : req.method,
        body: toGet ? null : req.body,
        headers: toGet ? req.headers.filter(([k]) => !/^(content-|transfer-encoding$)/i.test(k)) : req.headers,
      };
    }
  }

  /** Check `req.url` against the policy and resolve its address (once). */
  private async check(url: string, plugin: string, redirect: boolean): Promise<{ u: URL; address: string; family: number }> {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new FetchDeniedError('scheme', url, plugin, 'not a valid URL');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new FetchDeniedError('scheme', url, plugin, `scheme ${u.protocol} is not http: or https:`);
    if (u.username || u.password) throw new FetchDeniedError('credentials', url, plugin, 'a URL with credentials is refused (send an Authorization header)');
    const entry = matchOrigin(this.allowFor(this.grant), u);
    if (!entry) throw new FetchDeniedError(redirect ? 'redirect' : 'origin', url, plugin, `origin ${u.origin} is not in the plugin's allowlist${redirect ? ' (a redirect leads there)' : ''}`);
    const hostname = bare(u.hostname);
    let addrs: { address: string; family: number }[];
    if (isIP(hostname)) addrs = [{ address: hostname, family: isIP(hostname) }];
    else {
      try {
        addrs = await (this.o.resolver ?? systemResolver)(hostname);
      } catch (e) {
        throw new FetchFailedError(url, plugin, `cannot resolve ${hostname}: ${(e as Error).message}`);
      }
    }
    if (addrs.length === 0) throw new FetchFailedError(url, plugin, `${hostname} has no address`);
    if (!entry.internalOk) {
      // Every answer must be public: any internal one could be the one a later lookup returns.
      const bad = addrs.find((a) => isInternalAddress(a.address));
      if (bad) throw new FetchDeniedError('address', url, plugin, `${hostname} resolves to ${bad.address}, an internal address (allow it by naming the IP in the allowlist)`);
    }
    return { u, address: addrs[0]!.address, family: addrs[0]!.family };
  }

  private async once(req: OutboundRequest, plugin: string, signal: AbortSignal, redirect: boolean): Promise<Omit<OutboundResponse, 'redirected'>> {
    const { u, address, family } = await this.check(req.url, plugin, redirect);
    signal.throwIfAborted();
    const maxBytes = Math.min(this.grant?.maxResponseBytes ?? 1 << 20, this.o.memoryBytes);
    const mod = u.protocol === 'https:' ? https : http;
    const headers: Record<string, string[]> = {};
    for (const [k, v] of req.headers) (headers[k.toLowerCase()] ??= []).push(v);
    return new Promise((resolve, reject) => {
      const r = mod.request(
        u,
        {
          method: req.method,
          headers,
          signal,
          agent: false,
          maxHeaderSize: MAX_HEADER_BYTES,
          // connect to the address checked above, whatever a second lookup would say
          lookup: ((_h: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void) => (opts?.all ? cb(null, [{ address, family }]) : cb(null, address, family))) as unknown as LookupFunction,
          ...(u.protocol === 'https:' ? { servername: isIP(bare(u.hostname)) ? undefined : bare(u.hostname) } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let n = 0;
          const declared = Number(res.headers['content-length']);
          if (declared > maxBytes) {
            res.destroy();
            reject(new FetchLimitError('size', req.url, plugin, maxBytes, `the response declares ${declared} bytes`));
            return;
          }
          res.on('data', (c: Buffer) => {
            n += c.length;
            if (n > maxBytes) {
              res.destroy();
              reject(new FetchLimitError('size', req.url, plugin, maxBytes, `the response body is over ${maxBytes} bytes`));
              return;
            }
            chunks.push(c);
          });
          res.on('error', (e) => reject(signal.aborted ? signal.reason : new FetchFailedError(req.url, plugin, e.message)));
          res.on('end', () => {
            const hs: [string, string][] = [];
            for (let i = 0; i < res.rawHeaders.length; i += 2) hs.push([res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!]);
            const b = Buffer.concat(chunks);
            resolve({ url: req.url, status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: hs, body: new Uint8Array(b.buffer, b.byteOffset, b.length) });
          });
        },
      );
      r.on('error', (e: NodeJS.ErrnoException) => {
        if (signal.aborted) reject(signal.reason);
        else if (e.code === 'HPE_HEADER_OVERFLOW') reject(new FetchLimitError('headers', req.url, plugin, MAX_HEADER_BYTES, 'the response headers are too large'));
        else reject(new FetchFailedError(req.url, plugin, e.message));
      });
      if (req.body !== null && req.body !== undefined) r.end(typeof req.body === 'string' ? req.body : Buffer.from(req.body));
      else r.end();
    });
  }
}
