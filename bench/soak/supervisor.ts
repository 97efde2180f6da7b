/**
 * The soak's child processes: the gateway (`node dist/cli/main.js serve`, its own process group so
 * that one kill reaches the primary and its workers), and a redis-server on a free loopback port.
 * Every child is registered here and stopped by its PID (or its group's), on a normal end, on
 * Ctrl-C, on an error, and (SIGKILL, synchronously) should the soak process exit any other way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, launchRedis } from '../../test/fixtures/redis.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export { freePort };

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Wait for a child's exit; after `graceMs`, SIGKILL it (its group, with `group`). */
function exited(child: ChildProcess, graceMs: number, group: boolean): Promise<void> {
  if (!alive(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => killQuietly(child.pid!, 'SIGKILL', group), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function killQuietly(pid: number, signal: NodeJS.Signals, group: boolean): void {
  try {
    process.kill(group ? -pid : pid, signal);
  } catch {
    // already gone
  }
}

/** The PIDs a process forked (cluster workers of the primary), from /proc. */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export interface GatewayProcess {
  pid: number;
  urls: Record<string, string>;
  /** The log so far (the last `keepBytes`), for the report when something goes wrong. */
  logTail(): string;
  /** Log lines seen, by level word (INFO, WARN, ERROR, ...). */
  levels: Record<string, number>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface RedisProcess {
  port: number;
  url: string;
  pid(): number | undefined;
  /** SIGKILL it (as abrupt as a crash) and wait until it is gone. */
  kill(): Promise<void>;
  /** Start it again on the same port (empty: no persistence). */
  restart(): Promise<void>;
}

export class Supervisor {
  private readonly children = new Set<{ child: ChildProcess; group: boolean }>();
  private readonly dirs: string[] = [];
  private readonly onExit = () => {
    for (const { child, group } of this.children) if (alive(child)) killQuietly(child.pid!, 'SIGKILL', group);
  };

  constructor() {
    process.on('exit', this.onExit);
  }

  private track(child: ChildProcess, group: boolean): void {
    const entry = { child, group };
    this.children.add(entry);
    child.once('exit', () => this.children.delete(entry));
  }

  /** `node dist/cli/main.js serve <config> --workers N`, resolved once its banner lists the URLs. */
  startGateway(configFile: string, workers: number, keepBytes = 256 * 1024): Promise<GatewayProcess> {
    const args = [CLI, '--log-level', 'info', 'serve', configFile, '--no-watch', ...(workers > 1 ? ['--workers', String(workers)] : [])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.track(child, true);
    let out = '';
    let stdout = '';
    const levels: Record<string, number> = {};
    let partial = '';
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    return new Promise((resolve, reject) => {
      let ready = false;
      const onData = (c: Buffer, fromStdout: boolean) => {
        const s = c.toString();
        if (fromStdout && !ready) stdout += s;
        out = (out + s).slice(-keepBytes);
        const lines = (partial + s).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          const m = /\b(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\b/.exec(line);
          if (m) levels[m[1]!] = (levels[m[1]!] ?? 0) + 1;
        }
        if (ready) return;
        const banner = /terrarium gateway[^\n]*\n((?: {2}\S+\s+\S+[^\n]*\n)+)/.exec(stdout);
        if (!banner || !/admin\s+http/.test(banner[1]!)) return;
        ready = true;
        const urls: Record<string, string> = {};
        for (const line of banner[1]!.trim().split('\n')) {
          const [name, url] = line.trim().split(/\s+/);
          if (url?.startsWith('http')) urls[name!] = url;
        }
        resolve({ pid: child.pid!, urls, logTail: () => out, levels, exit });
      };
      child.stdout!.on('data', (c: Buffer) => onData(c, true));
      child.stderr!.on('data', (c: Buffer) => onData(c, false));
      void exit.then(({ code, signal }) => {
        if (!ready) reject(new Error(`the gateway exited (${code ?? signal}) before its banner:\n${out.slice(-3000)}`));
      });
    });
  }

  /** A redis-server on a free loopback port, no persistence, in a temporary directory. */
  async startRedis(): Promise<RedisProcess> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'terrarium-soak-redis-'));
    this.dirs.push(dir);
    const port = await freePort();
    const launch = async () => {
      const child = await launchRedis(port, dir, false, true);
      this.track(child, false);
      return child;
    };
    let child = await launch();
    return {
      port,
      url: `redis://127.0.0.1:${port}`,
      pid: () => (alive(child) ? child.pid : undefined),
      kill: async () => {
        const done = exited(child, 10_000, false);
        killQuietly(child.pid!, 'SIGKILL', false);
        await done;
      },
      restart: async () => {
        child = await launch();
      },
    };
  }

  /** Stop every child: SIGTERM (the gateway drains), SIGKILL after `graceMs`; remove the temporary directories. */
  async stopAll(graceMs = 10_000): Promise<void> {
    const waits = [...this.children].map(({ child, group }) => {
      const done = exited(child, graceMs, group);
      killQuietly(child.pid!, 'SIGTERM', false);
      return done.then(() => {
        // Workers left behind by a primary that died first.
        if (group) killQuietly(child.pid!, 'SIGKILL', true);
      });
    });
    await Promise.all(waits);
    for (const dir of this.dirs.splice(0)) await rm(dir, { recursive: true, force: true });
    process.off('exit', this.onExit);
  }
}
