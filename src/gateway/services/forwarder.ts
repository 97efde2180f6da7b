/** What every service type is to the request path: something that forwards a request and calls back once. */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Outgoing, UpstreamCall, UpstreamFailure } from './proxy.js';

export type Done = (failure: UpstreamFailure | undefined, res: IncomingMessage | undefined) => void;
/** Done of an Upgrade: the upstream's socket (and bytes past its 101 head) when it switched. */
export type UpgradeDone = (failure: UpstreamFailure | undefined, res: IncomingMessage | undefined, socket?: Socket, head?: Buffer) => void;

export interface Forwarder {
  forward(out: Outgoing, done: Done): UpstreamCall;
  /** An Upgrade request (WebSocket) on a connection of its own (websocket.ts); only load balancers have it. */
  upgrade?(out: Outgoing, done: UpgradeDone): UpstreamCall;
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
