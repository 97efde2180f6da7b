/**
 * Why a plugin cannot serve a call right now, as ERR_PLUGIN_UNAVAILABLE saying what to do: it is
 * restarting without a standby, quarantined (and when it is probed again), failed, unloaded,
 * closed, or still loading.
 */
import { type ErrorContext, PluginUnavailableError, type TerrariumError } from '../errors.js';
import type { PluginStatus } from '../types.js';

/** What the message needs to know of the plugin. */
export interface UnavailableState {
  status: PluginStatus;
  /** The failure behind the status (load error, last violation, quarantine cause). */
  error: TerrariumError | undefined;
  /** Standby instances kept (policy). */
  standby: number;
  /** When the last standby was used (Date.now() ms). */
  standbyUsedAt: number;
  /** When a quarantined plugin is probed next (Date.now() ms). */
  nextProbeAt: number;
}

export function unavailableError(s: UnavailableState, ctx: ErrorContext): PluginUnavailableError {
  switch (s.status) {
    case 'restarting':
      return new PluginUnavailableError(
        `is restarting after ${s.error?.code ?? 'a failure'}, and no standby instance was ready (${s.standby > 0 ? `the last one replaced a broken instance ${Date.now() - s.standbyUsedAt} ms ago` : 'standby: false'})`,
        ctx,
        s.standby > 0
          ? 'Retry shortly, or await host.ready(); a sync export meets this only when violations come faster than instances build (createHost({ standby: 2 }) keeps two)'
          : 'Retry shortly, or await host.ready(); createHost({ standby: true }) serves the next call at once',
      );
    case 'quarantined': {
      const at = s.nextProbeAt;
      const inMs = Math.max(0, at - Date.now());
      return new PluginUnavailableError(
        `is quarantined after ${s.error?.code ?? 'repeated failures'}; the next probe of a fresh instance is in ${inMs} ms (${new Date(at).toISOString()})`,
        ctx,
        'It is re-probed with backoff (quarantine.backoffMs, doubling) and restored when healthy; see host.plugins',
      );
    }
    case 'failed':
      return new PluginUnavailableError(`failed to load: ${s.error?.message ?? 'unknown error'}`, ctx, 'Fix the plugin file (with watch: true the host picks up the fix)');
    case 'unloaded':
      return new PluginUnavailableError('was unloaded (its file was deleted)', ctx, 'Restore the file, or stop calling this plugin');
    case 'closed':
      return new PluginUnavailableError('the host is closed', ctx, 'Create a new host');
    default:
      return new PluginUnavailableError('is still loading', ctx, 'Await createHost() before calling plugins');
  }
}
