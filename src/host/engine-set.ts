/**
 * One host's engines by file extension (the host's own bookkeeping, not part of the engine kit):
 * each engine descriptor's factory is imported once, the first time a file with one of its
 * extensions is found.
 */
import type { Engine, EngineDescriptor } from '../engine.js';

/** One host's engines by extension; each engine is imported once, the first time a file needs it. */
export class EngineSet {
  private readonly byExt = new Map<string, { descriptor: EngineDescriptor; engine?: Promise<Engine> }>();

  constructor(descriptors: readonly EngineDescriptor[]) {
    // Engines sharing a factory (QuickJS for .js and, through TypeScript, .ts) are distinct descriptors.
    for (const descriptor of descriptors) {
      const entry = { descriptor };
      for (const ext of descriptor.extensions) this.byExt.set(ext.toLowerCase(), entry);
    }
  }

  /** The descriptor for a file extension, or undefined when no engine handles it. */
  descriptorFor(ext: string): EngineDescriptor | undefined {
    return this.byExt.get(ext.toLowerCase())?.descriptor;
  }

  /** The engine for a file extension (imported on first use), or undefined. */
  engineFor(ext: string): Promise<Engine> | undefined {
    const entry = this.byExt.get(ext.toLowerCase());
    if (!entry) return undefined;
    entry.engine ??= entry.descriptor.load();
    return entry.engine;
  }

  /** Extensions that have an engine, e.g. for error messages and the CLI. */
  extensions(): string[] {
    return [...this.byExt.keys()].sort();
  }
}

