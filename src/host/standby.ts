/**
 * Standby instances of one plugin: the serving source interpreted and checked again ahead of
 * time, kept ready to replace the serving instance synchronously after a limit violation. One is
 * built at a time; each finished one starts the next until `count` are ready. While the plugin is
 * restarting (no standby was ready), the build that finishes serves at once. A version goes live
 * with its first standbys already built (`withStandbys`); the background builds replace the ones
 * used since.
 */
import type { Built } from './plugin-types.js';

/** What the standbys need from their plugin. */
export interface StandbyOwner {
  /** `serve`: the plugin is restarting, the next build serves; `keep`: keep `count` ready; `none`: build nothing. */
  want(): 'serve' | 'keep' | 'none';
  /** Build the serving source again (checked like any version). */
  build(): Promise<Built>;
  /** A build finished while restarting: make it the serving instance. */
  serve(b: Built): void;
  /** A build failed; `serving`: it was to end a restart. */
  failed(e: unknown, serving: boolean): void;
}

export class Standbys {
  private readonly ready: Built[] = [];
  /** The build in flight, if any. */
  building: Promise<void> | undefined;
  /** Bumped when the serving source changes: a standby built for an older source is thrown away. */
  private gen = 0;
  /** When the last standby was used (for the message when a second violation finds none ready). */
  usedAt = 0;

  constructor(
    private readonly owner: StandbyOwner,
    private readonly count: number,
  ) {}

  /** `ready`, `building`, or `none` (disabled, or not serving), as `host.plugins` shows it. */
  get state(): 'ready' | 'building' | 'none' {
    return this.ready.length > 0 ? 'ready' : this.building ? 'building' : 'none';
  }

  get size(): number {
    return this.ready.length;
  }

  /** Start the next build if one is wanted. */
  prepare(): void {
    if (this.building) return;
    const want = this.owner.want();
    if (want === 'none' || (want === 'keep' && this.ready.length >= this.count)) return;
    const gen = this.gen;
    this.building = this.owner.build().then(
      (b) => {
        this.building = undefined;
        const now = this.owner.want();
        if (gen !== this.gen || now === 'none') {
          // Built for a source that no longer serves: build one for the source that does.
          b.instance.dispose();
          this.prepare();
          return;
        }
        if (now === 'serve') this.owner.serve(b);
        else if (this.ready.length >= this.count) {
          // The restart it was started for was served by a rebuild inside a call, and no standby
          // is wanted (standby: false) or they are all ready.
          b.instance.dispose();
        } else {
          this.ready.push(b);
          this.prepare();
        }
      },
      (e: unknown) => {
        this.building = undefined;
        if (gen !== this.gen) {
          this.prepare();
          return;
        }
        this.owner.failed(e, this.owner.want() === 'serve');
      },
    );
  }

  /** Keep standbys built with the version that now serves (`Built.standbys`), up to `count`. */
  adopt(built: Built[]): void {
    for (const b of built) {
      if (this.ready.length < this.count) this.ready.push(b);
      else b.instance.dispose();
    }
  }

  /** A ready standby to serve now (after a violation), or undefined. */
  take(): Built | undefined {
    const b = this.ready.shift();
    if (b) this.usedAt = Date.now();
    return b;
  }

  /** Throw the standbys away (the serving source changed, or the plugin stops serving). */
  drop(): void {
    this.gen++;
    for (const b of this.ready.splice(0)) b.instance.dispose();
  }
}

/**
 * Build `count` standbys of a version before it serves (into `b.standbys`), so that createHost
 * and a reload resolve, and a watched file's new version goes live, with its first violation
 * covered. A standby that fails to build is not the version's failure: it serves with fewer, and
 * the plugin's Standbys tries again in the background, where a failure is logged.
 */
export async function withStandbys(b: Built, count: number, build: (req: Built['req'], engine: Built['engine']) => Promise<Built>): Promise<Built> {
  while (b.standbys.length < count) {
    try {
      b.standbys.push(await build(b.req, b.engine));
    } catch {
      break;
    }
  }
  return b;
}
