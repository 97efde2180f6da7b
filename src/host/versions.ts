/**
 * Versions of one plugin: each built source that served, with what still holds it (async calls
 * in flight, pins of requests). A retired version is disposed once nothing holds it, and pins are
 * let go `pinMs` after retirement at the latest, so a stuck request cannot keep it alive.
 */
import type { Built } from './plugin-types.js';

export interface Version {
  built: Built;
  /** Async calls not yet settled: a retired version is disposed when this and `pins` reach 0. */
  inflight: number;
  /** Pins (requests) holding this version. */
  pins: number;
  retired: boolean;
  /** Thrown away after a limit violation or quarantine: its pins follow a fresh instance of the same source. */
  crashed: boolean;
  /** Retired longer than pinMs ago: its pins were let go. */
  pinsExpired: boolean;
  disposed: boolean;
  pinTimer: NodeJS.Timeout | undefined;
}

export const newVersion = (built: Built): Version => ({ built, inflight: 0, pins: 0, retired: false, crashed: false, pinsExpired: false, disposed: false, pinTimer: undefined });

/**
 * A request's hold on the version that served its first call (`ManagedPlugin.pin`): every call
 * through it runs on that version, even after a hot reload, until it is released.
 */
export interface Pin {
  v: Version | undefined;
  released: boolean;
}

/** The retired versions still held, and the rules for letting them go. */
export class Retired {
  private readonly held = new Set<Version>();

  constructor(private readonly pinMs: number) {}

  /**
   * Stop serving a version. It is disposed once its async calls have settled and its pins are
   * released; pins are let go `pinMs` after retirement at the latest (async calls are bounded by
   * callTimeoutMs on their own), so a stuck request cannot keep an old version alive.
   */
  retire(v: Version, crashed = false): void {
    v.retired = true;
    v.crashed ||= crashed;
    if (this.disposeIfIdle(v)) return;
    this.held.add(v);
    if (v.pins > 0 && !v.pinTimer) {
      v.pinTimer = setTimeout(() => {
        v.pinTimer = undefined;
        v.pins = 0;
        v.pinsExpired = true;
        this.disposeIfIdle(v);
      }, this.pinMs);
      v.pinTimer.unref();
    }
  }

  /** Dispose a retired version nothing holds any more; true when it was disposed. */
  disposeIfIdle(v: Version): boolean {
    if (!v.retired || v.inflight > 0 || v.pins > 0) return false;
    this.dispose(v);
    return true;
  }

  dispose(v: Version): void {
    if (v.disposed) return;
    v.disposed = true;
    if (v.pinTimer) clearTimeout(v.pinTimer);
    v.pinTimer = undefined;
    this.held.delete(v);
    v.built.instance.dispose();
  }

  /** Dispose every retired version, held or not (the host closes). */
  disposeAll(): void {
    for (const v of [...this.held]) this.dispose(v);
  }
}

/**
 * The version a pin's calls run on now: the pinned one; undefined (follow the plugin) when the
 * pin holds nothing or the serving version; after a limit violation threw the pinned instance
 * away, the fresh instance of the same source (re-pinned, so a later reload does not move it).
 * `lost` when the pin cannot be served: its instance crashed and another source serves, or it was
 * retired longer than pinMs ago.
 */
export function followPin(pin: Pin, cur: Version | undefined, servingHash: string, retired: Retired): Version | undefined | { lost: 'crashed' | 'expired'; v: Version } {
  const v = pin.v;
  if (!v || v === cur) return v;
  if (v.crashed) {
    if (!v.pinsExpired) v.pins--;
    pin.v = undefined;
    retired.disposeIfIdle(v);
    if (cur && cur.built.hash === v.built.hash) {
      pin.v = cur;
      cur.pins++;
      return cur;
    }
    if (servingHash === v.built.hash) return undefined;
    return { lost: 'crashed', v };
  }
  if (v.disposed || v.pinsExpired) return { lost: 'expired', v };
  return v;
}
