/**
 * The types a plugin's lifecycle shares with the host: what `host.plugins` lists, a built version,
 * the lifecycle policy, and what a ManagedPlugin needs from its host.
 */
import type { Engine, LoadRequest } from '../engine.js';
import type { TerrariumError } from '../errors.js';
import type { ExportInfo, Logger, PluginCounters, PluginMeta, PluginStatus } from '../types.js';
import type { HostEvent } from './events.js';
import type { GuardedInstance } from './guard.js';
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
  /** Work units the live instance ran so far, where its engine counts them (EngineInstance.workUnits). */
  workUnits?: number;
  /** The standby instance that replaces the serving one after a limit violation: `ready`, `building`, or `none` (disabled, or not serving). */
  standby: 'ready' | 'building' | 'none';
  /** While `quarantined`: when the next re-probe of a fresh instance is due. */
  nextProbeAt?: string;
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
  /**
   * Instances of the same source built with it, to become the plugin's standbys when it serves:
   * a version goes live with its standbys, so the first violation after createHost or a reload
   * is covered (standby.ts `withStandbys`). Disposed with it when it does not serve (`discard`).
   */
  standbys: Built[];
}

/** Dispose a built version that will not serve, and the standbys built with it. */
export function discard(b: Built): void {
  for (const s of b.standbys.splice(0)) s.instance.dispose();
  b.instance.dispose();
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
  /**
   * `build`, synchronously, for a rebuild inside a call (builder.ts `buildSync`); undefined when
   * the engine has no `loadSync`. Throws a TerrariumError.
   */
  buildSync(req: LoadRequest, engine: Engine): Built | undefined;
}

/** Counters of a plugin that has done nothing yet. */
export const newCounters = (): PluginCounters => ({
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
