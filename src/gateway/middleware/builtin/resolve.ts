/**
 * How `http.middlewares` entries are read: the schema of one entry (exactly one of `plugin` or a
 * built-in key), which type an entry is, and the expansion of `chain`s in a router's list, with
 * Traefik's `name@file` references.
 */
import type { Issue, ResolvedMiddleware } from '../../config/model.js';
import { BUILTINS, UNSUPPORTED } from './index.js';

/** The JSON schema of one `http.middlewares.<name>` entry. */
export function middlewareEntrySchema(): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    plugin: { type: 'object', minProperties: 1, maxProperties: 1, description: 'exactly one plugin: { <pluginName>: <config> }' },
    failOpen: { type: 'boolean' },
  };
  for (const d of BUILTINS.values()) properties[d.type] = d.schema;
  for (const k of Object.keys(UNSUPPORTED)) properties[k] = {};
  return { type: 'object', additionalProperties: false, minProperties: 1, properties, description: 'one middleware: plugin, or a built-in such as stripPrefix' };
}

/** `name@file` is `name` (the only provider here); other providers stay as written (and are unknown). */
export function localName(ref: string): string {
  return ref.endsWith('@file') ? ref.slice(0, -5) : ref;
}

/** One entry resolved, or the problem (the path below the entry, and a message). */
export function resolveMiddleware(name: string, m: Record<string, unknown>): ResolvedMiddleware | { path: string[]; message: string } {
  const keys = Object.keys(m).filter((k) => k !== 'failOpen');
  const failOpen = m.failOpen === true;
  for (const k of keys) if (UNSUPPORTED[k]) return { path: [k], message: UNSUPPORTED[k]! };
  if (keys.length !== 1) {
    return { path: [], message: keys.length === 0 ? 'must define a middleware: plugin, or a built-in such as stripPrefix' : `must define only one middleware type; found: ${keys.join(', ')}` };
  }
  const type = keys[0]!;
  if (type === 'plugin') {
    const [plugin, config] = Object.entries(m.plugin as Record<string, unknown>)[0]!;
    return { name, plugin, config: config ?? {}, failOpen };
  }
  return { name, plugin: type, builtin: type, config: m[type] ?? {}, failOpen };
}

/**
 * A router's middleware list with chains expanded in place (depth first), each reference checked.
 * Problems go to `issue` at the path of the reference.
 */
export function expandMiddlewares(
  refs: readonly string[],
  base: (string | number)[],
  middlewares: ReadonlyMap<string, ResolvedMiddleware>,
  issue: (segs: (string | number)[], message: string) => void,
  stack: string[] = [],
): string[] {
  const out: string[] = [];
  refs.forEach((ref, i) => {
    const name = localName(ref);
    const mw = middlewares.get(name);
    if (!mw) {
      const known = [...middlewares.keys()];
      issue([...base, i], `unknown middleware "${ref}"; ${known.length ? `defined: ${known.join(', ')}` : 'none is defined under http.middlewares'}`);
      return;
    }
    if (mw.builtin !== 'chain') {
      out.push(name);
      return;
    }
    if (stack.includes(name)) {
      issue([...base, i], `chain "${name}" includes itself (${[...stack, name].join(' -> ')})`);
      return;
    }
    const inner = ((mw.config as { middlewares?: string[] }).middlewares ?? []) as string[];
    out.push(...expandMiddlewares(inner, ['http', 'middlewares', name, 'chain', 'middlewares'], middlewares, issue, [...stack, name]));
  });
  return out;
}

export type { Issue };
