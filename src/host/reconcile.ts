/**
 * Applying what is on disk to the registry: the first load of every file, then each batch of
 * changes (the watcher's, or host.reload()): load a new file, reload a changed one as a checked
 * version that replaces the serving one atomically (or is rejected while the old one keeps
 * serving), unload a deleted one, and move a name between files (storage.js -> storage.lua).
 * Batches are applied one at a time, in order.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { EngineSet } from './engine-set.js';
import { PluginLoadError, TerrariumError } from '../errors.js';
import type { Logger } from '../types.js';
import { type Built, ManagedPlugin, type PluginContext } from './plugin.js';
import { discard } from './plugin-types.js';
import { withStandbys } from './standby.js';
import { type FileRead, isQuiet, readSettled, readStable } from './read.js';
import { type Builder, type PluginRequest, loadEngine } from './builder.js';
import { type PluginRegistry, duplicateError } from './registry.js';

export interface ReconcilerOptions {
  engines: EngineSet;
  registry: PluginRegistry;
  builder: Builder;
  context: PluginContext;
  logger: Logger;
  shownPath(file: string): string;
  /** True once the host is closing: nothing more is applied. */
  closed(): boolean;
}

const exists = (f: string) => stat(f).then(() => true, () => false);

/** A build failure as a TerrariumError (an engine may throw anything). */
function asLoadError(e: unknown, req: PluginRequest, engine: string): TerrariumError {
  return e instanceof TerrariumError ? e : new PluginLoadError(String((e as Error)?.message ?? e), { plugin: req.defaultName, engine, file: req.file, cause: e });
}

export class Reconciler {
  private applying: Promise<void> = Promise.resolve();

  constructor(private readonly o: ReconcilerOptions) {}

  /** Resolves when every batch queued so far is applied. */
  idle(): Promise<void> {
    return this.applying;
  }

  /** A plugin for a request that has no serving version yet. */
  private plugin(req: PluginRequest, engine: Parameters<PluginContext['build']>[1]): ManagedPlugin {
    const p = new ManagedPlugin(this.o.context, req, engine);
    req.bind(p);
    return p;
  }

  /**
   * The first load: every file built concurrently, names claimed in file order. Versions built
   * but not activated when this fails half way are disposed before the error goes on.
   */
  async loadInitial(files: readonly string[]): Promise<void> {
    const { o } = this;
    const initial = await Promise.all(
      files.map(async (file) => {
        let read: FileRead | undefined;
        let unreadable: PluginLoadError | undefined;
        const plugin = path.basename(file, path.extname(file));
        try {
          const r = await readStable(file);
          if (!r) throw new Error('no such file');
          if (r === 'unsettled') throw new Error('the file kept changing while it was read');
          if (r === 'empty') {
            unreadable = new PluginLoadError('the file is empty, which is never a version (a save in progress?)', { plugin, file: o.shownPath(file) }, 'Write the plugin; with watch: true it loads when the file is written');
          } else read = r;
        } catch (e) {
          unreadable = new PluginLoadError(`cannot read the plugin file: ${(e as Error).message}`, { plugin, file: o.shownPath(file), cause: e }, 'Check the file and its permissions');
        }
        const engine = await loadEngine(o.engines, path.extname(file));
        const req = o.builder.requestFor(file, read);
        const p = this.plugin(req, engine);
        if (unreadable) return { p, outcome: unreadable as TerrariumError | Built };
        try {
          // Built with its standbys: createHost resolves with the first violation of every plugin covered.
          return { p, outcome: (await withStandbys(await o.builder.build(req, engine), o.context.policy.standby, o.builder.build)) as TerrariumError | Built };
        } catch (e) {
          return { p, outcome: asLoadError(e, req, engine.name) };
        }
      }),
    );
    let i = 0;
    try {
      for (; i < initial.length; i++) {
        const { p, outcome } = initial[i]!;
        if (outcome instanceof TerrariumError) {
          p.fail(outcome);
          o.registry.register(p);
          continue;
        }
        const other = o.registry.byName.get(outcome.instance.name);
        if (other && other.status !== 'failed') {
          discard(outcome);
          p.name = outcome.instance.name;
          p.fail(duplicateError(outcome.instance.name, p.file, p.engine.name, other));
          o.registry.register(p);
        } else p.activate(outcome, 'loaded', () => o.registry.register(p));
      }
    } catch (e) {
      // Half way: what was built and not handed to a registered plugin is disposed here; the
      // registered ones are closed by the caller.
      for (const { p, outcome } of initial.slice(i)) {
        if (!(outcome instanceof TerrariumError)) discard(outcome);
        if (!o.registry.plugins.includes(p)) p.close();
      }
      throw e;
    }
  }

  /** Queue a batch of changed files (applied after the batches before it). */
  enqueue(paths: Iterable<string>, quietMs?: number): Promise<void> {
    const list = [...paths];
    this.applying = this.applying
      .then(() => this.apply(list, quietMs))
      .catch((e: unknown) => this.o.logger.error({ event: 'reload-error', err: e }, `applying plugin changes failed: ${(e as Error)?.message ?? String(e)}`));
    return this.applying;
  }

  /**
   * Apply what changed on disk for these plugin files: load, reload (checked, atomic), or unload.
   * With `quietMs` (the watcher's batches), a file still being written is retried after quietMs;
   * without (host.reload()), it is read once it is unchanged across a read. An empty file is never
   * a version. Events are emitted once the registry shows the change (callable now).
   */
  private async apply(paths: readonly string[], quietMs?: number): Promise<void> {
    const { o } = this;
    // Files that exist first, deletions last: storage.lua of a storage.js -> storage.lua swap takes
    // the name over in place before storage.js is seen gone, whatever order the events came in.
    const unique = [...new Set(paths)];
    const present = await Promise.all(unique.map(exists));
    const batch = [...unique.filter((_, i) => present[i]), ...unique.filter((_, i) => !present[i])];
    if (quietMs !== undefined) {
      // A batch is applied whole: if one file is still being written, all of it waits, so that a
      // storage.js -> storage.lua swap never unloads the old file before the new one can load.
      const quiet = await Promise.all(batch.map((f) => isQuiet(f, quietMs)));
      if (quiet.includes(false)) {
        setTimeout(() => void this.enqueue(batch, quietMs), quietMs).unref();
        return;
      }
    }
    for (const file of batch) {
      if (o.closed()) return;
      await this.applyFile(file, quietMs);
    }
  }

  private async applyFile(file: string, quietMs: number | undefined): Promise<void> {
    const { o } = this;
    const { registry } = o;
    const current = registry.byFile.get(file);
    let read: FileRead | undefined;
    try {
      const r = quietMs === undefined ? await readStable(file) : await readSettled(file, quietMs);
      if (r === 'unsettled' && quietMs !== undefined) {
        setTimeout(() => void this.enqueue([file], quietMs), quietMs).unref();
        return;
      }
      if (r === 'empty') {
        // A truncate in progress: the write that follows brings its own change event.
        o.logger.debug({ event: 'empty-skipped', file: o.shownPath(file), plugin: current?.name }, 'plugin file is empty: not a version, skipped');
        return;
      }
      if (r === 'unsettled') throw new Error('the file kept changing while it was read');
      read = r;
    } catch (e) {
      const err = new PluginLoadError(`cannot read the plugin file: ${(e as Error).message}`, { plugin: current?.name, file: o.shownPath(file), cause: e }, 'Check the file and its permissions');
      if (current) current.rejectReload(err);
      return;
    }
    if (!read) {
      if (current) {
        registry.remove(current);
        current.unload();
      }
      return;
    }
    if (current && current.sourceHash === read.hash && current.status !== 'failed') return;
    const engine = await loadEngine(o.engines, path.extname(file));
    const req = o.builder.requestFor(file, read);
    const rejectNew = (err: TerrariumError, name?: string) => {
      if (current) current.rejectReload(err);
      else {
        const p = this.plugin(req, engine);
        if (name !== undefined) p.name = name;
        p.fail(err);
        registry.register(p);
      }
    };
    let built: Built;
    try {
      built = await o.builder.build(req, engine);
    } catch (e) {
      rejectNew(asLoadError(e, req, engine.name));
      return;
    }
    if (o.closed()) {
      built.instance.dispose();
      return;
    }
    const name = built.instance.name;
    let target = registry.byName.get(name);
    if (target && target !== current && target.status !== 'failed' && registry.byFile.get(target.path) === target && (await exists(target.path))) {
      // Another live file serves this name: the new file is a duplicate.
      built.instance.dispose();
      rejectNew(duplicateError(name, req.file, engine.name, target), name);
      return;
    }
    if (target && target !== current && target.status === 'failed') target = undefined;
    const replaced = target && target !== current ? target : current;
    const broken = o.builder.contractError(built, replaced);
    if (broken) {
      built.instance.dispose();
      if (replaced && replaced !== current) replaced.rejectReload(broken);
      else rejectNew(broken, name);
      return;
    }
    // The version goes live with its standbys: the first violation after a reload is covered.
    await withStandbys(built, o.context.policy.standby, o.builder.build);
    if (o.closed()) {
      discard(built);
      return;
    }
    if (target && target !== current) {
      // The name's previous file is gone (e.g. storage.js replaced by storage.lua): swap in place
      // so callers of the name never see it missing.
      const t = target;
      if (registry.byFile.get(t.path) === t) registry.byFile.delete(t.path);
      if (current) {
        registry.remove(current);
        current.unload();
      }
      req.bind(t);
      t.activate(built, 'reloaded', () => registry.byFile.set(file, t));
      return;
    }
    if (current) {
      const oldName = current.name;
      req.bind(current);
      current.activate(built, current.status === 'failed' ? 'loaded' : 'reloaded', () => registry.rename(current, oldName));
      return;
    }
    const p = this.plugin(req, engine);
    p.activate(built, 'loaded', () => registry.register(p));
  }
}
