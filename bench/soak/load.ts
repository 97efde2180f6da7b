/**
 * The soak's traffic: a steady-rate, open-loop client over keep-alive connections (a request is
 * sent when it is due, whatever the ones before it are doing, so that a stalled gateway shows as
 * latency measured from the due time and not as fewer requests), and the hostile client, which
 * sends one request at a time to the attack routes in turn, each on a new connection.
 */
import http from 'node:http';
import type { Outcome } from './recorder.js';
import type { Clock } from './schedule.js';

interface Get {
  status?: number;
  code?: string;
  headers?: http.IncomingHttpHeaders;
  /** When the connection the request went out on was first used (ms, the soak's clock). */
  socketSince?: number;
}

/** First use of each connection: a request that dies with its connection tells which one it was on. */
const firstUse = new WeakMap<object, number>();

/** One GET; never rejects: a failure comes back as a code (the gateway's JSON `code`, or the socket error's). */
function get(url: string, agent: http.Agent | false, timeoutMs: number, clock: Clock): Promise<Get> {
  return new Promise((resolve) => {
    let settled = false;
    let socketSince: number | undefined;
    const done = (r: Get) => {
      if (!settled) {
        settled = true;
        resolve(socketSince === undefined ? r : { ...r, socketSince });
      }
    };
    const req = http.get(url, { agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e: NodeJS.ErrnoException) => done({ code: e.code ?? e.message }));
      res.on('end', () => {
        let code: string | undefined;
        if (res.statusCode !== 200) {
          try {
            code = (JSON.parse(Buffer.concat(chunks).toString()) as { code?: string }).code;
          } catch {
            code = undefined;
          }
        }
        done({ status: res.statusCode ?? 0, ...(code ? { code } : {}), headers: res.headers });
      });
    });
    req.on('socket', (socket) => {
      let t = firstUse.get(socket);
      if (t === undefined) firstUse.set(socket, (t = clock.now()));
      socketSince = t;
    });
    req.on('timeout', () => {
      done({ code: 'client-timeout' });
      req.destroy();
    });
    req.on('error', (e: NodeJS.ErrnoException) => done({ code: e.code ?? e.message }));
  });
}

export interface SteadyLoadOptions {
  baseUrl: string;
  /** Requests per second, over all routes. */
  rate: number;
  /** Keep-alive connections. */
  connections: number;
  routes: readonly string[];
  timeoutMs: number;
  clock: Clock;
  onOutcome(o: Outcome): void;
}

export class SteadyLoad {
  private readonly agent: http.Agent;
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private sent = 0;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly o: SteadyLoadOptions) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: o.connections });
  }

  start(): void {
    this.startedAt = this.o.clock.now();
    this.timer = setInterval(() => this.tick(), 5);
  }

  private tick(): void {
    const now = this.o.clock.now();
    const due = Math.floor(((now - this.startedAt) / 1000) * this.o.rate);
    while (this.sent < due) {
      const dueAt = this.startedAt + (this.sent * 1000) / this.o.rate;
      const route = this.o.routes[this.sent % this.o.routes.length]!;
      this.sent++;
      this.send(route, dueAt);
    }
  }

  private send(route: string, due: number): void {
    const sent = this.o.clock.now();
    const p = get(`${this.o.baseUrl}/${route}/r${this.sent}`, this.agent, this.o.timeoutMs, this.o.clock).then((r) => {
      const gen = r.headers?.['x-soak-gen'];
      const kv = r.headers?.['x-soak-kv'];
      this.o.onOutcome({
        route,
        due,
        sent,
        done: this.o.clock.now(),
        ...(r.status !== undefined ? { status: r.status } : {}),
        ...(r.code ? { code: r.code } : {}),
        ...(typeof gen === 'string' ? { gen: Number(gen) } : {}),
        ...(typeof kv === 'string' ? { kv } : {}),
        ...(r.socketSince !== undefined ? { socketSince: r.socketSince } : {}),
      });
      this.inFlight.delete(p);
    });
    this.inFlight.add(p);
  }

  /** Stop sending; wait for the requests in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all([...this.inFlight]);
    this.agent.destroy();
  }
}

export interface HostileOptions {
  baseUrl: string;
  attacks: readonly string[];
  /** Pause between two attacks (a new one starts at most this often). */
  intervalMs: number;
  timeoutMs: number;
  clock: Clock;
  onOutcome(o: Outcome): void;
}

export class HostileClient {
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly o: HostileOptions) {}

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    for (let i = 0; !this.stopped && this.o.attacks.length > 0; i++) {
      const attack = this.o.attacks[i % this.o.attacks.length]!;
      const due = this.o.clock.now();
      const r = await get(`${this.o.baseUrl}/hostile/${attack}`, false, this.o.timeoutMs, this.o.clock);
      this.o.onOutcome({
        route: `hostile/${attack}`,
        due,
        sent: due,
        done: this.o.clock.now(),
        ...(r.status !== undefined ? { status: r.status } : {}),
        ...(r.code ? { code: r.code } : {}),
        ...(r.socketSince !== undefined ? { socketSince: r.socketSince } : {}),
      });
      const rest = this.o.intervalMs - (this.o.clock.now() - due);
      if (rest > 0 && !this.stopped) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, rest);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }
}
