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

/** The built-in `host.log.*` capability for one plugin, unless the application supplied its own `log`. */
export function withLogCapability(flat: FlatCapabilities, log: (level: LogLevel, message: string) => void): CapabilityEntry[] {
  if (flat.functions.some((f) => f.path[0] === 'log') || 'log' in flat.data) return flat.functions;
  const logFns = LOG_LEVELS.map((level) => ({
    path: ['log', level],
    fn: (...args: unknown[]) => log(level, args.map(formatLogArg).join(' ')),
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
