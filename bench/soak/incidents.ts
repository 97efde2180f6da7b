/**
 * What the soak does to the gateway besides load: SIGKILL one cluster worker at a fraction of
 * the run, SIGKILL the redis-server later and restart it on the same port after a pause; and it
 * notes each replacement worker as it appears (a new child of the primary).
 */
import type { Recorder } from './recorder.js';
import type { Schedule } from './schedule.js';
import { childPids, type RedisProcess } from './supervisor.js';

export interface IncidentOptions {
  schedule: Schedule;
  recorder: Recorder;
  log(msg: string): void;
  gatewayPid: number;
  /** When to kill a worker (soak clock), or undefined for none (a single process). */
  killWorkerAt?: number;
  redis?: RedisProcess;
  redisKillAt?: number;
  redisDownMs: number;
}

export class Incidents {
  private readonly running: Promise<void>[] = [];
  private watcher: NodeJS.Timeout | undefined;

  constructor(private readonly o: IncidentOptions) {}

  start(): void {
    const { schedule, recorder, gatewayPid } = this.o;
    let known = new Set(childPids(gatewayPid));
    this.watcher = setInterval(() => {
      const now = new Set(childPids(gatewayPid));
      for (const pid of now) if (!known.has(pid)) recorder.event(schedule.now(), `worker ${pid} started`);
      known = now;
    }, 250);
    if (this.o.killWorkerAt !== undefined) this.running.push(schedule.at(this.o.killWorkerAt).then(() => this.killWorker()));
    const redis = this.o.redis;
    if (redis && this.o.redisKillAt !== undefined) this.running.push(schedule.at(this.o.redisKillAt).then(() => this.restartRedis(redis)));
  }

  private killWorker(): void {
    const { schedule, recorder, log } = this.o;
    if (schedule.aborted) return;
    const victim = childPids(this.o.gatewayPid)[0];
    if (victim === undefined) return log('no worker to kill');
    recorder.workerKilled(schedule.now(), victim);
    process.kill(victim, 'SIGKILL');
    log(`SIGKILL worker ${victim}`);
  }

  private async restartRedis(redis: RedisProcess): Promise<void> {
    const { schedule, recorder, log } = this.o;
    if (schedule.aborted) return;
    const pid = redis.pid();
    await redis.kill();
    recorder.event(schedule.now(), `SIGKILL redis-server ${pid}`);
    log(`SIGKILL redis-server ${pid}`);
    await schedule.at(schedule.now() + this.o.redisDownMs);
    if (schedule.aborted) return;
    await redis.restart();
    recorder.event(schedule.now(), `redis-server restarted (${redis.pid()})`);
    log(`redis-server restarted (${redis.pid()})`);
  }

  /** Wait for the incidents under way (an aborted run skips the rest). */
  async stop(): Promise<void> {
    await Promise.all(this.running);
    if (this.watcher) clearInterval(this.watcher);
    this.watcher = undefined;
  }
}
