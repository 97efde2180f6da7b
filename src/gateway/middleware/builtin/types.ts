/**
 * The contract of the built-in (native) middlewares. It is the plugin middlewares' contract
 * (`onRequest(req, ctx)` / `onResponse(res, ctx)` returning the same decisions, the same
 * `requestBody` / `responseBody` / `requestHeaders` declarations), so a router's chain mixes
 * built-ins and plugins freely and the gateway runs both the same way. Built-ins run in the
 * gateway process (no sandbox), and `ctx.exchange` gives the few that need more than the plugin
 * contract (compress, retry, circuitBreaker, inFlightReq, buffering) the request in flight.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { MiddlewareContext, MiddlewareRequest, MiddlewareResponse, RequestDecision, ResponseDecision } from '../contract.js';
import type { UpstreamFailure } from '../../services/proxy.js';

/** What a built-in may see and change of the request in flight (the gateway's Exchange). */
export interface NativeExchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The buffered request body, when some middleware asked for it. */
  body: Buffer | undefined;
  status: number;
  resHeaders: OutgoingHttpHeaders;
  /** The buffered response body, or undefined when it streams (resStream). */
  resBody: Buffer | undefined;
  resStream: Readable | undefined;
  /** Chunks already read from resStream, sent before the rest. */
  resPrefix: Buffer[] | undefined;
  /** Set when the upstream could not be reached (the gateway answers 502/504 itself). */
  upstreamError: UpstreamFailure | undefined;
  /**
   * Called when the upstream fails, before the gateway answers for it: return true to take the
   * request over (retry calls `forward()` again later).
   */
  onUpstreamFailure: ((f: UpstreamFailure) => boolean) | undefined;
  /** Send the request upstream (again). */
  forward(): void;
  /** Path and query as they will be sent upstream (after earlier rewrites). */
  url(): string;
}

/** `ctx` of a built-in: the plugin context plus the exchange. */
export interface BuiltinContext extends MiddlewareContext {
  exchange: NativeExchange;
}

type Result<T> = T | null | undefined | Promise<T | null | undefined>;

/** One configured built-in middleware, ready to run. */
export interface BuiltinMiddleware {
  onRequest?(req: MiddlewareRequest, ctx: BuiltinContext): Result<RequestDecision>;
  onResponse?(res: MiddlewareResponse, ctx: BuiltinContext): Result<ResponseDecision>;
  /** As a plugin's meta.gateway.requestBody.maxBytes: the request body is buffered (413 past it). */
  requestBodyMax?: number;
  /** As a plugin's meta.gateway.responseBody.maxBytes. */
  responseBodyMax?: number;
  /** Timers and sockets to release when the configuration is replaced. */
  dispose?(): void;
}

/** What a built-in's factory gets besides its options. */
export interface BuildEnv {
  /** This middleware's name in the file. */
  name: string;
  /** The directory of the file it came from (for usersFile). */
  baseDir: string;
  /** Report a problem at a path under this middleware's options (`['users', 2]`). */
  issue(path: (string | number)[], message: string): void;
}

/** A built-in middleware type: its Traefik key, the JSON schema of its options, a factory. */
export interface BuiltinDefinition {
  /** The key under `http.middlewares.<name>`, e.g. `stripPrefix`. */
  type: string;
  /** The options' JSON schema (Traefik's names); defaults are filled before `create`. */
  schema: Record<string, unknown>;
  /** Build the middleware, or report problems through env.issue and return undefined. */
  create(options: Record<string, unknown>, env: BuildEnv): BuiltinMiddleware | undefined;
}

/** Define a built-in (typed options, checked by the schema before create runs). */
export function defineBuiltin<O>(type: string, schema: Record<string, unknown>, create: (options: O, env: BuildEnv) => BuiltinMiddleware | undefined): BuiltinDefinition {
  return { type, schema, create: create as (o: Record<string, unknown>, env: BuildEnv) => BuiltinMiddleware | undefined };
}

/** A plain-text answer like Traefik's (`http.StatusText`). */
export function textResponse(status: number, text: string, headers: Record<string, string> = {}): RequestDecision {
  return { respond: { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...headers }, body: text } };
}

/** Schema helpers. */
export const str = { type: 'string' } as const;
export const strList = { type: 'array', items: { type: 'string' } } as const;
export const bool = { type: 'boolean' } as const;
export const int = (min = 0) => ({ type: 'integer', minimum: min }) as const;
export function obj(properties: Record<string, unknown>, required: string[] = []): Record<string, unknown> {
  return { type: 'object', additionalProperties: false, properties, ...(required.length ? { required } : {}) };
}

/** Compile a Traefik (Go RE2) regular expression as JavaScript, or say why it cannot be. */
export function goRegExp(source: string, flags = ''): RegExp | string {
  // Go's (?i) prefix flags are common in Traefik configs; JS has no inline flags before Node 23.
  let src = source;
  let f = flags;
  const m = /^\(\?([imsU]+)\)/.exec(src);
  if (m) {
    for (const c of m[1]!) if (c === 'i' || c === 'm' || c === 's') f += f.includes(c) ? '' : c;
    src = src.slice(m[0].length);
  }
  // Go names groups (?P<name>...); JavaScript (?<name>...).
  src = src.replace(/\(\?P</g, '(?<');
  try {
    return new RegExp(src, f);
  } catch (e) {
    return `invalid regular expression: ${(e as Error).message}`;
  }
}

/** Go replacement templates (`$1`, `${1}`, `${name}`) as JavaScript's (`$1`, `$<name>`). */
export function goReplacement(r: string): string {
  return r.replace(/\$\{([0-9]+)\}/g, '$$$1').replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, '$$<$1>');
}


/** Whether the request reached the gateway over TLS (a seam for the TLS entry points). */
export function isTls(ctx: BuiltinContext): boolean {
  return Boolean((ctx.exchange.req.socket as { encrypted?: boolean }).encrypted);
}
