/**
 * Lifecycle events of a host (`host.on('reloaded', e => ...)`). Listeners are the application's
 * code: one that throws is logged and never breaks the host or the other listeners.
 */
import type { TerrariumError } from '../errors.js';
import type { Logger } from '../types.js';

export const HOST_EVENTS = ['loaded', 'reloaded', 'failed', 'unloaded', 'quarantined', 'recovered'] as const;
/** `loaded` (first version), `reloaded` (a new version swapped in), `failed` (a load or reload was rejected), `unloaded` (file deleted), `quarantined`, `recovered`. */
export type HostEventName = (typeof HOST_EVENTS)[number];

/** What every lifecycle event carries. */
export interface HostEvent {
  event: HostEventName;
  /** The plugin's name. */
  plugin: string;
  /** `meta.version` of the version concerned (for `reloaded`: the new one). */
  version: string | undefined;
  /** For `reloaded`: the version it replaced. */
  previousVersion?: string | undefined;
  /** The plugin file, relative to the plugin directory. */
  file: string;
  engine: string;
  /** Why, in words (e.g. `3 limit violations in 60000 ms`, `reload rejected; version 1.0.0 keeps serving`). */
  reason?: string;
  error?: TerrariumError;
}

export type HostListener = (event: HostEvent) => void;

export class HostEvents {
  private readonly listeners = new Map<HostEventName, Set<HostListener>>();

  constructor(private readonly logger: Logger) {}

  on(name: HostEventName, listener: HostListener): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener);
    return () => void set.delete(listener);
  }

  emit(e: HostEvent): void {
    for (const l of this.listeners.get(e.event) ?? []) {
      try {
        l(e);
      } catch (err) {
        this.logger.error({ event: e.event, plugin: e.plugin, err }, `a host.on('${e.event}') listener threw: ${(err as Error)?.message ?? String(err)}`);
      }
    }
  }
}
