/**
 * X-Forwarded-* as Traefik handles them (entryPoints.<name>.forwardedHeaders): a client's own
 * X-Forwarded-* and X-Real-Ip headers are dropped before routing unless the peer is in
 * `trustedIPs` (or `insecure: true`), then the gateway fills in what is missing: -For (appended),
 * -Proto, -Host, -Port, -Server and X-Real-Ip.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { BlockList } from 'node:net';
import os from 'node:os';
import { ipIn } from './ipnet.js';
import type { ForwardedPolicy } from '../config/model.js';
/** Declared in the config model (model.ts), re-exported for the modules that use them with this one. */
export type { ForwardedPolicy };

/** The headers Traefik removes from untrusted peers. */
const FORWARDED = new Set([
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-server',
  'x-forwarded-uri',
  'x-forwarded-method',
  'x-forwarded-prefix',
  'x-forwarded-tls-client-cert',
  'x-forwarded-tls-client-cert-info',
  'x-real-ip',
]);

const SERVER = os.hostname();

/** Whether the headers of a peer are kept. */
export function trustsPeer(policy: ForwardedPolicy, peer: string): boolean {
  return policy.insecure || (policy.trusted !== undefined && ipIn(policy.trusted, peer));
}

/**
 * The request headers as routing and middlewares see them: the client's, without X-Forwarded-*
 * from an untrusted peer. When nothing is removed this is `headers` itself, not a copy: the
 * exchange copies it once, the first time a middleware changes it (Exchange.ownHeaders).
 */
export function inboundHeaders(headers: IncomingHttpHeaders, trusted: boolean): IncomingHttpHeaders {
  if (!trusted) {
    for (const k in headers) {
      if (k.charCodeAt(0) === 120 /* x */ && FORWARDED.has(k)) return stripForwarded(headers);
    }
  }
  return headers;
}

function stripForwarded(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const k in headers) if (!FORWARDED.has(k)) out[k] = headers[k];
  return out;
}

/** Fill the X-Forwarded-* headers the upstream gets (on the copy made for it). */
export function addForwarded(out: OutgoingHttpHeaders, client: string, host: string | undefined, tls: boolean, websocket: boolean): void {
  const xff = out['x-forwarded-for'];
  out['x-forwarded-for'] = typeof xff === 'string' && xff ? `${xff}, ${client}` : client;
  if (out['x-forwarded-proto'] === undefined) out['x-forwarded-proto'] = websocket ? (tls ? 'wss' : 'ws') : tls ? 'https' : 'http';
  if (host !== undefined && out['x-forwarded-host'] === undefined) out['x-forwarded-host'] = host;
  if (out['x-forwarded-port'] === undefined) out['x-forwarded-port'] = portOf(host) ?? (tls ? '443' : '80');
  out['x-forwarded-server'] = SERVER;
  if (out['x-real-ip'] === undefined) out['x-real-ip'] = client;
}

/** The port of a Host value (`a.example:8080`, `[::1]:8080`), or undefined (scanned, not a regular expression: it runs on every request). */
function portOf(host: string | undefined): string | undefined {
  if (!host) return undefined;
  let i = host.length - 1;
  while (i >= 0) {
    const c = host.charCodeAt(i);
    if (c < 48 || c > 57) break;
    i--;
  }
  if (i < 0 || i === host.length - 1 || host.charCodeAt(i) !== 58 /* : */) return undefined;
  // `[::1]` alone has no port: its last colon is inside the brackets.
  if (host.charCodeAt(0) === 91 /* [ */ && host.charCodeAt(i - 1) !== 93 /* ] */) return undefined;
  return host.slice(i + 1);
}
