/** What every service type is to the request path: something that forwards a request and calls back once. */
import type { IncomingMessage } from 'node:http';
import type { Outgoing, UpstreamCall, UpstreamFailure } from '../proxy.js';

export type Done = (failure: UpstreamFailure | undefined, res: IncomingMessage | undefined) => void;

export interface Forwarder {
  forward(out: Outgoing, done: Done): UpstreamCall;
  /** Whether it can take requests (some server or child is up), for parents with healthCheck. */
  healthy(): boolean;
  /** Stop health checks. */
  dispose(): void;
}

/** 503 when no server can take the request, as Traefik answers. */
export function noServer(service: string): UpstreamFailure {
  // The type lists the statuses proxy.ts makes; the gateway answers whatever status it is given.
  return { kind: 'error', status: 503 as 502, message: 'no available server', detail: `service "${service}" has no healthy server` };
}

export const NOOP_CALL: UpstreamCall = { abort() {} };
