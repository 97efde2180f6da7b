/**
 * The gateway's own answers (Traefik's text or JSON) and the write of an exchange's response.
 * Functions of the exchange's state (state.ts).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { PluginThrownError, TerrariumError } from '../../errors.js';
import type { Exchange } from './state.js';

export type { ExchangeEnv } from './state.js';

export const JSON_TYPE = 'application/json; charset=utf-8';
const EMPTY = Buffer.alloc(0);

export const TEXT_TYPE = 'text/plain; charset=utf-8';

/**
 * The bodies Traefik (Go's net/http) answers with: `http.NotFound` for no router, else
 * `http.StatusText`. Go's wording, where it differs from node's STATUS_CODES (413).
 */
const GO_STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  404: '404 page not found\n',
  413: 'Request Entity Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/**
 * The body and type of an error the gateway answers itself: Traefik's text, or JSON when
 * configured. `json` is a prepared JSON body that stays JSON either way: a plugin middleware's
 * failure (Terrarium's own answer, no Traefik counterpart) names the middleware and the code.
 */
export function errorBody(status: number, json: unknown, jsonErrors: boolean, text?: string): { type: string; body: string } {
  if (text !== undefined) return { type: JSON_TYPE, body: text };
  if (jsonErrors) return { type: JSON_TYPE, body: JSON.stringify(json) };
  // A malformed request keeps its reason (which escape, which header): the client can fix it.
  const reason = (json as { error?: unknown } | undefined)?.error;
  if (status === 400 && typeof reason === 'string') return { type: TEXT_TYPE, body: `400 Bad Request: ${reason}` };
  return { type: TEXT_TYPE, body: GO_STATUS_TEXT[status] ?? String(status) };
}

/** An error answer the gateway makes itself, outside any exchange (400, 404, 500). */
export function plainResponse(res: ServerResponse, status: number, json: unknown, closing: boolean, jsonErrors = true): void {
  const { type, body } = errorBody(status, json, jsonErrors);
  if (closing) res.shouldKeepAlive = false;
  // Go's http.Error sets nosniff on its text answers; Traefik's 404 and proxy errors carry it.
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...(jsonErrors ? {} : { 'x-content-type-options': 'nosniff' }) });
  res.end(body);
}

export function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  if (cl !== undefined) return cl !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}


/**
 * Run a continuation (promise callback, stream event) so that a bug of ours answers 500 instead
 * of becoming an unhandled rejection or exception that would take the process down.
 */
export function guard(x: Exchange, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    x.env.logger.error({ router: x.router.name, err: (e as Error)?.message }, `internal error: ${(e as Error)?.stack ?? String(e)}`);
    if (!x.res.headersSent && !x.sent) {
      x.sent = true;
      plainResponse(x.res, 500, { error: 'internal gateway error' }, x.env.closing, x.env.jsonErrors);
    } else x.res.destroy();
  }
}

/** Replace the response with an error the gateway makes itself (Traefik's text, or JSON). */
export function local(x: Exchange, status: number, json: unknown, text?: string): void {
  dropUpstreamBody(x);
  x.upRes = undefined;
  x.status = status;
  x.reason = undefined;
  const { type, body } = errorBody(status, json, x.env.jsonErrors, text);
  x.resHeaders = type === JSON_TYPE ? { 'content-type': type } : { 'content-type': type, 'x-content-type-options': 'nosniff' };
  x.resBody = Buffer.from(body, 'utf8');
}

export function dropUpstreamBody(x: Exchange): void {
  if (x.resStream) {
    // Drained, not destroyed, so the keep-alive connection to the upstream can be reused.
    x.resStream.resume();
    x.resStream = undefined;
  }
  x.resPrefix = undefined;
}

/** The status line and headers, with a middleware's reason phrase on HTTP/1.1 (HTTP/2 has no reason phrase). */
function writeHead(x: Exchange, headers: OutgoingHttpHeaders): void {
  if (x.reason !== undefined && x.req.httpVersionMajor === 1) x.res.writeHead(x.status, x.reason, headers);
  else x.res.writeHead(x.status, headers);
}

/** Write the response as the middlewares left it (once). */
export function send(x: Exchange): void {
  if (x.aborted || x.sent) return;
  x.sent = true;
  const res = x.res;
  if (x.env.closing) res.shouldKeepAlive = false;
  const headers = x.resHeaders;
  try {
    if (x.resBody !== undefined) {
      delete headers['transfer-encoding'];
      if (x.req.method !== 'HEAD' || headers['content-length'] === undefined) headers['content-length'] = String(x.resBody.length);
      writeHead(x, headers);
      res.end(x.req.method === 'HEAD' ? undefined : x.resBody);
      return;
    }
    writeHead(x, headers);
    const stream = x.resStream;
    if (!stream) {
      res.end();
      return;
    }
    if (x.resPrefix) for (const c of x.resPrefix) res.write(c);
    stream.pipe(res);
    stream.resume();
  } catch (e) {
    x.env.logger.error({ router: x.router.name, err: (e as Error)?.message }, `could not send the response: ${(e as Error)?.message ?? String(e)}`);
    res.destroy();
  }
}

/** The code a middleware's failure is counted and answered with. */
export function errorCode(e: unknown): string {
  // A plugin that let host.kv's ERR_KV_UNAVAILABLE through: name the cause, not just "it threw".
  if (e instanceof PluginThrownError && (e.thrown as { code?: unknown } | null)?.code === 'ERR_KV_UNAVAILABLE') return 'ERR_KV_UNAVAILABLE';
  if (e instanceof TerrariumError) return e.code;
  return 'ERR_GATEWAY';
}
