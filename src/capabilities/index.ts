/**
 * Host capabilities: the application's `capabilities` tree is flattened once into a list of
 * functions (bound by each engine as guest functions under the global `host`) and plain data
 * (copied in). Every plugin also gets `host.log.{debug,info,warn,error}` attributed to it.
 */
import { OptionsError } from '../errors.js';
import { MAX_DEPTH, encodeWire, isWireFailure } from '../binding/wire.js';
import type { Capabilities, LogLevel } from '../types.js';

/** One host function granted to plugins: `path` ['kv','get'] is `host.kv.get` inside the plugin. */
export interface CapabilityEntry {
  path: readonly string[];
  fn: (...args: unknown[]) => unknown;
}

export interface FlatCapabilities {
  functions: CapabilityEntry[];
  /** The same tree with function leaves removed; copied into each plugin once. */
  data: Record<string, unknown>;
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Flatten and validate the capabilities tree; bad shapes are rejected with ERR_OPTIONS. */
export function flattenCapabilities(tree: Capabilities | undefined): FlatCapabilities {
  const functions: CapabilityEntry[] = [];
  const walk = (node: Record<string, unknown>, path: string[], depth: number): Record<string, unknown> => {
    if (depth > 8) throw new OptionsError(`capabilities nest deeper than 8 levels at host.${path.join('.')}`, 'Flatten the capabilities tree');
    const data: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      const here = [...path, key];
      if (!IDENT.test(key)) {
        throw new OptionsError(`capability name "${here.join('.')}" is not an identifier`, 'Use names like kv, get, fetchUser');
      }
      if (typeof value === 'function') functions.push({ path: here, fn: value as CapabilityEntry['fn'] });
      else if (value !== null && typeof value === 'object' && !Array.isArray(value) && isPlain(value)) {
        const sub = walk(value as Record<string, unknown>, here, depth + 1);
        Object.defineProperty(data, key, { value: sub, enumerable: true, writable: true, configurable: true });
      } else Object.defineProperty(data, key, { value, enumerable: true, writable: true, configurable: true });
    }
    return data;
  };
  const data = walk(tree ?? {}, [], 0);
  try {
    encodeWire(data, MAX_DEPTH);
  } catch (e) {
    if (!isWireFailure(e)) throw e;
    const at = e.marshalPath.replace(/^\$/, 'host');
    throw new OptionsError(`capabilities: cannot copy ${e.marshalReason} at ${at} into plugins`, 'Plain data in capabilities must be JSON-like data, Uint8Array or undefined');
  }
  if ('config' in data || functions.some((f) => f.path[0] === 'config')) {
    throw new OptionsError('capabilities must not define "config"', 'Per-plugin config goes in options.config, keyed by plugin name');
  }
  return { functions, data };
}

function isPlain(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Longest plugin log line handed to the logger, in UTF-8 bytes; longer lines are cut and marked. */
export const LOG_LINE_BYTES = 8192;
/** Plugin log bytes per second (per plugin instance) handed to the logger; the rest is dropped and counted. */
export const LOG_BYTES_PER_SECOND = 256 * 1024;

/**
 * A log line as the logger receives it: always a string, at most LOG_LINE_BYTES of UTF-8, with a
 * marker saying how much was cut.
 * @example boundedLogLine('x'.repeat(10000)).endsWith('[truncated 1808 bytes]') // true
 */
export function boundedLogLine(message: unknown): string {
  const line = typeof message === 'string' ? message : formatLogArg(message);
  // Cheap test first: a line of at most LOG_LINE_BYTES / 3 UTF-16 units always fits.
  if (line.length <= LOG_LINE_BYTES / 3) return line;
  const bytes = Buffer.from(line.length > LOG_LINE_BYTES * 2 ? line.slice(0, LOG_LINE_BYTES * 2) : line, 'utf8');
  const total = line.length > LOG_LINE_BYTES * 2 ? Buffer.byteLength(line, 'utf8') : bytes.length;
  if (total <= LOG_LINE_BYTES) return line;
  // Cut on a character boundary (never inside a UTF-8 sequence).
  let end = LOG_LINE_BYTES - 40;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return `${bytes.subarray(0, end).toString('utf8')}… [truncated ${total - end} bytes]`;
}

/**
 * Per-second byte budget for one plugin's log output: lines beyond LOG_BYTES_PER_SECOND in the
 * current second are dropped; the first line of the next second that gets through says how many
 * bytes and lines were dropped.
 */
export class LogBytes {
  private windowStart = 0;
  private used = 0;
  private droppedBytes = 0;
  private droppedLines = 0;
  /** Total bytes dropped so far (a counter for the host to read). */
  dropped = 0;

  constructor(private readonly perSecond = LOG_BYTES_PER_SECOND) {}

  /** The line to log now (with a note on what was dropped before it), or undefined to drop it. */
  admit(line: string): string | undefined {
    const t = Date.now();
    if (t - this.windowStart >= 1000) {
      this.windowStart = t;
      this.used = 0;
    }
    const size = line.length <= LOG_LINE_BYTES / 3 ? line.length : Buffer.byteLength(line, 'utf8');
    if (this.used + size > this.perSecond) {
      this.droppedBytes += size;
      this.droppedLines++;
      this.dropped += size;
      return undefined;
    }
    this.used += size;
    if (this.droppedLines === 0) return line;
    const note = `[terrarium: dropped ${this.droppedLines} log lines, ${this.droppedBytes} bytes, over ${this.perSecond} bytes/s] `;
    this.droppedBytes = 0;
    this.droppedLines = 0;
    return note + line;
  }
}

/** A plugin log sink bounded per line and per second in bytes, always called with a string. */
export function boundedLog(log: (level: LogLevel, message: string) => void, bytes = new LogBytes()): (level: LogLevel, message: unknown) => void {
  return (level, message) => {
    const line = bytes.admit(boundedLogLine(message));
    if (line !== undefined) log(LOG_LEVELS.includes(level) ? level : 'info', line);
  };
}

/** The built-in `host.log.*` capability for one plugin, unless the application supplied its own `log`. */
export function withLogCapability(flat: FlatCapabilities, log: (level: LogLevel, message: string) => void): CapabilityEntry[] {
  if (flat.functions.some((f) => f.path[0] === 'log') || 'log' in flat.data) return flat.functions;
  const sink = boundedLog(log);
  const logFns = LOG_LEVELS.map((level) => ({
    path: ['log', level],
    fn: (...args: unknown[]) => {
      // Stop formatting once the line is over its bound: a plugin cannot make the host build 480 MiB.
      let line = '';
      for (let i = 0; i < args.length && line.length <= LOG_LINE_BYTES; i++) line += (i === 0 ? '' : ' ') + formatLogArg(args[i]);
      sink(level, line);
    },
  }));
  return [...flat.functions, ...logFns];
}

/** How a plugin's log argument becomes text: strings as they are, everything else as JSON. */
export function formatLogArg(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return `Uint8Array(${v.length})`;
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s;
  } catch {
    return String(v);
  }
}
