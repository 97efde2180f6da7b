/**
 * The replay recorder (`replay:` in the gateway config, opt-in): a bounded sample of real
 * requests per router, one JSON line each, for `terrarium replay` to run through a plugin.
 *
 * Never on the request path's clock: `offer` copies the few fields a middleware sees (method,
 * path, query, headers with the configured ones redacted, client) into a bounded queue and
 * returns; one writer drains the queue with async appends. A full queue drops the sample (and
 * counts it) rather than grow or wait. Sampling is per router and deterministic (every n-th
 * request of a router for sampleRate 1/n), so a busy router cannot crowd out a quiet one and a
 * test can say which requests are kept. The file is rotated by size: past maxBytes it becomes
 * `<file>.1` (the one older generation kept) and a new file starts.
 */
import { appendFile, mkdir, rename, stat } from 'node:fs/promises';
import path from 'node:path';

export interface ReplayConfig {
  /** The JSON-lines file (absolute, resolved against the config file). */
  file: string;
  /** The share of each router's requests recorded, 0 < rate <= 1 (default 0.01). */
  sampleRate: number;
  /** Rotate past this many bytes (default 16 MiB). */
  maxBytes: number;
  /** Lower-case header names whose values are replaced by "[redacted]". */
  redactHeaders: string[];
  /** Samples waiting to be written at most (default 1000); more are dropped. */
  maxQueue: number;
}

export const REPLAY_DEFAULTS = { sampleRate: 0.01, maxBytes: 16 << 20, redactHeaders: ['authorization', 'cookie', 'proxy-authorization', 'set-cookie', 'x-api-key'], maxQueue: 1000 };

/** One recorded request: what `onRequest` of a middleware on that router would see. */
export interface ReplayRecord {
  at: string;
  router: string;
  request: { method: string; path: string; query: Record<string, string | string[]>; headers: Record<string, string | string[]>; client: { address: string; port: number } };
}

export class ReplayRecorder {
  private readonly seen = new Map<string, number>();
  private readonly queue: string[] = [];
  private writing: Promise<void> | undefined;
  private size = -1;
  private readonly every: number;
  private readonly redact: Set<string>;
  /** Samples dropped because the queue was full, and writes that failed (the gateway keeps serving). */
  dropped = 0;
  failedWrites = 0;
  recorded = 0;

  constructor(readonly config: ReplayConfig) {
    this.every = Math.max(1, Math.round(1 / config.sampleRate));
    this.redact = new Set(config.redactHeaders.map((h) => h.toLowerCase()));
  }

  /** Called for each routed request: keeps every n-th per router; O(headers) copy, no I/O. */
  offer(router: string, method: string, pathname: string, query: Record<string, string | string[]>, headers: Record<string, string | string[] | undefined>, client: { address: string; port: number }): void {
    const n = (this.seen.get(router) ?? 0) + 1;
    this.seen.set(router, n);
    if ((n - 1) % this.every !== 0) return;
    if (this.queue.length >= this.config.maxQueue) {
      this.dropped++;
      return;
    }
    const h: Record<string, string | string[]> = {};
    for (const k in headers) {
      const v = headers[k];
      if (v !== undefined) h[k] = this.redact.has(k) ? '[redacted]' : v;
    }
    const record: ReplayRecord = { at: new Date().toISOString(), router, request: { method, path: pathname, query, headers: h, client } };
    this.queue.push(`${JSON.stringify(record)}\n`);
    this.writing ??= this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.queue.length).join('');
        try {
          await this.write(batch);
          this.recorded += batch.split('\n').length - 1;
        } catch {
          this.failedWrites++;
        }
      }
    } finally {
      this.writing = undefined;
    }
  }

  private async write(text: string): Promise<void> {
    const { file, maxBytes } = this.config;
    if (this.size < 0) {
      await mkdir(path.dirname(file), { recursive: true });
      this.size = await stat(file).then(
        (s) => s.size,
        () => 0,
      );
    }
    const bytes = Buffer.byteLength(text);
    if (this.size > 0 && this.size + bytes > maxBytes) {
      await rename(file, `${file}.1`);
      this.size = 0;
    }
    await appendFile(file, text);
    this.size += bytes;
  }

  /** Resolves when everything offered so far is written (close, tests). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }
}
