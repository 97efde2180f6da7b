/**
 * Engine-neutral pieces of error handling: reading file:line out of a plugin's stack, turning a
 * wire refusal into ERR_MARSHAL, and stripping host errors down to what a plugin may see.
 */
import { type ErrorContext, MarshalError, PluginLoadError } from '../errors.js';
import type { PluginMeta } from '../types.js';
import type { WireFailure } from './wire.js';

export interface GuestFailure {
  message: string;
  /** Plugin frames only (glue / host frames removed). */
  stack: string | undefined;
  where: { line?: number; column?: number };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Summarise an error value thrown inside a plugin: its message, its stack restricted to the
 * plugin's own frames, and the first `file:line[:col]` in it.
 * @example guestFailure({name:'TypeError', message:'x', stack:'    at f (a.js:3:5)\n'}, 'a.js', 'glue').where // {line:3, column:5}
 */
export function guestFailure(thrown: unknown, file: string, glueFile: string): GuestFailure {
  let message: string;
  let stack: string | undefined;
  if (thrown !== null && typeof thrown === 'object') {
    const o = thrown as { name?: unknown; message?: unknown; stack?: unknown };
    const name = typeof o.name === 'string' ? o.name : 'Error';
    message = typeof o.message === 'string' ? `${name}: ${o.message}` : safeJson(thrown);
    if (typeof o.stack === 'string') stack = o.stack;
  } else {
    message = typeof thrown === 'string' ? thrown : safeJson(thrown);
  }
  if (stack) {
    stack = stack
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.includes(glueFile))
      .join('\n');
    if (!stack) stack = undefined;
  }
  const where: GuestFailure['where'] = {};
  const m = new RegExp(`${escapeRe(file)}:(\\d+)(?::(\\d+))?`).exec(`${stack ?? ''}\n${message}`);
  if (m) {
    where.line = Number(m[1]);
    if (m[2]) where.column = Number(m[2]);
  }
  return { message, stack, where };
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * ERR_MARSHAL from a wire refusal. Paths into an argument list (`$[1].headers`) are reported per
 * argument: `argument 2 at $.headers`.
 */
export function marshalErrorFrom(f: WireFailure, direction: string, ctx: ErrorContext): MarshalError {
  let path = f.marshalPath;
  let dir = direction;
  const m = /^\$\[(\d+)\](.*)$/.exec(path);
  if (m && (direction === 'arguments' || direction.startsWith('arguments of'))) {
    dir = `argument ${Number(m[1]) + 1}${direction.slice('arguments'.length)}`;
    path = `$${m[2]}`;
  }
  return new MarshalError(path, f.marshalReason, dir, ctx);
}

const NAME = /^[A-Za-z0-9_.@/-]{1,128}$/;

/**
 * Check a plugin's metadata and return its name: `meta.name`, else the file name without
 * extension. Bad metadata fails the load with ERR_PLUGIN_LOAD saying what to fix.
 * @example pluginNameFrom({ name: 'revert', version: '1.0.0' }, { defaultName: 'revert' }, ctx) // 'revert'
 */
export function pluginNameFrom(meta: PluginMeta | undefined, req: { defaultName: string }, ctx: ErrorContext): string {
  if (meta === undefined) return req.defaultName;
  const bad = (what: string): never => {
    throw new PluginLoadError(`invalid meta: ${what}`, ctx, 'meta is { name?, version?, apiVersion?, description? } with string values (apiVersion may be a number)');
  };
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) bad('it must be an object');
  for (const k of ['name', 'version', 'description'] as const) {
    if (meta[k] !== undefined && typeof meta[k] !== 'string') bad(`meta.${k} must be a string`);
  }
  if (meta.apiVersion !== undefined && typeof meta.apiVersion !== 'string' && typeof meta.apiVersion !== 'number') bad('meta.apiVersion must be a string or a number');
  if (meta.name === undefined) return req.defaultName;
  if (!NAME.test(meta.name)) bad(`meta.name "${meta.name}" must be 1-128 letters, digits or _ . @ / -`);
  return meta.name as string;
}

/** A marshalling refusal while reading `meta`: the plugin cannot load. */
export function metaLoadError(e: { marshalReason: string; marshalPath: string }, ctx: ErrorContext): PluginLoadError {
  return new PluginLoadError(`invalid meta: cannot copy ${e.marshalReason} at meta${e.marshalPath.slice(1)}`, ctx, 'meta must be plain data');
}

/** What of a host error a plugin may see: its name, message and code, never its stack or the object. */
export function sanitizeHostError(e: unknown): { name: string; message: string; code?: string } {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return {
      name: typeof e.name === 'string' ? e.name : 'Error',
      message: String(e.message),
      ...(typeof code === 'string' ? { code } : {}),
    };
  }
  return { name: 'Error', message: typeof e === 'string' ? e : safeJson(e) };
}
