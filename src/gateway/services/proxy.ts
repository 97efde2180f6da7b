/**
 * Forwarding to upstream servers: node:http / node:https with one keep-alive agent per server and
 * servers transport, round-robin across a service's servers, a dial timeout and a response-header
 * timeout (from the end of the request body, as Go's Transport), 1xx responses passed on, Upgrade
 * requests, and upstream failures sorted into the kinds the gateway answers with (502
 * refused/reset/error, 504 timeout).
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { ResolvedService } from '../config/model.js';
import { addForwarded } from '../routing/forwarded.js';
import type { ResolvedTransport } from '../config/model.js';

/** Headers that describe one connection, never forwarded (RFC 9110 section 7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/**
 * A copy of a header object without the hop-by-hop headers (and those the Connection header
 * names). A copy, not `delete`s: deleting keys turns an object into a slow dictionary (measured
 * 0.7 µs against 0.1 µs per response).
 */
export function withoutHopByHop(headers: Record<string, string | string[] | number | undefined>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  let conn: unknown;
  for (const k in headers) {
    const v = headers[k];
    if (v === undefined) continue;
    if (HOP_BY_HOP.has(k)) {
      if (k === 'connection') conn = v;
      continue;
    }
    out[k] = v;
  }
  if (typeof conn === 'string' && conn !== 'keep-alive' && conn !== 'close') {
    for (const name of conn.split(',')) delete out[name.trim().toLowerCase()];
  }
  return out;
}

/**
 * The headers sent upstream: the client's (after middleware changes; X-Forwarded-* of untrusted
 * peers already removed) minus hop-by-hop ones, plus X-Forwarded-* as Traefik sends them.
 */
export function upstreamHeaders(headers: IncomingHttpHeaders, client: string, originalHost: string | undefined, tls = false, websocket = false): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  let conn: string | undefined;
  for (const k in headers) {
    const v = headers[k];
    if (v === undefined) continue;
    if (HOP_BY_HOP.has(k)) {
      if (k === 'connection' && typeof v === 'string') conn = v;
      continue;
    }
    out[k] = v;
  }
  if (conn && conn !== 'keep-alive' && conn !== 'close') {
    for (const name of conn.split(',')) delete out[name.trim().toLowerCase()];
  }
  addForwarded(out, client, originalHost, tls, websocket);
  return out;
}

/** How an upstream request failed, and what the client is told. */
export interface UpstreamFailure {
  kind: 'refused' | 'reset' | 'timeout' | 'error';
  status: 502 | 504;
  /** For the client: what happened, without internals. */
  message: string;
  /** For the log. */
  detail: string;
}

class UpstreamTimeout extends Error {
  constructor(readonly phase: 'dial' | 'response', ms: number) {
    super(phase === 'dial' ? `connecting took longer than ${ms} ms` : `no response headers within ${ms} ms`);
  }
}

function classify(err: unknown): UpstreamFailure {
  if (err instanceof UpstreamTimeout) {
    return { kind: 'timeout', status: 504, message: err.phase === 'dial' ? 'upstream connect timeout' : 'upstream timeout', detail: err.message };
  }
  const e = err as NodeJS.ErrnoException;
  const detail = `${e?.code ?? ''} ${e?.message ?? String(err)}`.trim();
  switch (e?.code) {
    case 'ECONNREFUSED':
      return { kind: 'refused', status: 502, message: 'upstream refused the connection', detail };
    case 'ECONNRESET':
    case 'EPIPE':
      return { kind: 'reset', status: 502, message: 'upstream closed the connection', detail };
    case 'ETIMEDOUT':
      return { kind: 'timeout', status: 504, message: 'upstream timeout', detail };
    default:
      return { kind: 'error', status: 502, message: 'upstream unreachable', detail };
  }
}

/** Keep-alive agents, one per origin, idle timeout and TLS settings, shared by every config the gateway runs. */
export class AgentPool {
  private readonly agents = new Map<string, http.Agent>();

  get(origin: string, idleMs: number, tls?: ResolvedTransport['tls']): http.Agent {
    const key = `${origin} ${idleMs}${tls ? ` ${tls.key}` : ''}`;
    let a = this.agents.get(key);
    if (!a) {
      // `timeout` is the idle timeout of pooled sockets (keepSocketAlive applies it to free sockets).
      const opts = { keepAlive: true, timeout: idleMs, maxFreeSockets: 256, scheduling: 'lifo' as const };
      a = origin.startsWith('https:')
        ? new https.Agent({
            ...opts,
            rejectUnauthorized: !(tls?.insecureSkipVerify ?? false),
            ...(tls?.ca ? { ca: tls.ca } : {}),
            ...(tls?.serverName ? { servername: tls.serverName } : {}),
          })
        : new http.Agent(opts);
      this.agents.set(key, a);
    }
    return a;
  }

  destroy(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}

interface Target {
  hostname: string;
  port: number;
  host: string;
  agent: http.Agent;
  request: typeof http.request;
}

/** A request to forward: the body is either buffered, a stream to pipe, or absent. */
export interface Outgoing {
  method: string;
  /** Path and query. */
  url: string;
  headers: OutgoingHttpHeaders;
  body: Buffer | Readable | undefined;
  /** An informational (1xx, not 100 or 101) response of the upstream, to pass on to the client. */
  onInformation?: (status: number, message: string, rawHeaders: string[]) => void;
}

/** An in-flight upstream exchange: `abort()` when the client goes away. */
export interface UpstreamCall {
  abort(): void;
}

/** A round-robin load balancer over a service's servers. */
export class LoadBalancer {
  private readonly targets: Target[];
  private nextIndex = 0;

  constructor(
    readonly spec: Extract<ResolvedService, { kind: 'loadBalancer' }>,
    agents: AgentPool,
  ) {
    this.targets = spec.servers.map((u) => ({
      hostname: u.hostname.replace(/^\[|\]$/g, ''),
      port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
      host: u.host,
      agent: agents.get(u.origin, spec.idleConnTimeoutMs, spec.tls),
      request: u.protocol === 'https:' ? https.request : http.request,
    }));
  }

  /** The next server, round robin; `out` gets its Host when the service does not pass the client's. */
  private next(out: Outgoing): Target {
    const target = this.targets[this.nextIndex]!;
    this.nextIndex = (this.nextIndex + 1) % this.targets.length;
    // An HTTP/1.0 client may send no Host: the upstream gets the server's, as Go's ReverseProxy does.
    if (!this.spec.passHostHeader || out.headers.host === undefined) out.headers.host = target.host;
    return target;
  }

  /**
   * Send `out` to the next server. `done` is called once: with the response, or with a failure.
   * A request whose reused keep-alive socket turns out closed by the server (ECONNRESET before
   * any response) is retried once on a fresh connection, if its body can be sent again.
   */
  forward(out: Outgoing, done: (failure: UpstreamFailure | undefined, res: IncomingMessage | undefined) => void): UpstreamCall {
    const target = this.next(out);
    let settled = false;
    let current: http.ClientRequest | undefined;
    // One timer per request on the common path (a reused keep-alive connection): the response
    // header timeout, from the end of the request body (as Go's Transport.ResponseHeaderTimeout:
    // an upload is bounded by the entry point's readTimeout, not by this). A dial timer is added
    // only while a new connection is made. (A shared Set of deadlines was tried instead: its churn
    // kept every request's objects alive across young-generation GCs, and GC time per request
    // quadrupled.)
    const headerMs = this.spec.responseHeaderTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    let dialTimer: NodeJS.Timeout | undefined;
    const finish = (f: UpstreamFailure | undefined, res: IncomingMessage | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (dialTimer) clearTimeout(dialTimer);
      done(f, res);
    };
    // A body of unknown length is sent chunked whatever the method: Node frames GET, HEAD, DELETE
    // and OPTIONS bodies only when told, and an unframed body on a keep-alive connection would be
    // read by the upstream as a second request nobody routed (request smuggling).
    if (out.body !== undefined && !Buffer.isBuffer(out.body) && out.headers['content-length'] === undefined) out.headers['transfer-encoding'] = 'chunked';
    const send = (retry: boolean) => {
      const req = startRequest(target, out, target.agent);
      current = req;
      req.on('socket', (socket) => {
        if (!(socket as unknown as { connecting: boolean }).connecting) return;
        const dialMs = this.spec.dialTimeoutMs;
        dialTimer = setTimeout(() => req.destroy(new UpstreamTimeout('dial', dialMs)), dialMs);
        socket.once('connect', () => clearTimeout(dialTimer));
      });
      req.on('finish', () => {
        clearTimeout(timer);
        if (!settled && headerMs > 0) timer = setTimeout(() => req.destroy(new UpstreamTimeout('response', headerMs)), headerMs);
      });
      req.on('response', (res) => finish(undefined, res));
      if (out.onInformation) {
        const onInfo = out.onInformation;
        req.on('information', (info) => {
          if (info.statusCode !== 100 && !settled) onInfo(info.statusCode, info.statusMessage, info.rawHeaders);
        });
      }
      req.on('error', (err) => {
        if (settled) return;
        if (retry && req.reusedSocket && (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
          send(false);
          return;
        }
        finish(classify(err), undefined);
      });
      const body = out.body;
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else body.pipe(req);
    };
    send(out.body === undefined || Buffer.isBuffer(out.body));
    return {
      abort() {
        clearTimeout(timer);
        if (dialTimer) clearTimeout(dialTimer);
        settled = true;
        current?.destroy();
      },
    };
  }

  /**
   * Send an Upgrade request (WebSocket) to the next server on a connection of its own. `done` gets
   * the upstream's socket when it switched protocols (101), its response when it refused, or a failure.
   */
  upgrade(
    out: Outgoing,
    done: (failure: UpstreamFailure | undefined, res: IncomingMessage | undefined, socket?: Socket, head?: Buffer) => void,
  ): UpstreamCall {
    const target = this.next(out);
    let settled = false;
    const finish = (f: UpstreamFailure | undefined, res: IncomingMessage | undefined, socket?: Socket, head?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done(f, res, socket, head);
    };
    const ms = this.spec.dialTimeoutMs + (this.spec.responseHeaderTimeoutMs || 0);
    // A connection that is handed over must not come from (or go back to) the keep-alive pool.
    const req = startRequest(target, out, false, target.agent instanceof https.Agent ? tlsOptionsOf(target.agent) : undefined);
    const timer = setTimeout(() => req.destroy(new UpstreamTimeout('response', ms)), ms);
    req.on('upgrade', (res, socket, head) => finish(undefined, res, socket, head));
    req.on('response', (res) => finish(undefined, res));
    req.on('error', (err) => finish(classify(err), undefined));
    req.end();
    return {
      abort() {
        clearTimeout(timer);
        settled = true;
        req.destroy();
      },
    };
  }
}

/** Start the request of `out` to `target` (headers as given: no Host of node's own). */
function startRequest(target: Target, out: Outgoing, agent: http.Agent | false, tls?: https.RequestOptions): http.ClientRequest {
  const options: https.RequestOptions = { agent, hostname: target.hostname, port: target.port, method: out.method, path: out.url, headers: out.headers, setHost: false };
  return target.request(tls ? Object.assign(options, tls) : options);
}

function tlsOptionsOf(agent: https.Agent): https.RequestOptions {
  const o = agent.options;
  return { rejectUnauthorized: o.rejectUnauthorized, ...(o.ca ? { ca: o.ca } : {}), ...(o.servername ? { servername: o.servername } : {}) };
}
