import { OptionsError } from '../errors.js';
import { formatBytes } from '../bytes.js';
import type { Limits } from '../types.js';

/** Safe defaults for every plugin; override with `createHost({ limits })` or per plugin with `pluginLimits`. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  memoryBytes: 64 * 1024 * 1024,
  callTimeoutMs: 1000,
  loadTimeoutMs: 2000,
  stackBytes: 256 * 1024,
});

/** The floor for every engine; an engine declares a higher one in its traits (QuickJS: 16 MiB). */
export const MIN_MEMORY_BYTES = 1024 * 1024;
export const MAX_MEMORY_BYTES = 2 * 1024 * 1024 * 1024;

const BOUNDS: Record<keyof Limits, [number, number, (n: number) => string]> = {
  memoryBytes: [MIN_MEMORY_BYTES, MAX_MEMORY_BYTES, formatBytes],
  callTimeoutMs: [1, 10 * 60 * 1000, (n) => `${n} ms`],
  loadTimeoutMs: [1, 10 * 60 * 1000, (n) => `${n} ms`],
  // The ceiling for every engine; an engine declares a lower one in its traits (QuickJS: 4 MiB).
  stackBytes: [16 * 1024, 64 * 1024 * 1024, formatBytes],
};

/** Bounds of one numeric option: min, max, and how to show a value. */
export type NumberBounds<T> = Record<keyof T, [number, number, (n: number) => string]>;

/**
 * Merge a partial object of numeric options over a base and check each value; bad values throw
 * ERR_OPTIONS naming the field (`limits.callTimeoutMs`, `quarantine.windowMs`, ...).
 */
export function resolveNumbers<T extends object>(partial: NoInfer<Partial<T>> | undefined, base: Readonly<T>, bounds: NoInfer<NumberBounds<T>>, where: string): T {
  const out = { ...base } as T;
  if (partial === undefined) return out;
  if (partial === null || typeof partial !== 'object' || Array.isArray(partial)) {
    throw new OptionsError(`${where} must be an object`, `Pass e.g. { ${Object.keys(bounds)[0]}: ${String(base[Object.keys(bounds)[0] as keyof T])} }`);
  }
  for (const [key, value] of Object.entries(partial)) {
    if (!(key in bounds)) throw new OptionsError(`${where}.${key} is not an option`, `Known: ${Object.keys(bounds).join(', ')}`);
    if (value === undefined) continue;
    const [min, max, show] = bounds[key as keyof T];
    if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max) {
      throw new OptionsError(`${where}.${key} must be a number from ${show(min)} to ${show(max)}, got ${String(value)}`, 'Fix the value');
    }
    (out as Record<string, number>)[key] = Number.isFinite(value) ? Math.floor(value) : value;
  }
  return out;
}

/**
 * Merge partial limits over a base and check each value; bad values throw ERR_OPTIONS naming the field.
 * @example resolveLimits({ callTimeoutMs: 50 }) // { ...DEFAULT_LIMITS, callTimeoutMs: 50 }
 */
export function resolveLimits(partial: Partial<Limits> | undefined, base: Readonly<Limits> = DEFAULT_LIMITS, where = 'limits'): Limits {
  return resolveNumbers(partial, base, BOUNDS, where);
}
