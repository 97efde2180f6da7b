/**
 * The built-in `echo` service: an in-process upstream that answers with the request it received
 * (after the middlewares and the gateway's forwarding headers) as JSON, so that demos and tests
 * need no other server.
 */
import type { OutgoingHttpHeaders } from 'node:http';

/** Bodies larger than this are not echoed (413). */
export const ECHO_MAX_BODY = 1 << 20;

/** What the echo service received. */
export interface EchoedRequest {
  method: string;
  /** Path and query, as an upstream would see them. */
  url: string;
  path: string;
  query: Record<string, string | string[]>;
  headers: OutgoingHttpHeaders;
  /** The body as UTF-8 text ('' when there is none). */
  body: string;
}

/** The echo service's answer: status 200, JSON. */
export function echo(request: EchoedRequest): { status: number; headers: Record<string, string>; body: Buffer } {
  return {
    status: 200,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: Buffer.from(`${JSON.stringify(request, null, 2)}\n`, 'utf8'),
  };
}
