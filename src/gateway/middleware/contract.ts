/**
 * The middleware contract, as plugins see it (the same for JavaScript and Lua): what `onRequest`
 * and `onResponse` receive and may return, and what a plugin declares in `meta.gateway`. Types
 * only; middleware.ts binds plugins to it and checks what they return.
 */

/** What `onRequest` receives as `req`. */
export interface MiddlewareRequest {
  method: string;
  /** The path, after the rewrites of earlier middlewares; no query. */
  path: string;
  /** The parsed query: a value per key, an array when the key repeats. */
  query: Record<string, string | string[]>;
  /** Lower-cased names; string values (set-cookie: an array). */
  headers: Record<string, string | string[]>;
  /** `local`: the gateway's address:port the client connected to (`[v6]:port`). */
  client: { address: string; port: number; local?: string };
  /** The body as UTF-8 text: only for plugins that declare `meta.gateway.requestBody`. */
  body?: string;
}

/** The second argument of both phases. */
export interface MiddlewareContext {
  /** This middleware's config from the gateway file (with the plugin's schema defaults filled). */
  config: unknown;
  /** What this middleware returned as `state` from `onRequest` for this request ({} at first). */
  state: Record<string, unknown>;
  /** The router that matched. */
  router: string;
  /** This middleware's name in the gateway file. */
  middleware: string;
}

/** A header value plugins may set: a string (or number), or several for repeated headers. */
export type HeaderValue = string | number | string[];

/** What `onRequest` may return (nothing, null or {} continues unchanged). */
export interface RequestDecision {
  setHeaders?: Record<string, HeaderValue>;
  removeHeaders?: string[] | string;
  /** A new path (starting with '/'); later middlewares and the upstream see it. */
  path?: string;
  /** A new query (replaces the whole query). */
  query?: Record<string, string | string[]>;
  /** A new body (only for plugins that declare `meta.gateway.requestBody`). */
  body?: string;
  /** Kept for this middleware's `onResponse` of the same request, as `ctx.state`. */
  state?: Record<string, unknown>;
  /** Answer now: the rest of the chain and the upstream are skipped. */
  respond?: { status?: number; headers?: Record<string, HeaderValue>; body?: unknown };
}

/** What `onResponse` receives as `res`. */
export interface MiddlewareResponse {
  status: number;
  headers: Record<string, string | string[]>;
  /** The body as UTF-8 text: only for plugins that declare `meta.gateway.responseBody` and bodies within its maxBytes. */
  body?: string;
}

/** What `onResponse` may return (nothing keeps the response as it is). */
export interface ResponseDecision {
  status?: number;
  /** The HTTP/1.1 status line's reason phrase (Envoy's `setHttp1ReasonPhrase`); HTTP/2 has none. */
  reason?: string;
  setHeaders?: Record<string, HeaderValue>;
  removeHeaders?: string[] | string;
  /** Replaces the body (any plugin may; only declared ones see the old one). */
  body?: unknown;
}

/**
 * The exports of a middleware plugin, for `host.get<Middleware>(name)`.
 * @example
 * // plugins/deny.js
 * export const meta = { name: 'deny', version: '1.0.0', apiVersion: 1, configSchema: { type: 'object', properties: { header: { type: 'string' } } } };
 * export function onRequest(req, ctx) {
 *   if (req.headers[ctx.config.header]) return { respond: { status: 403, body: { error: 'denied' } } };
 * }
 */
export interface Middleware {
  onRequest?(req: MiddlewareRequest, ctx: MiddlewareContext): RequestDecision | null | undefined | Promise<RequestDecision | null | undefined>;
  onResponse?(res: MiddlewareResponse, ctx: MiddlewareContext): ResponseDecision | null | undefined | Promise<ResponseDecision | null | undefined>;
}

/** `meta.gateway` of a plugin. */
export interface GatewayMeta {
  requestBody?: { maxBytes: number } | boolean;
  responseBody?: { maxBytes: number } | boolean;
  /**
   * The request headers the plugin reads (lower-case names). Only those are copied into its
   * `req.headers`: copying is most of what a call costs, so a middleware that looks at one header
   * should say so. Default: every header.
   */
  requestHeaders?: string[];
  /**
   * Each request header the client repeated reaches `req.headers` as the list of its values as
   * sent, not node's joined `a, b` (Envoy filters set it: their getAtIndex and getNumValues count them).
   */
  repeatedHeaders?: boolean;
}
