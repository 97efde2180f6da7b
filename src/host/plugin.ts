/**
 * A ManagedPlugin is the stable thing proxies point at: its lifecycle (lifecycle.ts: which
 * version serves, restarts, swaps, quarantine) plus the calls: into the serving version, or into
 * the version a request pinned (pin.ts), with the in-flight count that keeps a retired version
 * alive and the error bookkeeping that restarts or quarantines the plugin after a violation.
 */
import {
  NoExportError,
  PluginMemoryError,
  PluginStackError,
  PluginTimeoutError,
  PluginUnavailableError,
  TerrariumError,
} from '../errors.js';
import { isLimitViolation } from './violations.js';
import { type Pin, type Version, followPin } from './versions.js';
import { unavailableError } from './unavailable.js';
import { PluginLifecycle } from './lifecycle.js';

export type { Built, LifecyclePolicy, PluginContext, PluginInfo } from './plugin-types.js';
export type { Pin, Version } from './versions.js';

export class ManagedPlugin extends PluginLifecycle {
  /** Call an export; sync exports return values, async ones Promises. Throws TerrariumError. */
  call(exportName: string, args: readonly unknown[]): unknown {
    const v = this.cur;
    if (!v || this.status !== 'ready') {
      if (this.rebuildNow()) return this.call(exportName, args);
      // No standby was ready and the engine cannot load synchronously: an async export waits for
      // the instance being built (it returns a promise anyway); a sync one cannot wait.
      const building = this.standbys.building;
      if (this.status === 'restarting' && building && this.exportsNow.some((e) => e.name === exportName && e.async)) {
        return building.then(() => this.call(exportName, args));
      }
      throw this.unavailable(exportName);
    }
    if (!this.hasExport(exportName)) {
      throw new NoExportError(this.exportsNow.map((e) => e.name), { plugin: this.name, engine: this.engineNow.name, file: this.req.file, exportName });
    }
    this.counters.calls++;
    return this.invoke(v, exportName, args);
  }

  /**
   * Pin the serving version for one request: calls through the pin run on it even after a hot
   * reload swapped in another, until `unpin` (or `pinMs` after that version was retired). A
   * version thrown away after a limit violation hands its pins to the fresh instance of the same
   * source. Pinned while nothing serves, calls follow the plugin.
   */
  pin(): Pin {
    const v = this.status === 'ready' ? this.cur : undefined;
    if (v) v.pins++;
    return { v, released: false };
  }

  unpin(pin: Pin): void {
    if (pin.released) return;
    pin.released = true;
    const v = pin.v;
    pin.v = undefined;
    if (!v || v.pinsExpired) return;
    v.pins--;
    this.disposeIfIdle(v);
  }

  /** The version a pin's calls run on now (undefined: the serving one, through `call`). */
  private pinned(pin: Pin, exportName: string): Version | undefined {
    const r = followPin(pin, this.cur, this.hash, this.retired);
    if (!r || !('lost' in r)) return r;
    const ctx = { plugin: this.name, engine: this.engineNow.name, file: this.req.file, exportName };
    const started = `the version this request started on (${r.v.built.instance.meta?.version ?? 'unversioned'})`;
    if (r.lost === 'crashed') throw new PluginUnavailableError(`${started} was thrown away after a limit violation, and another version serves now`, ctx, 'Retry the request');
    throw new PluginUnavailableError(`${started} was retired more than ${this.ctx.policy.pinMs} ms ago`, ctx, 'Requests are pinned to a version for at most reload.pinMs; raise it, or find what holds requests this long');
  }

  /** Whether the pinned version (or, unpinned, the serving one) exports `name`. */
  pinnedHas(pin: Pin, name: string): boolean {
    const v = pin.v;
    if (!v || v === this.cur || v.crashed || v.disposed) return this.hasExport(name);
    return v.built.instance.exports.some((e) => e.name === name);
  }

  /** `call`, on the pinned version. */
  callPinned(pin: Pin, exportName: string, args: readonly unknown[]): unknown {
    if (pin.released) throw new PluginUnavailableError('the pin was released', { plugin: this.name, engine: this.engineNow.name, file: this.req.file, exportName }, 'Take a new pin (host.pin) for a new request');
    const v = this.pinned(pin, exportName);
    if (!v || v === this.cur) return this.call(exportName, args);
    if (!v.built.instance.exports.some((e) => e.name === exportName)) {
      throw new NoExportError(v.built.instance.exports.map((e) => e.name), { plugin: this.name, engine: this.engineNow.name, file: this.req.file, exportName });
    }
    this.counters.calls++;
    return this.invoke(v, exportName, args);
  }

  /** Call into one version, keeping its in-flight count and the error bookkeeping. */
  protected override invoke(v: Version, exportName: string, args: readonly unknown[]): unknown {
    const inst = v.built.instance;
    let result: unknown;
    const outer = this.currentExport;
    this.currentExport = exportName;
    try {
      result = inst.call(exportName, args);
    } catch (e) {
      this.onError(v, e);
      throw e;
    } finally {
      this.currentExport = outer;
    }
    if (!(result instanceof Promise)) return result;
    v.inflight++;
    return result.then(
      (value: unknown) => {
        this.settle(v);
        return value;
      },
      (e: unknown) => {
        this.settle(v);
        this.onError(v, e);
        throw e;
      },
    );
  }

  private settle(v: Version): void {
    v.inflight--;
    this.disposeIfIdle(v);
  }

  private unavailable(exportName: string): PluginUnavailableError {
    const ctx = { plugin: this.name, engine: this.engineNow.name, file: this.req.file, exportName, cause: this.error };
    return unavailableError({ status: this.status, error: this.error, standby: this.ctx.policy.standby, standbyUsedAt: this.standbys.usedAt, nextProbeAt: this.breaker.nextProbeAt }, ctx);
  }

  private onError(v: Version, e: unknown): void {
    this.counters.errors++;
    if (e instanceof TerrariumError) this.noteError(e);
    if (e instanceof PluginTimeoutError) this.counters.timeouts++;
    else if (e instanceof PluginMemoryError) this.counters.memoryErrors++;
    else if (e instanceof PluginStackError) this.counters.stackErrors++;
    if (!isLimitViolation(e) && !v.built.instance.broken) return;
    if (this.cur !== v || this.status !== 'ready') return;
    const cause = e instanceof TerrariumError ? e : undefined;
    if (this.breaker.violation()) this.quarantine(`${this.breaker.count} limit violations in ${this.ctx.policy.windowMs} ms (last: ${cause?.code ?? 'broken instance'})`, cause);
    else this.restart(cause);
  }

}
