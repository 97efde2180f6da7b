/**
 * Active health checks of a loadBalancer's servers (`healthCheck`): every `interval` (default 30s;
 * `unhealthyInterval` for servers that are down) a request (`method`, default GET) to the server's
 * `path` (on `port` / with Host `hostname` when set); a server is down when the check fails, times
 * out (`timeout`, default 5s) or answers outside 2xx-3xx (or other than `status`), and up again at
 * the first good check. The first check runs at once.
 */
import http from 'node:http';
import type { Logger } from '../../types.js';
import type { HealthCheckSpec } from '../config/model.js';

export interface Checked {
  url: URL;
  up: boolean;
}

export class HealthChecker {
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;

  constructor(
    private readonly spec: HealthCheckSpec,
    private readonly targets: Checked[],
    private readonly service: string,
    private readonly logger: Logger,
  ) {
    for (const t of targets) this.schedule(t, 0);
  }

  private schedule(t: Checked, ms: number): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers = this.timers.filter((x) => x !== timer);
      this.check(t).then((ok) => {
        if (this.stopped) return;
        if (ok !== t.up) {
          t.up = ok;
          this.logger[ok ? 'info' : 'warn']({ service: this.service, server: t.url.origin, up: ok }, `service "${this.service}": server ${t.url.origin} is ${ok ? 'up again' : 'down (health check failed)'}`);
        }
        this.schedule(t, ok ? this.spec.intervalMs : this.spec.unhealthyIntervalMs);
      });
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

  private check(t: Checked): Promise<boolean> {
    const s = this.spec;
    return new Promise((resolve) => {
      const req = http.request(
        {
          hostname: t.url.hostname.replace(/^\[|\]$/g, ''),
          port: s.port ?? Number(t.url.port || 80),
          method: s.method,
          path: s.path,
          headers: { ...s.headers, host: s.hostname ?? t.url.host },
          agent: false,
          timeout: s.timeoutMs,
        },
        (res) => {
          res.resume();
          const code = res.statusCode ?? 0;
          resolve(s.status !== undefined ? code === s.status : code >= 200 && code < 400);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve(false));
      req.end();
    });
  }

  dispose(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }
}
