/**
 * Building a version of a plugin: a load request for a file's content, then the checks a version
 * must pass before it may serve, in order: its signature (before any of its code is interpreted),
 * the engine's load (behind the host's guard, which validates the metadata and derives the name),
 * the API-version handshake, its self-tests, and, when it replaces a serving version, the export
 * contract. A version that fails a check is disposed here; the caller gets the error.
 */
import path from 'node:path';
import type { EmptyTable, Engine, EngineDescriptor, LoadRequest } from '../engine.js';
import type { EngineSet } from './engine-set.js';
import { ApiVersionError, ExportsRemovedError, OptionsError, PluginLoadError, SelfTestError } from '../errors.js';
import { formatBytes } from '../bytes.js';
import type { Limits, LogLevel } from '../types.js';
import { type FlatCapabilities, boundedLog, withLogCapability } from '../capabilities/index.js';
import { withKeyScope } from '../capabilities/kv-scope.js';
import { type PluginGrants, fetchGrantOf } from '../capabilities/grants.js';
import { Outbound } from '../outbound/outbound.js';
import { type EffectiveGrants, checkPermissions, grantsFor, narrowGrants } from '../capabilities/permissions.js';
import { resolveLimits } from './limits.js';
import type { Built, ManagedPlugin } from './plugin.js';
import type { FileRead } from './read.js';
import { type TrustStore, verifyPlugin } from './trust.js';
import { hasSelfTests, runSelfTests } from './selftest.js';
import { type GuardedInstance, loadGuarded, loadGuardedSync } from './guard.js';

/** A load request that remembers which plugin serves it (for log attribution and config by name). */
export type PluginRequest = LoadRequest & { bind(p: ManagedPlugin): void };

export interface BuilderOptions {
  engines: EngineSet;
  baseLimits: Limits;
  pluginLimits: Record<string, Partial<Limits>>;
  capabilities: FlatCapabilities;
  config: Record<string, unknown>;
  trust: TrustStore | undefined;
  apiVersions: readonly (string | number)[] | undefined;
  selftest: boolean;
  allowRemovedExports: boolean;
  requiredExports: ((plugin: string) => readonly string[]) | undefined;
  shownPath(file: string): string;
  /** Plugin output, attributed (fields) and rate-limited per plugin name. */
  pluginLog(name: string, fields: Record<string, unknown>, level: LogLevel, message: string): void;
  /** Per-plugin grants (options.grants), by plugin name. */
  grants: Record<string, PluginGrants>;
}

const sameVersion = (a: string | number, b: string | number) => String(a) === String(b);

export class Builder {
  /** The bytes each request was made from (signature checks need bytes, engines need text). */
  private readonly sources = new WeakMap<object, FileRead>();
  /** Requests in flight per plugin name, shared by its versions and instances (the grant's maxInFlight). */
  private readonly inFlight = new Map<string, { n: number }>();
  /** Per file: the effective grants of the version being built (set once its permissions are checked), and its plugin's last name. */
  private readonly effective = new WeakMap<LoadRequest, { g?: EffectiveGrants }>();
  private readonly names = new Map<string, string>();

  constructor(private readonly o: BuilderOptions) {}

  /** A load request for one file's content (`read` undefined: the file could not be read). */
  requestFor(file: string, read: FileRead | undefined): PluginRequest {
    const { o } = this;
    const ext = path.extname(file);
    const defaultName = path.basename(file, ext);
    const shown = o.shownPath(file);
    let owner: ManagedPlugin | undefined;
    const limits = resolveLimits(o.pluginLimits[defaultName], o.baseLimits, `pluginLimits.${defaultName}`);
    // grants by plugin name (else file name), narrowed by the declared permissions once checked() read the meta
    const granted = (n: string) => grantsFor(o.grants, n, defaultName);
    const eff: { g?: EffectiveGrants } = {};
    let counter = this.inFlight.get(defaultName);
    if (!counter) this.inFlight.set(defaultName, (counter = { n: 0 }));
    const req: PluginRequest = {
      path: file,
      file: shown,
      defaultName,
      source: read ? read.bytes.toString('utf8') : '',
      limits,
      // key-scoped capabilities (host.kv) get the plugin's own key space, named when called
      capabilities: withKeyScope(withLogCapability(o.capabilities, (level, message) => req.log(level, message)), () => owner?.name ?? defaultName, (n) => eff.g ?? granted(n)),
      data: o.capabilities.data,
      // BigInt is switched on before the code runs: by file name, or the name this file's plugin had when it last loaded
      grants: { bigint: granted(this.names.get(file) ?? defaultName)?.bigint === true },
      outbound: new Outbound({ plugin: () => owner?.name ?? defaultName, grant: () => (eff.g ? eff.g.fetch && fetchGrantOf(eff.g) : fetchGrantOf(granted(owner?.name ?? defaultName))), memoryBytes: limits.memoryBytes, inFlight: counter }),
      config: () => o.config[defaultName] ?? (owner && owner.name !== defaultName ? o.config[owner.name] : undefined),
      // console / print output of every engine, bounded in bytes per line and per second like host.log.
      log: boundedLog((level: LogLevel, message: string) => {
        const name = owner?.name ?? defaultName;
        o.pluginLog(name, { plugin: name, version: owner?.version, engine: o.engines.descriptorFor(ext)?.name, file: shown, export: owner?.currentExport }, level, message);
      }),
      bind(p: ManagedPlugin) {
        owner = p;
      },
    };
    if (read) this.sources.set(req, read);
    this.effective.set(req, eff);
    return req;
  }

  /** Interpret and check a version (signature, handshake, self-tests); throws a TerrariumError. */
  readonly build = async (req: LoadRequest, engine: Engine): Promise<Built> => {
    const { emptyTable, signedBy } = this.before(req, engine);
    const b = this.checked(req, engine, await loadGuarded(engine, req, emptyTable), signedBy);
    const { instance } = b;
    if (!this.o.selftest || !hasSelfTests(instance)) return b;
    try {
      b.selftests = await runSelfTests(instance);
      const failed = b.selftests.filter((r) => !r.ok);
      const ctx = { plugin: instance.name, engine: engine.name, file: req.file };
      if (failed.length) throw new SelfTestError(failed.map((r) => `${r.name}: ${r.detail ?? 'failed'}`), ctx);
      if (instance.broken) throw new PluginLoadError('the instance broke during its self-tests', ctx);
    } catch (e) {
      instance.dispose();
      throw e;
    }
    return b;
  };

  /**
   * `build`, synchronously, through the engine's `loadSync`: a fresh instance of a source that
   * serves, made inside the call that needs it (the plugin is restarting and no standby is ready).
   * The checks are the same steps as `build` (signature, metadata and name, API version), except
   * the self-tests: they gate a source becoming a version, which this one already did with these
   * very bytes (and every standby of it ran them again), and a call cannot await an async one.
   * Undefined when the engine has no `loadSync`. Throws a TerrariumError.
   */
  readonly buildSync = (req: LoadRequest, engine: Engine): Built | undefined => {
    const { emptyTable, signedBy } = this.before(req, engine);
    const instance = loadGuardedSync(engine, req, emptyTable);
    return instance && this.checked(req, engine, instance, signedBy);
  };

  /** What runs before any code of the version is interpreted: the signature check (its signer), and the engine's empty-table trait. */
  private before(req: LoadRequest, engine: Engine): { emptyTable: EmptyTable | undefined; signedBy: string | undefined } {
    const read = this.sources.get(req);
    const signedBy = this.o.trust && read ? verifyPlugin(read.bytes, read.sig, this.o.trust, { plugin: req.defaultName, engine: engine.name, file: req.file }) : undefined;
    return { emptyTable: this.o.engines.descriptorFor(path.extname(req.path))?.traits?.emptyTable, signedBy };
  }

  /** The loaded instance as a version, after the API-version handshake (disposed when it fails). */
  private checked(req: LoadRequest, engine: Engine, instance: GuardedInstance, signedBy: string | undefined): Built {
    const b: Built = { instance, req, engine, hash: this.sources.get(req)?.hash ?? '', signedBy, selftests: [], standbys: [] };
    try {
      const name = instance.name;
      const granted = grantsFor(this.o.grants, name, req.defaultName);
      checkPermissions(instance.meta, name, granted, this.o.capabilities.functions, { plugin: name, engine: engine.name, file: req.file });
      const eff = this.effective.get(req);
      if (eff) eff.g = narrowGrants(granted, instance.meta?.permissions);
      this.names.set(req.path, name);
      this.checkVersion(b);
    } catch (e) {
      instance.dispose();
      throw e;
    }
    return b;
  }

  /** The API-version handshake (createHost `apiVersions`). */
  private checkVersion(b: Built): void {
    const { apiVersions } = this.o;
    if (!apiVersions) return;
    const declared = b.instance.meta?.apiVersion;
    if (declared === undefined || !apiVersions.some((v) => sameVersion(v, declared))) {
      throw new ApiVersionError(declared === undefined ? undefined : String(declared), apiVersions.map(String), {
        plugin: b.instance.name,
        engine: b.engine.name,
        file: b.req.file,
      });
    }
  }

  /**
   * The contract gate: a new version must keep every export of the version it replaces (unless
   * reload.allowRemovedExports) and the exports the application requires (reload.requiredExports).
   */
  contractError(built: Built, replaced: ManagedPlugin | undefined): ExportsRemovedError | undefined {
    const has = new Set(built.instance.exports.map((e) => e.name));
    const name = built.instance.name;
    const required = (this.o.requiredExports?.(name) ?? []).filter((e) => !has.has(e));
    const serving = replaced && replaced.serving ? replaced.exports.map((e) => e.name) : [];
    const dropped = this.o.allowRemovedExports ? [] : serving.filter((e) => !has.has(e));
    const missing = [...new Set([...dropped, ...required])];
    if (missing.length === 0) return undefined;
    const v = built.instance.meta?.version;
    return new ExportsRemovedError(missing, { next: v === undefined ? undefined : String(v), serving: replaced?.serving ? replaced.version : undefined, required: required.length > 0 }, { plugin: name, engine: built.engine.name, file: built.req.file });
  }
}

/**
 * The engine for an extension. An engine that cannot start (its module fails to import) fails
 * only the plugins it would have run, each with ERR_PLUGIN_LOAD saying why.
 */
export async function loadEngine(engines: EngineSet, ext: string): Promise<Engine> {
  try {
    return await engines.engineFor(ext)!;
  } catch (e) {
    const name = engines.descriptorFor(ext)?.name ?? ext;
    return {
      name,
      load: async (req) => {
        throw new PluginLoadError(`the ${name} engine could not start: ${(e as Error)?.message ?? String(e)}`, { plugin: req.defaultName, engine: name, file: req.file, cause: e }, 'Check the installation (npm ci)');
      },
    };
  }
}

/** A plugin's limits against what its engine declares it can honour (ERR_OPTIONS naming both). */
export function checkTraits(engine: EngineDescriptor, own: Partial<Limits>, base: Limits, file: string): void {
  const limits = { ...base, ...own };
  const { minMemoryBytes, maxStackBytes } = engine.traits ?? {};
  if (minMemoryBytes !== undefined && limits.memoryBytes < minMemoryBytes) {
    throw new OptionsError(`limits.memoryBytes is ${formatBytes(limits.memoryBytes)} for ${path.basename(file)}, but the ${engine.name} engine needs at least ${formatBytes(minMemoryBytes)}`, 'Raise memoryBytes (limits or pluginLimits)');
  }
  if (maxStackBytes !== undefined && limits.stackBytes > maxStackBytes) {
    throw new OptionsError(`limits.stackBytes is ${formatBytes(limits.stackBytes)} for ${path.basename(file)}, but the ${engine.name} engine honours at most ${formatBytes(maxStackBytes)}`, 'Lower stackBytes (limits or pluginLimits)');
  }
}
