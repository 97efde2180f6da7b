/**
 * RSS over time: every `periodMs`, VmRSS of the gateway's primary, each of its workers (its
 * children in /proc, so a replacement worker is picked up), redis-server and the soak process
 * itself (the load generator and upstream), from /proc/<pid>/status.
 */
import { readFileSync } from 'node:fs';
import { childPids } from './supervisor.js';
import type { Clock } from './schedule.js';

export function rssOf(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface RssSamplerOptions {
  periodMs: number;
  clock: Clock;
  /** The processes to sample now, labelled. */
  targets(): { label: string; pid: number }[];
  onSample(label: string, pid: number, t: number, bytes: number): void;
}

/** The targets of a gateway run: primary and workers (or the single process), redis, the soak. */
export function gatewayTargets(gatewayPid: number, clustered: boolean, redisPid: () => number | undefined): () => { label: string; pid: number }[] {
  return () => {
    const out = [{ label: clustered ? 'primary' : 'gateway', pid: gatewayPid }];
    if (clustered) for (const pid of childPids(gatewayPid)) out.push({ label: 'worker', pid });
    const r = redisPid();
    if (r !== undefined) out.push({ label: 'redis-server', pid: r });
    out.push({ label: 'soak (load + upstream)', pid: process.pid });
    return out;
  };
}

export class RssSampler {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: RssSamplerOptions) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.o.periodMs);
  }

  sample(): void {
    const t = this.o.clock.now();
    for (const { label, pid } of this.o.targets()) {
      const bytes = rssOf(pid);
      if (bytes !== undefined) this.o.onSample(label, pid, t, bytes);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
