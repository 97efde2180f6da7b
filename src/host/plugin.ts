/**
 * One plugin's lifecycle. A ManagedPlugin is the stable thing proxies point at; behind it, one
 * *version* (an interpreted instance of one source) serves at a time:
 * - crash-only: after a limit violation the instance is thrown away and a *standby* (the same
 *   source, interpreted and checked ahead of time) takes its place at once, so the very next call,
 *   sync or async, is served; a new standby is then built in the background;
 * - hot swap: a new version, built and checked elsewhere, replaces the serving one atomically; the
 *   old one keeps its in-flight async calls and its pins (a request's version, see `pin`) and is
 *   disposed when they are done, or `pinMs` after it was retired at the latest;
 * - quarantine: repeated violations or failed health probes stop the plugin (calls fail fast) and
 *   re-probe a fresh instance with backoff until it is healthy.
 */
import type { Engine, LoadRequest } from '../engine.js';
import type { GuardedInstance } from './guard.js';
import {
  NoExportError,
  PluginLoadError,
  PluginMemoryError,
  PluginStackError,
  PluginTimeoutError,
  PluginUnavailableError,
  TerrariumError,
  isLimitViolation,
} from '../errors.js';
import type { ExportInfo, Logger, PluginCounters, PluginMeta, PluginStatus } from '../types.js';
import type { HostEvent, HostEventName } from './events.js';
import type { SelfTestResult } from './selftest.js';

/** A snapshot of one plugin, as listed by `host.plugins`. */
export interface PluginInfo {
  name: string;
  /** Path relative to the plugin directory. */
  file: string;
  engine: string;
  status: PluginStatus;
  /** `meta.version` of the serving version. */
  version: string | undefined;
  meta: PluginMeta | undefined;
  exports: ExportInfo[];
  /** The load error (status `failed`), the last limit violation (`restarting`), or why it is `quarantined`. */
  error?: TerrariumError;
  /** The last error any call, probe or reload met, with its time and, when known, the plugin file:line. */
  lastError?: { code: string; message: string; at: string; file?: string; line?: number };
  /** The last hot reload: when, and whether the new version was activated or rejected (and why). */
  lastReload?: { at: string; ok: boolean; error?: TerrariumError };
  /** Fingerprint of the key that signed the serving version (with `trust`). */
  signedBy?: string;
  /** Self-test results of the serving version. */
  selftests: { passed: number; failed: number };
  counters: PluginCounters;
  /** Bytes held by the live instance (QuickJS: its WebAssembly memory, which never shrinks). */
  memoryBytes: number;
  /** The standby instance that replaces the serving one after a limit violation: `ready`, `building`, or `none` (disabled, or not serving). */
  standby: 'ready' | 'building' | 'none';
}

/** A built and checked version, ready to be activated. */
export interface Built {
  /** The engine's instance behind the host's guard (every call goes through it). */
  instance: GuardedInstance;
  req: LoadRequest;
  engine: Engine;
  /** sha-256 of the source bytes and signature: a save that changes nothing is not a reload. */
  hash: string;
  signedBy: string | undefined;
  selftests: SelfTestResult[];
}

/** Quarantine and health thresholds (createHost `quarantine` and `health`). */
export interface LifecyclePolicy {
  /** Limit violations (timeout, memory, stack) within `windowMs` that quarantine a plugin. */
  maxViolations: number;
  windowMs: number;
  /** Consecutive failed health probes that quarantine a plugin. */
  healthFailures: number;
  /** First re-probe delay of a quarantined plugin; doubles up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
  /** Budget of an async health() probe (sync probes are bounded by callTimeoutMs). */
  healthTimeoutMs: number;
  /** Standby instances kept per plugin (createHost `standby`: true = 1, false = 0). */
  standby: number;
  /** How long a retired version stays alive for the pins (requests) still holding it. */
  pinMs: number;
}

/** What a ManagedPlugin needs from its host. */
export interface PluginContext {
  logger: Logger;
  policy: LifecyclePolicy;
  emit(e: HostEvent): void;
  /** Interpret and check a source (signature, handshake, self-tests); throws a TerrariumError. */
  build(req: LoadRequest, engine: Engine): Promise<Built>;
}

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

const newVersion = (built: Built): Version => ({ built, inflight: 0, pins: 0, retired: false, crashed: false, pinsExpired: false, disposed: false, pinTimer: undefined });

/**
 * A request's hold on the version that served its first call (`ManagedPlugin.pin`): every call
 * through it runs on that version, even after a hot reload, until it is released.
 */
export interface Pin {
  v: Version | undefined;
  released: boolean;
}

const newCounters = (): PluginCounters => ({
  calls: 0,
  errors: 0,
  timeouts: 0,
  memoryErrors: 0,
  stackErrors: 0,
  restarts: 0,
  reloads: 0,
  rejectedReloads: 0,
  quarantines: 0,
  healthFailures: 0,
  logDropped: 0,
});

const nowIso = (): string => new Date().toISOString();

/** Whether a health() result says healthy: anything but false, `{ ok: false }`, or a throw. */
function healthy(r: unknown): boolean {
  if (r === false) return false;
  if (r !== null && typeof r === 'object' && (r as { ok?: unknown }).ok === false) return false;
  return true;
}

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
  private violations: number[] = [];
  private consecutiveHealthFailures = 0;
  private backoff = 0;
  private probeTimer: NodeJS.Timeout | undefined;
  private nextProbeAt = 0;
  private readonly retired = new Set<Version>();
  /** A fresh instance of the serving source, checked and waiting to replace it after a violation. */
  private readonly standbys: Built[] = [];
  private standbyBuilding: Promise<void> | undefined;
  /** Bumped when the serving source changes: a standby built for an older source is thrown away. */
  private standbyGen = 0;
  /** When the last standby was used (for the message when a second violation finds none ready). */
  private standbyUsedAt = 0;
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

  /** Build and activate the first version; never throws: a failure leaves status `failed`. */
  async load(): Promise<void> {
    try {
      this.activate(await this.ctx.build(this.req, this.engineNow), 'loaded');
    } catch (e) {
      if (this.status !== 'closed') this.fail(this.asError(e));
    }
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
      built.instance.dispose();
      return;
    }
    const previousVersion = this.version;
    const old = this.cur;
    if (event !== 'restarted') this.dropStandby();
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
    this.prepareStandby();
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

  /**
   * Stop serving a version. It is disposed once its async calls have settled and its pins are
   * released; pins are let go `pinMs` after retirement at the latest (async calls are bounded by
   * callTimeoutMs on their own), so a stuck request cannot keep an old version alive.
   */
  private retire(v: Version, crashed = false): void {
    v.retired = true;
    v.crashed ||= crashed;
    if (this.disposeIfIdle(v)) return;
    this.retired.add(v);
    if (v.pins > 0 && !v.pinTimer) {
      v.pinTimer = setTimeout(() => {
        v.pinTimer = undefined;
        v.pins = 0;
        v.pinsExpired = true;
        this.disposeIfIdle(v);
      }, this.ctx.policy.pinMs);
      v.pinTimer.unref();
    }
  }

  private disposeIfIdle(v: Version): boolean {
    if (!v.retired || v.inflight > 0 || v.pins > 0) return false;
    this.disposeVersion(v);
    return true;
  }

  private disposeVersion(v: Version): void {
    if (v.disposed) return;
    v.disposed = true;
    if (v.pinTimer) clearTimeout(v.pinTimer);
    v.pinTimer = undefined;
    this.retired.delete(v);
    v.built.instance.dispose();
  }

  /**
   * Build the standby: the serving source interpreted and checked again, kept ready to replace the
   * serving instance synchronously after a limit violation. While restarting (no standby was
   * ready), the build that finishes becomes the serving instance.
   */
  private prepareStandby(): void {
    // One build at a time; each finished one starts the next until `policy.standby` are ready.
    if (this.standbyBuilding) return;
    if (!(this.status === 'restarting' || (this.status === 'ready' && this.standbys.length < this.ctx.policy.standby))) return;
    const gen = this.standbyGen;
    const building = this.ctx.build(this.req, this.engineNow).then(
      (b) => {
        this.standbyBuilding = undefined;
        if (gen !== this.standbyGen || (this.status !== 'ready' && this.status !== 'restarting')) {
          // Built for a source that no longer serves: build one for the source that does.
          b.instance.dispose();
          this.prepareStandby();
          return;
        }
        if (this.status === 'restarting') this.activate(b, 'restarted');
        else {
          this.standbys.push(b);
          this.prepareStandby();
        }
      },
      (e: unknown) => {
        this.standbyBuilding = undefined;
        if (gen !== this.standbyGen) {
          this.prepareStandby();
          return;
        }
        if (this.status === 'restarting') this.fail(this.asError(e));
        else {
          const err = this.asError(e);
          this.noteError(err);
          this.ctx.logger.warn(this.fields('standby-failed', { code: err.code }), `could not build a standby instance: ${err.message}`);
        }
      },
    );
    this.standbyBuilding = building;
  }

  /** Throw the standby away (the serving source changed, or the plugin stops serving). */
  private dropStandby(): void {
    this.standbyGen++;
    for (const b of this.standbys.splice(0)) b.instance.dispose();
  }

  /** The first load failed (or the file could not be read, or its name is taken). */
  fail(error: TerrariumError): void {
    this.dropStandby();
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
    this.stopProbe();
    this.dropStandby();
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
      standby: this.standbys.length > 0 ? 'ready' : this.standbyBuilding ? 'building' : 'none',
    };
  }

  hasExport(name: string): boolean {
    return this.exportsNow.some((e) => e.name === name);
  }

  /** Call an export; sync exports return values, async ones Promises. Throws TerrariumError. */
  call(exportName: string, args: readonly unknown[]): unknown {
    const v = this.cur;
    if (!v || this.status !== 'ready') {
      // No standby was ready: an async export waits for the instance being built (it returns a
      // promise anyway); a sync one cannot wait.
      const building = this.standbyBuilding;
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
    const v = pin.v;
    if (!v || v === this.cur) return v;
    if (v.crashed) {
      // Same source, fresh instance: follow it (re-pinned, so a later reload does not move it).
      if (!v.pinsExpired) v.pins--;
      pin.v = undefined;
      this.disposeIfIdle(v);
      if (this.cur && this.cur.built.hash === v.built.hash) {
        pin.v = this.cur;
        this.cur.pins++;
        return this.cur;
      }
      if (this.hash === v.built.hash) return undefined;
      throw new PluginUnavailableError(`the version this request started on (${v.built.instance.meta?.version ?? 'unversioned'}) was thrown away after a limit violation, and another version serves now`, { plugin: this.name, engine: this.engineNow.name, file: this.req.file, exportName }, 'Retry the request');
    }
    if (v.disposed || v.pinsExpired) {
      throw new PluginUnavailableError(
        `the version this request started on (${v.built.instance.meta?.version ?? 'unversioned'}) was retired more than ${this.ctx.policy.pinMs} ms ago`,
        { plugin: this.name, engine: this.engineNow.name, file: this.req.file, exportName },
        'Requests are pinned to a version for at most reload.pinMs; raise it, or find what holds requests this long',
      );
    }
    return v;
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
    switch (this.status) {
      case 'restarting':
        return new PluginUnavailableError(
          `is restarting after ${this.error?.code ?? 'a failure'}, and no standby instance was ready (${this.ctx.policy.standby > 0 ? `the last one replaced a broken instance ${Date.now() - this.standbyUsedAt} ms ago` : 'standby: false'})`,
          ctx,
          this.ctx.policy.standby > 0
            ? 'Retry shortly, or await host.ready(); a sync export meets this only when violations come faster than instances build (createHost({ standby: 2 }) keeps two)'
            : 'Retry shortly, or await host.ready(); createHost({ standby: true }) serves the next call at once',
        );
      case 'quarantined': {
        const inMs = Math.max(0, this.nextProbeAt - Date.now());
        return new PluginUnavailableError(
          `is quarantined after ${this.error?.code ?? 'repeated failures'}; the next probe of a fresh instance is in ${inMs} ms (${new Date(this.nextProbeAt).toISOString()})`,
          ctx,
          'It is re-probed with backoff (quarantine.backoffMs, doubling) and restored when healthy; see host.plugins',
        );
      }
      case 'failed':
        return new PluginUnavailableError(`failed to load: ${this.error?.message ?? 'unknown error'}`, ctx, 'Fix the plugin file (with watch: true the host picks up the fix)');
      case 'unloaded':
        return new PluginUnavailableError('was unloaded (its file was deleted)', ctx, 'Restore the file, or stop calling this plugin');
      case 'closed':
        return new PluginUnavailableError('the host is closed', ctx, 'Create a new host');
      default:
        return new PluginUnavailableError('is still loading', ctx, 'Await createHost() before calling plugins');
    }
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
    const { maxViolations, windowMs } = this.ctx.policy;
    const now = Date.now();
    this.violations = this.violations.filter((t) => t > now - windowMs);
    this.violations.push(now);
    if (this.violations.length >= maxViolations) this.quarantine(`${this.violations.length} limit violations in ${windowMs} ms (last: ${cause?.code ?? 'broken instance'})`, cause);
    else this.restart(cause);
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
    this.ctx.logger.warn(this.fields('restarting', { code: cause?.code, export: cause?.exportName, standby: this.standbys.length > 0 }), `restarting plugin after ${cause?.code ?? 'a failure'}`);
    const standby = this.standbys.shift();
    if (standby) {
      this.standbyUsedAt = Date.now();
      this.activate(standby, 'restarted');
      return;
    }
    this.status = 'restarting';
    this.error = cause;
    this.prepareStandby();
  }

  /** Stop serving: calls fail fast; a fresh instance is probed with backoff until healthy. */
  quarantine(reason: string, cause: TerrariumError | undefined): void {
    this.dropStandby();
    if (this.cur) this.retire(this.cur, true);
    this.cur = undefined;
    this.status = 'quarantined';
    this.error = cause;
    this.counters.quarantines++;
    this.backoff = this.ctx.policy.backoffMs;
    this.ctx.logger.warn(this.fields('quarantined', { code: cause?.code, export: cause?.exportName, reason }), `plugin quarantined: ${reason}`);
    this.event('quarantined', { reason, ...(cause ? { error: cause } : {}) });
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    this.stopProbe();
    this.nextProbeAt = Date.now() + this.backoff;
    this.probeTimer = setTimeout(() => void this.probe(), this.backoff);
    this.probeTimer.unref();
  }

  private stopProbe(): void {
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
  }

  /** Re-probe a quarantined plugin: a fresh instance from the same source, then health() if exported. */
  private async probe(): Promise<void> {
    this.probeTimer = undefined;
    if (this.status !== 'quarantined') return;
    let built: Built | undefined;
    try {
      built = await this.ctx.build(this.req, this.engineNow);
      if (built.instance.exports.some((e) => e.name === 'health')) {
        const ok = await this.probeHealth(newVersion(built));
        if (!ok) throw new PluginUnavailableError('health() still fails', { plugin: this.name, engine: this.engineNow.name, file: this.req.file, exportName: 'health' });
      }
    } catch (e) {
      built?.instance.dispose();
      if (this.status !== 'quarantined') return;
      this.noteError(this.asError(e));
      this.backoff = Math.min(this.backoff * 2, this.ctx.policy.maxBackoffMs);
      this.ctx.logger.warn(this.fields('probe-failed', { retryInMs: this.backoff }), `quarantined plugin is still unhealthy: ${(e as Error)?.message ?? String(e)}`);
      this.scheduleProbe();
      return;
    }
    if (this.status !== 'quarantined') {
      built.instance.dispose();
      return;
    }
    this.violations = [];
    this.consecutiveHealthFailures = 0;
    this.activate(built, 'recovered');
  }

  /** One health() probe of a version: false on `false`, `{ ok: false }`, a throw, or no answer within healthTimeoutMs. */
  private async probeHealth(v: Version): Promise<boolean> {
    try {
      const r = this.invoke(v, 'health', []);
      if (!(r instanceof Promise)) return healthy(r);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), this.ctx.policy.healthTimeoutMs);
      });
      try {
        return healthy(await Promise.race([r, timeout]));
      } finally {
        clearTimeout(timer);
      }
    } catch {
      return false;
    }
  }

  /** The periodic health check of a serving plugin (host `health.intervalMs`). */
  async checkHealth(): Promise<void> {
    const v = this.cur;
    if (!v || this.status !== 'ready' || !this.hasExport('health')) return;
    const ok = await this.probeHealth(v);
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
    while (this.standbyBuilding) await this.standbyBuilding;
  }

  close(): void {
    this.stopProbe();
    this.status = 'closed';
    this.dropStandby();
    if (this.cur) this.disposeVersion(this.cur);
    this.cur = undefined;
    for (const v of [...this.retired]) this.disposeVersion(v);
  }
}
