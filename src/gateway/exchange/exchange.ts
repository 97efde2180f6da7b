/**
 * One request through the gateway: its state (state.ts) composed with its phases, functions of
 * that state, one file each (issue 22: no class extends another):
 *   request.ts   onRequest from the first middleware to the last;
 *   input.ts     what plugins see of the request (body, headers, query), the pins and ctx of a call;
 *   upstream.ts  forwarding to the service, 1xx, the upstream's response or failure;
 *   response.ts  onResponse from the last middleware that ran down to the first, middleware failures;
 *   answer.ts    the gateway's own answers and the write of the response.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Router } from './runtime.js';
import { Exchange, type ExchangeEnv, type Phases } from './state.js';
import { startRequest } from './request.js';
import { forward } from './upstream.js';

export { Exchange } from './state.js';
export type { ExchangeEnv } from './state.js';

const PHASES: Phases = { start: startRequest, forward };

/** A new exchange for one request (the arguments of the Exchange constructor, without its phases). */
export function newExchange(
  env: ExchangeEnv,
  router: Router,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  rawQuery: string,
  urlChanged: boolean,
  headers: IncomingHttpHeaders,
  host: string | undefined,
  tls: boolean,
): Exchange {
  return new Exchange(env, router, req, res, path, rawQuery, urlChanged, headers, host, tls, PHASES);
}
