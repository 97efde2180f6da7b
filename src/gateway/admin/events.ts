/**
 * `GET /api/events`: the admin views as Server-Sent Events, for the dashboard. One timer for all
 * clients, running only while one is connected; each tick builds the snapshot once and sends it
 * only when it changed, so an idle gateway sends nothing and a busy one at most 1000/intervalMs
 * updates a second. A client that does not read (its socket buffer over `maxBufferedBytes`) is
 * dropped rather than queued for: the queue per client is the socket's, bounded. The snapshot may
 * be async (a cluster primary asks its workers): a tick while the last one is still building is
 * skipped, so a slow worker never piles up requests.
 */
import type http from 'node:http';

export interface EventHubOptions {
  /** Time between snapshots (default 500 ms: two updates a second at most). */
  intervalMs?: number;
  /** Bytes a client may leave unread before it is dropped (default 1 MiB). */
  maxBufferedBytes?: number;
}

export class EventHub {
  private readonly clients = new Set<http.ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private last = '';
  private building = false;
  /** Snapshots built (for tests: none while no client is connected). */
  ticks = 0;
  private readonly intervalMs: number;
  private readonly maxBufferedBytes: number;

  /** `snapshot` returns the data as JSON text; equal text means nothing changed. */
  constructor(
    private readonly snapshot: () => string | Promise<string>,
    options: EventHubOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 500;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1 << 20;
  }

  get size(): number {
    return this.clients.size;
  }

  /** Answer an SSE request: the current snapshot at once, then each change. */
  add(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    this.clients.add(res);
    const drop = () => this.remove(res);
    req.once('close', drop);
    res.once('close', drop);
    this.timer ??= setInterval(() => void this.tick(), this.intervalMs);
    // A new client gets the current state even when nothing changed since the last tick.
    void this.build().then((data) => {
      if (data === undefined || !this.clients.has(res)) return;
      // A change since the last tick goes to every client, not only to the new one.
      const to = data === this.last ? [res] : [...this.clients];
      this.last = data;
      for (const c of to) this.write(c, data);
    });
  }

  /** One snapshot, or undefined when it failed (the stream stays open; the next tick tries again). */
  private async build(): Promise<string | undefined> {
    this.ticks++;
    try {
      return await this.snapshot();
    } catch {
      return undefined;
    }
  }

  private remove(res: http.ServerResponse): void {
    if (!this.clients.delete(res)) return;
    if (!res.destroyed) res.destroy();
    if (this.clients.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private write(res: http.ServerResponse, data: string): void {
    if (res.writableLength > this.maxBufferedBytes) {
      this.remove(res);
      return;
    }
    res.write(`event: snapshot\ndata: ${data}\n\n`);
  }

  private async tick(): Promise<void> {
    if (this.building) return;
    this.building = true;
    const data = await this.build();
    this.building = false;
    if (data === undefined || data === this.last) return;
    this.last = data;
    for (const res of [...this.clients]) this.write(res, data);
  }

  /** End every stream (the admin server closes). */
  close(): void {
    for (const res of [...this.clients]) this.remove(res);
  }
}
