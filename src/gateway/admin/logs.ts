/**
 * The plugins' own log lines (console, print, host.log) for the dashboard: a ring of the newest
 * `maxLines` per plugin, each line cut at `maxChars`. It taps the logger the gateway hands to its
 * host, where every plugin line passes already rate-limited and attributed (`event: 'plugin-log'`,
 * `plugin`): nothing in the host changes, and the lines reach the ring whatever the log level.
 */
import type { Logger, LogLevel } from '../../types.js';

export interface PluginLogLine {
  at: string;
  level: LogLevel;
  message: string;
}

export class PluginLogs {
  private readonly rings = new Map<string, PluginLogLine[]>();

  constructor(
    private readonly maxLines = 50,
    private readonly maxChars = 500,
  ) {}

  /** The newest lines of a plugin, oldest first. */
  lines(plugin: string): readonly PluginLogLine[] {
    return this.rings.get(plugin) ?? [];
  }

  add(plugin: string, level: LogLevel, message: string): void {
    let ring = this.rings.get(plugin);
    if (!ring) this.rings.set(plugin, (ring = []));
    const text = message.length > this.maxChars ? `${message.slice(0, this.maxChars)}…` : message;
    ring.push({ at: new Date().toISOString(), level, message: text });
    if (ring.length > this.maxLines) ring.splice(0, ring.length - this.maxLines);
  }

  /** `logger`, recording the plugin lines that pass through it. */
  tap(logger: Logger): Logger {
    const at =
      (level: LogLevel) =>
      (obj: object, msg?: string): void => {
        const o = obj as { event?: unknown; plugin?: unknown };
        if (o.event === 'plugin-log' && typeof o.plugin === 'string') this.add(o.plugin, level, msg ?? '');
        logger[level](obj, msg);
      };
    return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  }
}
