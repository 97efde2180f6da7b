/**
 * Hot reload under load: every `periodMs`, the next generation of each hot-reloaded plugin is
 * written into the plugin directory. Written beside it and renamed into place, so that the
 * watcher never reads half a file (a plain writeFile can be seen truncated, a reload failure that
 * the gateway handles by keeping the old version, but not what this soak measures).
 */
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from './schedule.js';

export interface ReloaderOptions {
  pluginDir: string;
  /** A directory on the same filesystem, outside the plugin directory, for the files being written. */
  stagingDir: string;
  engines: readonly ('js' | 'lua')[];
  source(engine: 'js' | 'lua', gen: number): string;
  periodMs: number;
  clock: Clock;
  onWrite(engine: string, gen: number, t: number): void;
}

export class Reloader {
  private timer: NodeJS.Timeout | undefined;
  private gen = 0;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly o: ReloaderOptions) {}

  /** Write generation 0 (before the gateway starts). */
  async writeInitial(): Promise<void> {
    await this.write(0);
  }

  start(): void {
    this.timer = setInterval(() => {
      // One write at a time: a slow disk must not let two generations race for one file.
      this.writing = this.writing.then(() => this.write(++this.gen)).catch(() => undefined);
    }, this.o.periodMs);
  }

  get generation(): number {
    return this.gen;
  }

  private async write(gen: number): Promise<void> {
    for (const engine of this.o.engines) {
      const file = `soak-${engine}.${engine}`;
      const staged = path.join(this.o.stagingDir, file);
      await writeFile(staged, this.o.source(engine, gen));
      await rename(staged, path.join(this.o.pluginDir, file));
      this.o.onWrite(engine, gen, this.o.clock.now());
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.writing;
  }
}
