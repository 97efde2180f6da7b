/**
 * `headers`: custom request and response headers (an empty value removes the header), the
 * security headers (HSTS, frame options, nosniff, XSS filter, CSP, referrer and permissions
 * policies, allowed hosts) and CORS (preflight answered here, allowed origins by list or regex).
 * @example
 * headers: { customRequestHeaders: { X-Script-Name: test }, frameDeny: true, accessControlAllowOriginList: ['https://a.example'] }
 */
import type { HeaderValue } from '../contract.js';
import { headerText } from './util.js';
import { bool, defineBuiltin, goRegExp, int, isTls, obj, str, strList, textResponse } from './types.js';

interface HeadersOptions {
  customRequestHeaders?: Record<string, string>;
  customResponseHeaders?: Record<string, string>;
  accessControlAllowCredentials?: boolean;
  accessControlAllowHeaders?: string[];
  accessControlAllowMethods?: string[];
  accessControlAllowOriginList?: string[];
  accessControlAllowOriginListRegex?: string[];
  accessControlExposeHeaders?: string[];
  accessControlMaxAge?: number;
  addVaryHeader?: boolean;
  allowedHosts?: string[];
  hostsProxyHeaders?: string[];
  stsSeconds?: number;
  stsIncludeSubdomains?: boolean;
  stsPreload?: boolean;
  forceSTSHeader?: boolean;
  frameDeny?: boolean;
  customFrameOptionsValue?: string;
  contentTypeNosniff?: boolean;
  browserXssFilter?: boolean;
  customBrowserXSSValue?: string;
  contentSecurityPolicy?: string;
  contentSecurityPolicyReportOnly?: string;
  publicKey?: string;
  referrerPolicy?: string;
  permissionsPolicy?: string;
  isDevelopment?: boolean;
}

const headerMap = { type: 'object', additionalProperties: { type: 'string' } };
const schema = obj({
  customRequestHeaders: headerMap,
  customResponseHeaders: headerMap,
  accessControlAllowCredentials: bool,
  accessControlAllowHeaders: strList,
  accessControlAllowMethods: strList,
  accessControlAllowOriginList: strList,
  accessControlAllowOriginListRegex: strList,
  accessControlExposeHeaders: strList,
  accessControlMaxAge: int(0),
  addVaryHeader: bool,
  allowedHosts: strList,
  hostsProxyHeaders: strList,
  stsSeconds: int(0),
  stsIncludeSubdomains: bool,
  stsPreload: bool,
  forceSTSHeader: bool,
  frameDeny: bool,
  customFrameOptionsValue: str,
  contentTypeNosniff: bool,
  browserXssFilter: bool,
  customBrowserXSSValue: str,
  contentSecurityPolicy: str,
  contentSecurityPolicyReportOnly: str,
  publicKey: str,
  referrerPolicy: str,
  permissionsPolicy: str,
  isDevelopment: bool,
});

export default defineBuiltin<HeadersOptions>('headers', schema, (o, env) => {
  const reqSet: Record<string, string> = {};
  const reqRemove: string[] = [];
  for (const [k, v] of Object.entries(o.customRequestHeaders ?? {})) {
    if (v === '') reqRemove.push(k);
    else reqSet[k] = v;
  }
  const resSet: Record<string, string> = {};
  const resRemove: string[] = [];
  for (const [k, v] of Object.entries(o.customResponseHeaders ?? {})) {
    if (v === '') resRemove.push(k);
    else resSet[k] = v;
  }
  const origins = o.accessControlAllowOriginList ?? [];
  const originRes: RegExp[] = [];
  (o.accessControlAllowOriginListRegex ?? []).forEach((r, i) => {
    const re = goRegExp(r);
    if (typeof re === 'string') env.issue(['accessControlAllowOriginListRegex', i], re);
    else originRes.push(re);
  });
  // Any CORS option turns CORS handling on (preflights answered here), as in Traefik.
  const cors = Object.keys(o).some((k) => k.startsWith('accessControl')) || o.addVaryHeader === true;
  const allowOrigin = (origin: string): string | undefined => {
    if (!origin) return undefined;
    if (origins.includes('*')) return '*';
    if (origins.includes(origin) || originRes.some((re) => re.test(origin))) return origin;
    return undefined;
  };
  // Security headers that do not depend on the request.
  const security: Record<string, string> = {};
  if (o.customFrameOptionsValue) security['x-frame-options'] = o.customFrameOptionsValue;
  else if (o.frameDeny) security['x-frame-options'] = 'DENY';
  if (o.contentTypeNosniff) security['x-content-type-options'] = 'nosniff';
  if (o.customBrowserXSSValue) security['x-xss-protection'] = o.customBrowserXSSValue;
  else if (o.browserXssFilter) security['x-xss-protection'] = '1; mode=block';
  if (o.contentSecurityPolicy) security['content-security-policy'] = o.contentSecurityPolicy;
  if (o.contentSecurityPolicyReportOnly) security['content-security-policy-report-only'] = o.contentSecurityPolicyReportOnly;
  if (o.publicKey) security['public-key-pins'] = o.publicKey;
  if (o.referrerPolicy) security['referrer-policy'] = o.referrerPolicy;
  if (o.permissionsPolicy) security['permissions-policy'] = o.permissionsPolicy;
  let sts = '';
  if ((o.stsSeconds ?? 0) > 0) {
    sts = `max-age=${o.stsSeconds}`;
    if (o.stsIncludeSubdomains) sts += '; includeSubDomains';
    if (o.stsPreload) sts += '; preload';
  }
  const hostHeaders = (o.hostsProxyHeaders ?? []).map((h) => h.toLowerCase());
  const allowedHosts = (o.allowedHosts ?? []).map((h) => h.toLowerCase());
  const hasSecurity = Object.keys(security).length > 0 || sts !== '' || allowedHosts.length > 0;
  const resHeaders = Object.keys(resSet).length > 0 || resRemove.length > 0;

  return {
    onRequest(req, ctx) {
      const origin = headerText(req.headers.origin);
      const state: Record<string, unknown> = {};
      if (cors && req.method === 'OPTIONS' && origin && req.headers['access-control-request-method'] !== undefined) {
        // A preflight is answered here (Traefik does not forward it).
        const h: Record<string, string> = {};
        const allowed = allowOrigin(origin);
        if (o.accessControlAllowCredentials) h['access-control-allow-credentials'] = 'true';
        if (o.accessControlAllowHeaders?.length) h['access-control-allow-headers'] = o.accessControlAllowHeaders.join(',');
        if (o.accessControlAllowMethods?.length) h['access-control-allow-methods'] = o.accessControlAllowMethods.join(',');
        if (allowed) h['access-control-allow-origin'] = allowed;
        h['access-control-max-age'] = String(o.accessControlMaxAge ?? 0);
        return { respond: { status: 200, headers: h } };
      }
      if (allowedHosts.length > 0 && !o.isDevelopment) {
        let host = '';
        for (const hh of hostHeaders) if (!host) host = headerText(req.headers[hh]);
        host ||= headerText(req.headers.host);
        if (!allowedHosts.includes(host.toLowerCase())) return textResponse(400, 'Bad Host');
      }
      if (cors) state.origin = origin;
      if (sts) state.tls = isTls(ctx);
      if (Object.keys(reqSet).length === 0 && reqRemove.length === 0) return cors || sts ? { state } : undefined;
      return { setHeaders: reqSet, removeHeaders: reqRemove, state };
    },
    onResponse(_res, ctx) {
      if (!cors && !hasSecurity && !resHeaders) return undefined;
      const set: Record<string, HeaderValue> = {};
      if (!o.isDevelopment) {
        Object.assign(set, security);
        if (sts && (ctx.state.tls === true || o.forceSTSHeader)) set['strict-transport-security'] = sts;
      }
      if (cors) {
        const origin = String(ctx.state.origin ?? '');
        const allowed = allowOrigin(origin);
        if (allowed) set['access-control-allow-origin'] = allowed;
        if (allowed && o.accessControlAllowCredentials) set['access-control-allow-credentials'] = 'true';
        if (allowed && o.accessControlExposeHeaders?.length) set['access-control-expose-headers'] = o.accessControlExposeHeaders.join(',');
        if (o.addVaryHeader && !origins.includes('*')) set.vary = varyWithOrigin(_res.headers.vary);
      }
      Object.assign(set, resSet);
      return { setHeaders: set, removeHeaders: resRemove };
    },
  };
});

function varyWithOrigin(v: string | string[] | undefined): string {
  const text = headerText(v);
  if (!text) return 'Origin';
  return text.split(',').some((x) => x.trim().toLowerCase() === 'origin') ? text : `${text}, Origin`;
}
