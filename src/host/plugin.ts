/**
 * A ManagedPlugin is the stable thing proxies point at, one object for one plugin file:
 * - its lifecycle: which version serves, and how the status moves between loading, ready,
 *   restarting, quarantined, failed, unloaded and closed;
 *   - crash-only: after a limit violation the instance is thrown away and a *standby* (the same
 *     source, interpreted and checked ahead of time, standby.ts) takes its place at once; a new
 *     standby is then built in the background. A version goes live with its standbys built (first
 *     load, reload, recovery), so the first violation is always covered; when violations come
 *     faster than builds, an engine with `loadSync` rebuilds inside the next call (`rebuildNow`);
 *   - hot swap: a new version, built and checked elsewhere, replaces the serving one atomically;
 *     the old one keeps its in-flight async calls and its pins and is disposed when they are done,
 *     or `pinMs` after it was retired at the latest (versions.ts);
 *   - quarantine: repeated violations (breaker.ts) or failed health probes (health.ts) stop the
 *     plugin and re-probe a fresh instance with backoff until it is healthy;
 * - its calls: into the serving version, or into the version a request pinned (pin.ts), with the
 *   in-flight count that keeps a retired version alive and the error bookkeeping that restarts or
 *   quarantines the plugin after a violation (health probes take the same path).
 * Its parts are objects it owns: the breaker, the retired versions, the standbys. (It was two
 * classes, the lifecycle a base class of the calls, split to keep each file short: one object's
 * state cut in two, so it is one class again.)
 */
import type { Engine, LoadRequest } from '../engine.js';
import {
  NoExportError,
  PluginLoadError,
  PluginMemoryError,
  PluginStackError,
  PluginTimeoutError,
  PluginUnavailableError,
  TerrariumError,
} from '../errors.js';
import type { ExportInfo, PluginCounters, PluginMeta, PluginStatus } from '../types.js';
import type { HostEvent, HostEventName } from './events.js';
import type { SelfTestResult } from './selftest.js';
import { type Built, type PluginContext, type PluginInfo, discard, newCounters } from './plugin-types.js';
import { type Pin, Retired, type Version, followPin, newVersion } from './versions.js';
import { Breaker } from './breaker.js';
import { Standbys, withStandbys } from './standby.js';
import { probeHealth } from './health.js';
import { isLimitViolation } from './violations.js';
import { unavailableError } from './unavailable.js';

export type { Built, LifecyclePolicy, PluginContext, PluginInfo } from './plugin-types.js';
export type { Pin, Version } from './versions.js';

const nowIso = (): string => new Date().toISOString();

export class ManagedPlugin {
  name: string;
  status: PluginStatus = 'loading';
  error: TerrariumError | undefined;
  readonly counters: PluginCounters = newCounters();
  private cur: Version | undefined;
  private req: LoadRequest;
  private engineNow: Engine;
  private hash = '';
  private signedBy: string | undefined;
  private selftests: SelfTestResult[] = [];
  private metaNow: PluginMeta | undefined;
  private exportsNow: ExportInfo[] = [];
  private lastError: PluginInfo['lastError'];
  private lastReload: PluginInfo['lastReload'];
  private readonly breaker: Breaker;
  private consecutiveHealthFailures = 0;
  private readonly retired: Retired;
  /** A fresh instance of the serving source, checked and waiting to replace it after a violation. */
  private readonly standbys: Standbys;
  /** True while `rebuildNow` loads an instance. */
  private rebuilding = false;
  /** The export running synchronously right now (log lines written during it name it). */
  currentExport: string | undefined;

  constructor(
    private readonly ctx: PluginContext,
    req: LoadRequest,
    engine: Engine,
  ) {
    this.req = req;
    this.engineNow = engine;
    this.name = req.defaultName;
    this.retired = new Retired(ctx.policy.pinMs);
    this.breaker = new Breaker(ctx.policy);
    this.standbys = new Standbys(
      {
        want: () => (this.status === 'restarting' ? 'serve' : this.status === 'ready' ? 'keep' : 'none'),
        build: () => this.ctx.build(this.req, this.engineNow),
        serve: (b) => this.activate(b, 'restarted'),
        failed: (e, serving) => {
          const err = this.asError(e);
          if (serving) return this.fail(err);
          this.noteError(err);
          this.ctx.logger.warn(this.fields('standby-failed', { code: err.code }), `could not build a standby instance: ${err.message}`);
        },
      },
      ctx.policy.standby,
    );
  }

  get file(): string {
    return this.req.file;
  }
  /** Absolute path of the file the serving version came from. */
  get path(): string {
    return this.req.path;
  }
  get engine(): Engine {
    return this.engineNow;
  }
  get version(): string | undefined {
    const v = this.metaNow?.version;
    return v === undefined ? undefined : String(v);
  }
  get exports(): readonly ExportInfo[] {
    return this.exportsNow;
  }
  get sourceHash(): string {
    return this.hash;
  }
  /** True while a version is serving or about to (restart, quarantine): a reload failure keeps it. */
  get serving(): boolean {
    return this.status === 'ready' || this.status === 'restarting' || this.status === 'quarantined';
  }

  private event(event: HostEventName, extra: Partial<HostEvent> = {}): void {
    this.ctx.emit({ event, plugin: this.name, version: this.version, file: this.req.file, engine: this.engineNow.name, ...extra });
  }

  /** Log keys shared by every line about this plugin. */
  private fields(event: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { plugin: this.name, version: this.version, engine: this.engineNow.name, file: this.req.file, event, ...extra };
  }

  private asError(e: unknown): TerrariumError {
    return e instanceof TerrariumError ? e : new PluginLoadError(String((e as Error)?.message ?? e), { plugin: this.name, engine: this.engineNow.name, file: this.req.file, cause: e });
  }

  /**
   * Make a built version the serving one. The previous version (if any) is retired: its in-flight
   * async calls and pins finish on it, then it is disposed. Sync calls cannot be in flight here
   * (one thread). `publish` runs after the swap and before the event, so that a listener of
   * `loaded`/`reloaded` finds the plugin by name (the event means "callable now").
   */
  activate(built: Built, event: 'loaded' | 'reloaded' | 'recovered' | 'restarted', publish?: () => void): void {
    if (this.status === 'closed' || this.status === 'unloaded') {
      discard(built);
      return;
    }
    const previousVersion = this.version;
    const old = this.cur;
    if (event !== 'restarted') this.standbys.drop();
    this.standbys.adopt(built.standbys.splice(0));
    this.cur = newVersion(built);
    this.req = built.req;
    this.engineNow = built.engine;
    this.hash = built.hash;
    this.signedBy = built.signedBy;
    this.selftests = built.selftests;
    this.name = built.instance.name;
    this.metaNow = built.instance.meta;
    this.exportsNow = [...built.instance.exports];
    this.status = 'ready';
    this.error = undefined;
    if (old) this.retire(old);
    publish?.();
    this.standbys.prepare();
    if (event === 'reloaded') {
      this.counters.reloads++;
      this.lastReload = { at: nowIso(), ok: true };
      this.ctx.logger.info(this.fields('reloaded', { previousVersion }), `plugin reloaded${previousVersion !== this.version ? ` (${previousVersion ?? '?'} -> ${this.version ?? '?'})` : ''}`);
      this.event('reloaded', { previousVersion, reason: `${this.req.file} changed; the new version passed its checks` });
    } else if (event === 'recovered') {
      this.ctx.logger.info(this.fields('recovered'), 'plugin recovered from quarantine');
      this.event('recovered', { reason: 'a fresh instance passed its checks and health probe' });
    } else if (event === 'restarted') {
      this.ctx.logger.info(this.fields('restarted'), 'plugin restarted from source');
    } else {
      this.ctx.logger.debug(this.fields('loaded'), 'plugin loaded');
      this.event('loaded', { reason: `${this.req.file} loaded and passed its checks` });
    }
  }

  private retire(v: Version, crashed = false): void {
    this.retired.retire(v, crashed);
  }

  private disposeIfIdle(v: Version): boolean {
    return this.retired.disposeIfIdle(v);
  }

  /** The first load failed (or the file could not be read, or its name is taken). */
  fail(error: TerrariumError): void {
    this.standbys.drop();
    if (this.cur) this.retire(this.cur);
    this.cur = undefined;
    this.status = 'failed';
    this.error = error;
    this.noteError(error);
    this.ctx.logger.error(this.fields('failed', { code: error.code }), error.message);
    this.event('failed', { reason: 'the plugin could not be loaded', error });
  }

  /** A new version was rejected by a check: the serving version (if any) keeps serving. */
  rejectReload(error: TerrariumError): void {
    this.counters.rejectedReloads++;
    this.lastReload = { at: nowIso(), ok: false, error };
    this.noteError(error);
    if (!this.serving) {
      this.status = 'failed';
      this.error = error;
    }
    const reason = this.serving ? `reload rejected; version ${this.version ?? '(unversioned)'} keeps serving` : 'reload rejected; the plugin has no working version';
    this.ctx.logger.error(this.fields('failed', { code: error.code }), `${reason}: ${error.message}`);
    this.event('failed', { reason, error });
  }

  /** The file was deleted: stop serving; in-flight async calls still finish. */
  unload(): void {
    this.breaker.stop();
    this.standbys.drop();
    if (this.cur) this.retire(this.cur);
    this.cur = undefined;
    this.status = 'unloaded';
    this.ctx.logger.info(this.fields('unloaded'), 'plugin unloaded (file deleted)');
    this.event('unloaded', { reason: 'its file was deleted' });
  }

  private noteError(e: TerrariumError): void {
    this.lastError = { code: e.code, message: e.message, at: nowIso(), ...(e.file ? { file: e.file } : {}), ...(e.line ? { line: e.line } : {}) };
  }

  info(): PluginInfo {
    const passed = this.selftests.filter((r) => r.ok).length;
    const units = this.cur?.built.instance.countedUnits();
    return {
      name: this.name,
      file: this.req.file,
      engine: this.engineNow.name,
      status: this.status,
      version: this.version,
      meta: this.metaNow,
      exports: this.exportsNow.map((e) => ({ ...e })),
      ...(this.error ? { error: this.error } : {}),
      ...(this.lastError ? { lastError: { ...this.lastError } } : {}),
      ...(this.lastReload ? { lastReload: { ...this.lastReload } } : {}),
      ...(this.signedBy ? { signedBy: this.signedBy } : {}),
      selftests: { passed, failed: this.selftests.length - passed },
      counters: { ...this.counters },
      memoryBytes: this.cur?.built.instance.memoryBytes() ?? 0,
      ...(units !== undefined ? { workUnits: units } : {}),
      standby: this.standbys.state,
      ...(this.status === 'quarantined' && this.breaker.nextProbeAt > 0 ? { nextProbeAt: new Date(this.breaker.nextProbeAt).toISOString() } : {}),
    };
  }

  hasExport(name: string): boolean {
    return this.exportsNow.some((e) => e.name === name);
  }

  /**
   * Crash-only: drop the broken instance and serve the standby (same source, built ahead) at once;
   * a new standby is built in the background. Without a ready standby, the plugin is `restarting`
   * until an instance is built.
   */
  private restart(cause: TerrariumError | undefined): void {
    const v = this.cur;
    if (!v) return;
    this.cur = undefined;
    this.retire(v, true);
    this.counters.restarts++;
    this.ctx.logger.warn(this.fields('restarting', { code: cause?.code, export: cause?.exportName, standby: this.standbys.size > 0 }), `restarting plugin after ${cause?.code ?? 'a failure'}`);
    const standby = this.standbys.take();
    if (standby) {
      this.activate(standby, 'restarted');
      return;
    }
    this.status = 'restarting';
    this.error = cause;
    this.standbys.prepare();
  }

  /**
   * Restarting, and no standby was ready (violations came faster than builds, or standby: false):
   * when the engine can load synchronously (`Engine.loadSync`), the call that finds the plugin so
   * builds its instance itself and is served, paying one load instead of failing. The background
   * build already started then becomes the standby. A rebuild that fails fails the plugin, as the
   * background build would have. True when an instance serves now; false for an engine without
   * `loadSync` (the call fails fast, an async one waits for the background build: unavailable.ts).
   */
  private rebuildNow(): boolean {
    // A plugin whose top-level code calls itself (through a host function) while being rebuilt
    // finds it restarting, as it would during a background build.
    if (this.status !== 'restarting' || this.rebuilding) return false;
    let built: Built | undefined;
    this.rebuilding = true;
    try {
      built = this.ctx.buildSync(this.req, this.engineNow);
    } catch (e) {
      this.fail(this.asError(e));
      return false;
    } finally {
      this.rebuilding = false;
    }
    if (!built) return false;
    this.activate(built, 'restarted');
    return true;
  }

  /** Stop serving: calls fail fast; a fresh instance is probed with backoff until healthy. */
  quarantine(reason: string, cause: TerrariumError | undefined): void {
    this.standbys.drop();
    if (this.cur) this.retire(this.cur, true);
    this.cur = undefined;
    this.status = 'quarantined';
    this.error = cause;
    this.counters.quarantines++;
    this.ctx.logger.warn(this.fields('quarantined', { code: cause?.code, export: cause?.exportName, reason }), `plugin quarantined: ${reason}`);
    this.event('quarantined', { reason, ...(cause ? { error: cause } : {}) });
    this.breaker.open(() => void this.probe());
  }

  /** Re-probe a quarantined plugin now instead of at its scheduled time (the dashboard's button); false when it is not quarantined. */
  reprobe(): boolean {
    if (this.status !== 'quarantined') return false;
    this.breaker.stop();
    void this.probe();
    return true;
  }

  /** Re-probe a quarantined plugin: a fresh instance from the same source, then health() if exported. */
  private async probe(): Promise<void> {
    if (this.status !== 'quarantined') return;
    let built: Built | undefined;
    try {
      built = await this.ctx.build(this.req, this.engineNow);
      if (built.instance.exports.some((e) => e.name === 'health')) {
        const v = newVersion(built);
        const ok = await probeHealth(() => this.invoke(v, 'health', []), this.ctx.policy.healthTimeoutMs);
        if (!ok) throw new PluginUnavailableError('health() still fails', { plugin: this.name, engine: this.engineNow.name, file: this.req.file, exportName: 'health' });
      }
      // Recovered with its standbys, like any version that goes live.
      if (this.status === 'quarantined') await withStandbys(built, this.ctx.policy.standby, this.ctx.build);
    } catch (e) {
      if (built) discard(built);
      if (this.status !== 'quarantined') return;
      this.noteError(this.asError(e));
      const retryInMs = this.breaker.retry(() => void this.probe());
      this.ctx.logger.warn(this.fields('probe-failed', { retryInMs }), `quarantined plugin is still unhealthy: ${(e as Error)?.message ?? String(e)}`);
      return;
    }
    if (this.status !== 'quarantined') {
      discard(built);
      return;
    }
    this.breaker.reset();
    this.consecutiveHealthFailures = 0;
    this.activate(built, 'recovered');
  }

  /** The periodic health check of a serving plugin (host `health.intervalMs`). */
  async checkHealth(): Promise<void> {
    const v = this.cur;
    if (!v || this.status !== 'ready' || !this.hasExport('health')) return;
    const ok = await probeHealth(() => this.invoke(v, 'health', []), this.ctx.policy.healthTimeoutMs);
    if (this.cur !== v || this.status !== 'ready') return;
    if (ok) {
      this.consecutiveHealthFailures = 0;
      return;
    }
    this.counters.healthFailures++;
    this.consecutiveHealthFailures++;
    this.ctx.logger.warn(this.fields('health-failed', { consecutive: this.consecutiveHealthFailures }), 'health probe failed');
    if (this.consecutiveHealthFailures >= this.ctx.policy.healthFailures) {
      this.consecutiveHealthFailures = 0;
      this.quarantine(`${this.ctx.policy.healthFailures} consecutive failed health probes`, undefined);
    }
  }

  /** Resolves when no restart and no standby build is in flight. */
  async settled(): Promise<void> {
    while (this.standbys.building) await this.standbys.building;
  }

  close(): void {
    this.breaker.stop();
    this.status = 'closed';
    this.standbys.drop();
    if (this.cur) this.retired.dispose(this.cur);
    this.cur = undefined;
    this.retired.disposeAll();
  }


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
  private invoke(v: Version, exportName: string, args: readonly unknown[]): unknown {
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
