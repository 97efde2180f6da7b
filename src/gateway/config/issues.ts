/**
 * Configuration problems as the gateway reports them (`Issue`, model.ts): a dotted path in the file
 * (`http.services.a.loadBalancer.servers[0].url`), a message in plain words, a hint, and the place
 * as fields. Ajv's schema errors are turned into such issues here.
 */
import type { ErrorObject } from 'ajv';
import type { Issue, Where } from './model.js';

/** An issue at `segs`, with its place from `where`. */
export function issueAt(where: Where, segs: readonly (string | number)[], message: string, hint?: string): Issue {
  return { path: dotted(segs), message, ...(hint ? { hint } : {}), ...where(segs) };
}

/** What schemaIssues may say instead of its own words: the hint of an unknown key under `parent`. */
export interface SchemaWording {
  unknownKey?(parent: readonly (string | number)[], key: string): string | undefined;
}

/** Dotted path of JSON-pointer segments: `http.services.a.loadBalancer.servers[0].url`. */
export function dotted(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else out += out ? `.${s}` : s;
  }
  return out || '(root)';
}

export function pointerSegments(pointer: string): (string | number)[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s));
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  object: 'a mapping',
  array: 'a list',
  boolean: 'true or false',
  integer: 'an integer',
  number: 'a number',
  null: 'null',
};

/** Ajv errors as issues with paths in the file, in plain words, without the noise of alternatives. */
export function schemaIssues(errors: readonly ErrorObject[], base: readonly (string | number)[], where: Where, wording: SchemaWording = {}): Issue[] {
  const issues: Issue[] = [];
  const seen = new Set<string>();
  const push = (segs: (string | number)[], message: string, hint?: string) => {
    const key = `${dotted(segs)}\0${message}\0${hint ?? ''}`;
    if (seen.has(key)) return;
    seen.add(key);
    issues.push(issueAt(where, segs, message, hint));
  };
  const desc = (s: unknown): string => {
    const d = (s as { description?: unknown } | undefined)?.description;
    return typeof d === 'string' ? ` (${d})` : '';
  };
  // A value of the wrong type also fails every keyword of the other types: report only the type.
  const wrongType = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  for (const e of errors) {
    const segs = [...base, ...pointerSegments(e.instancePath)];
    const parent = e.parentSchema as { properties?: Record<string, unknown>; description?: string } | undefined;
    if (e.keyword !== 'type' && wrongType.has(e.instancePath)) continue;
    switch (e.keyword) {
      case 'required': {
        const missing = (e.params as { missingProperty: string }).missingProperty;
        push([...segs, missing], `is required${desc(parent?.properties?.[missing])}`);
        break;
      }
      case 'additionalProperties': {
        const extra = (e.params as { additionalProperty: string }).additionalProperty;
        const known = Object.keys(parent?.properties ?? {});
        const own = wording.unknownKey?.(segs, extra);
        push([...segs, extra], 'unknown key', own ?? (known.length ? `expected one of: ${known.join(', ')}` : undefined));
        break;
      }
      case 'type': {
        const t = (e.params as { type: string | string[] }).type;
        const words = (Array.isArray(t) ? t : String(t).split(',')).map((x) => TYPE_WORDS[x] ?? x);
        push(segs, `must be ${words.join(' or ')}${desc(parent)}`);
        break;
      }
      case 'pattern':
      case 'minProperties':
      case 'maxProperties':
        push(segs, `must be ${parent?.description ?? e.message ?? 'valid'}`);
        break;
      case 'enum':
        push(segs, `must be one of: ${((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map((v) => JSON.stringify(v)).join(', ')}`);
        break;
      default:
        push(segs, `${e.message ?? 'is invalid'}${desc(parent)}`);
    }
  }
  return issues;
}


/** Issues in the order of the config file (by line), then those of other files, each in discovery order. */
export function sortIssues(issues: Issue[]): Issue[] {
  const line = (i: Issue) => (i.file === undefined ? (i.line ?? Infinity) : Infinity);
  return issues.map((i, n) => ({ i, n })).sort((a, b) => line(a.i) - line(b.i) || a.n - b.n).map((x) => x.i);
}

