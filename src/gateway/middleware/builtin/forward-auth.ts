/**
 * `forwardAuth`: asks `address` (GET, or the request's method with `preserveRequestMethod`) with
 * the request's headers plus X-Forwarded-Method/-Proto/-Host/-Uri/-For; a 2xx answer lets the
 * request through with `authResponseHeaders` (and those matching `authResponseHeadersRegex`) copied
 * onto it, any other answer is sent to the client as it is. `addAuthCookiesToResponse` copies the
 * named cookies the auth server set onto the final response. Unreachable: 500.
 * @example
 * forwardAuth: { address: 'http://auth.local/verify', authResponseHeaders: [X-User] }
 */
import http from 'node:http';
import https from 'node:https';
import type { HeaderValue } from '../contract.js';
import { withoutHopByHop } from '../../services/proxy.js';
import { plainIp } from './ip-strategy.js';
import { headerText } from './util.js';
import { bool, defineBuiltin, goRegExp, int, isTls, obj, str, strList, textResponse } from './types.js';

interface ForwardAuthOptions {
  address: string;
  trustForwardHeader?: boolean;
  authResponseHeaders?: string[];
  authResponseHeadersRegex?: string;
  authRequestHeaders?: string[];
  addAuthCookiesToResponse?: string[];
  forwardBody?: boolean;
  maxBodySize?: number;
  preserveLocationHeader?: boolean;
  preserveRequestMethod?: boolean;
  headerField?: string;
  tls?: Record<string, unknown>;
}

/** How long the auth server has to answer. */
const AUTH_TIMEOUT_MS = 30_000;
const MAX_AUTH_BODY = 1 << 20;

export default defineBuiltin<ForwardAuthOptions>(
  'forwardAuth',
  obj(
    {
      address: str,
      trustForwardHeader: bool,
      authResponseHeaders: strList,
      authResponseHeadersRegex: str,
      authRequestHeaders: strList,
      addAuthCookiesToResponse: strList,
      forwardBody: bool,
      maxBodySize: { type: 'integer', minimum: -1 },
      preserveLocationHeader: bool,
      preserveRequestMethod: bool,
      headerField: str,
      tls: { type: 'object' },
    },
    ['address'],
  ),
  (o, env) => {
    let url: URL | undefined;
    try {
      url = new URL(o.address);
    } catch {
      /* below */
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) env.issue(['address'], `must be an http:// or https:// URL (got "${o.address}")`);
    if (o.tls !== undefined) env.issue(['tls'], 'forwardAuth.tls (client certificates, CA) is not supported; use an http:// address or a public https:// one');
    if (o.headerField !== undefined) env.issue(['headerField'], 'headerField is not supported');
    let re: RegExp | undefined;
    if (o.authResponseHeadersRegex) {
      const r = goRegExp(o.authResponseHeadersRegex, 'i');
      if (typeof r === 'string') env.issue(['authResponseHeadersRegex'], r);
      else re = r;
    }
    if (!url) return undefined;
    const target = url;
    const copy = (o.authResponseHeaders ?? []).map((h) => h.toLowerCase());
    const only = o.authRequestHeaders?.map((h) => h.toLowerCase());
    const cookies = o.addAuthCookiesToResponse ?? [];
    const client = target.protocol === 'https:' ? https : http;
    return {
      requestBodyMax: o.forwardBody ? (o.maxBodySize !== undefined && o.maxBodySize > 0 ? o.maxBodySize : 64 << 20) : 0,
      onRequest(req, ctx) {
        const ex = ctx.exchange;
        const headers: Record<string, string | string[]> = {};
        const src = withoutHopByHop(req.headers);
        for (const [k, v] of Object.entries(src)) {
          if (only && !only.includes(k)) continue;
          if (k === 'content-length' || k === 'host') continue;
          headers[k] = Array.isArray(v) ? v : String(v);
        }
        const ip = plainIp(req.client.address);
        const xff = headerText(req.headers['x-forwarded-for']);
        headers['x-forwarded-for'] = o.trustForwardHeader && xff ? `${xff}, ${ip}` : ip;
        headers['x-forwarded-method'] = req.method;
        headers['x-forwarded-proto'] = o.trustForwardHeader && req.headers['x-forwarded-proto'] ? headerText(req.headers['x-forwarded-proto']) : isTls(ctx) ? 'https' : 'http';
        headers['x-forwarded-host'] = o.trustForwardHeader && req.headers['x-forwarded-host'] ? headerText(req.headers['x-forwarded-host']) : headerText(req.headers.host);
        headers['x-forwarded-uri'] = o.trustForwardHeader && req.headers['x-forwarded-uri'] ? headerText(req.headers['x-forwarded-uri']) : ex.url();
        const body = o.forwardBody ? ex.body : undefined;
        if (body) headers['content-length'] = String(body.length);
        return new Promise((resolve) => {
          const r = client.request(target, { method: o.preserveRequestMethod ? req.method : 'GET', headers, agent: false, timeout: AUTH_TIMEOUT_MS }, (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (c: Buffer) => {
              size += c.length;
              if (size <= MAX_AUTH_BODY) chunks.push(c);
            });
            res.on('error', () => resolve(textResponse(500, 'Internal Server Error')));
            res.on('end', () => {
              const status = res.statusCode ?? 500;
              if (status >= 200 && status < 300) {
                const set: Record<string, HeaderValue> = {};
                const remove: string[] = [];
                for (const h of copy) {
                  const v = res.headers[h];
                  if (v === undefined) remove.push(h);
                  else set[h] = Array.isArray(v) ? v : String(v);
                }
                if (re) for (const [h, v] of Object.entries(res.headers)) if (v !== undefined && re.test(h)) set[h] = Array.isArray(v) ? v : String(v);
                const setCookies = (res.headers['set-cookie'] ?? []).filter((c) => cookies.includes(c.split('=')[0]!.trim()));
                resolve({ setHeaders: set, removeHeaders: remove, ...(setCookies.length ? { state: { cookies: setCookies } } : {}) });
                return;
              }
              const h = withoutHopByHop(res.headers) as Record<string, HeaderValue>;
              delete h['content-length'];
              const loc = h.location;
              if (typeof loc === 'string' && !o.preserveLocationHeader) h.location = new URL(loc, target).toString();
              resolve({ respond: { status: status < 200 ? 500 : status, headers: h, body: Buffer.concat(chunks) } });
            });
          });
          r.on('timeout', () => r.destroy(new Error('timeout')));
          r.on('error', () => resolve(textResponse(500, 'Internal Server Error')));
          r.end(body);
        });
      },
      ...(cookies.length
        ? {
            onResponse(res, ctx) {
              const add = ctx.state.cookies as string[] | undefined;
              if (!add?.length) return undefined;
              const existing = res.headers['set-cookie'];
              const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [existing];
              return { setHeaders: { 'set-cookie': [...list, ...add] } };
            },
          }
        : {}),
    };
  },
);
