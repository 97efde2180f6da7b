/**
 * The host's plugins and the rules of their names and files: plugins in load order, each file
 * served by at most one plugin, each name by one (the first to claim it; a failed plugin yields
 * its name to a working one), and what happens when a name is freed (a duplicate gets its chance).
 */
import { DuplicateNameError } from '../errors.js';
import type { ManagedPlugin } from './plugin.js';

export class PluginRegistry {
  /** Plugins in load order. */
  readonly plugins: ManagedPlugin[] = [];
  readonly byName = new Map<string, ManagedPlugin>();
  /** Each file to the plugin its serving version came from. */
  readonly byFile = new Map<string, ManagedPlugin>();

  /** `retry` reloads the files of duplicates once the name they wanted is free. */
  constructor(private readonly retry: (paths: string[]) => void) {}

  /** Add a plugin; it takes its name unless a working plugin holds it. */
  register(p: ManagedPlugin): void {
    this.plugins.push(p);
    this.byFile.set(p.path, p);
    const holder = this.byName.get(p.name);
    if (!holder || holder.status === 'failed') this.byName.set(p.name, p);
  }

  /** Take a plugin out (its file is gone or another file took its name over). */
  remove(p: ManagedPlugin): void {
    this.plugins.splice(this.plugins.indexOf(p), 1);
    if (this.byFile.get(p.path) === p) this.byFile.delete(p.path);
    if (this.byName.get(p.name) !== p) return;
    this.byName.delete(p.name);
    // A failed plugin of the same name (e.g. a duplicate) can now be reached by name again,
    // and a duplicate gets its chance to load.
    const next = this.plugins.find((q) => q.name === p.name);
    if (next) this.byName.set(p.name, next);
    const duplicates = this.plugins.filter((q) => q.name === p.name && q.status === 'failed' && q.error instanceof DuplicateNameError);
    if (duplicates.length > 0) this.retry(duplicates.map((q) => q.path));
  }

  /** A plugin renamed itself in a new version: move its name. */
  rename(p: ManagedPlugin, oldName: string): void {
    if (oldName !== p.name) {
      if (this.byName.get(oldName) === p) this.byName.delete(oldName);
      this.byName.set(p.name, p);
    } else if (!this.byName.has(p.name)) this.byName.set(p.name, p);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }
}

/** ERR_PLUGIN_LOAD for a second file declaring a name another file serves. */
export function duplicateError(name: string, file: string, engine: string, other: ManagedPlugin): DuplicateNameError {
  return new DuplicateNameError(name, other.file, { plugin: name, engine, file });
}
