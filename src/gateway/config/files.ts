/**
 * Traefik's file layout: a static file (entryPoints, providers.file, log, accessLog, api, global,
 * plus Terrarium's `plugins` and `admin`) whose `providers.file.filename` or `.directory` names the
 * dynamic files (`http:` routers, middlewares, services). Every dynamic file is read (a directory
 * recursively, `.yml`, `.yaml` and `.toml`), each checked on its own (YAML/TOML syntax, top-level
 * keys), then merged; a name defined in two files is refused, naming both. Issues point at the file
 * and line that holds the entry: `(dynamic/routers.yml:12)`.
 *
 * A file without `providers` is today's single file (entryPoints and http together), unchanged.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Ajv } from 'ajv';
import { parse as parseToml, TomlError } from 'smol-toml';
import { ConfigError, UnsupportedProviderError } from '../../errors.js';
import type { Issue, Place, Where } from './model.js';
import { dotted, issueAt, schemaIssues, sortIssues } from './issues.js';
import { parseConfigText } from './yaml.js';

/** A parsed configuration as checkConfig takes it, plus the paths to watch for reloads. */
export interface LayoutParsed {
  value: unknown;
  file: string | undefined;
  where: Where;
  /** Dynamic files or directories (absolute) to watch, when `providers.file.watch` is on. */
  watch: string[];
}

/** Keys of a static file that Terrarium reads itself and does not pass on to the gateway checker. */
const STATIC_ONLY = ['providers'] as const;

const ajv = new Ajv({ allErrors: true, verbose: true, strict: false });
const staticSchema = {
  type: 'object',
  properties: {
    providers: {
      type: 'object',
      additionalProperties: false,
      properties: {
        file: {
          type: 'object',
          additionalProperties: false,
          properties: {
            filename: { type: 'string', minLength: 1 },
            directory: { type: 'string', minLength: 1 },
            watch: { type: 'boolean' },
          },
        },
        providersThrottleDuration: { type: ['string', 'number'] },
        // Checked with the rest of the gateway config (redis-config.ts): passed on as it is.
        redis: { type: 'object' },
      },
    },
  },
};
const validateStatic = ajv.compile(staticSchema);

/** `providers` keys read here: the two providers and Traefik's throttle. */
const SUPPORTED_PROVIDER_KEYS = new Set(['file', 'redis', 'providersThrottleDuration']);
const PROVIDER_HINT = 'only the file provider is supported (providers.file.filename or providers.file.directory)';

/** Read a configuration file: a static file with its dynamic files, or a single file. */
export async function readLayout(file: string): Promise<LayoutParsed> {
  const abs = path.resolve(file);
  const main = await parseFile(abs);
  return layoutOf(main.value, abs, main.where, path.dirname(abs));
}

/**
 * The merged configuration of a static value (from a file, or an object with `file` undefined)
 * and the dynamic files it names.
 */
export async function layoutOf(value: unknown, file: string | undefined, where: Where, baseDir: string): Promise<LayoutParsed> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { value, file, where, watch: [] };
  const v = value as Record<string, unknown>;
  // A provider Terrarium has not (docker, kubernetes*, consul*, etcd, http...): one stable code.
  const providers = v.providers;
  if (providers !== null && typeof providers === 'object' && !Array.isArray(providers)) {
    const other = Object.keys(providers).find((k) => !SUPPORTED_PROVIDER_KEYS.has(k));
    if (other !== undefined) throw new UnsupportedProviderError(other, file);
  }
  const fileProvider = (v.providers as { file?: unknown } | undefined)?.file;
  if (v.providers === undefined || (fileProvider === undefined && typeof v.providers === 'object' && v.providers !== null && 'redis' in v.providers)) {
    if (v.entryPoints === undefined && v.http !== undefined) {
      throw new ConfigError(file, [
        {
          path: 'entryPoints',
          message:
            'is required: this looks like a Traefik dynamic file (http: only). Point terrarium serve at the static file whose providers.file names it, or add entryPoints to this file',
        },
      ]);
    }
    return { value, file, where, watch: [] };
  }
  // A static file: check Terrarium's reading of the Traefik-only keys, then gather the dynamic files.
  if (!validateStatic(v)) {
    const issues = schemaIssues(validateStatic.errors ?? [], [], where, {
      unknownKey: (parent) => (parent.length === 1 && parent[0] === 'providers' ? PROVIDER_HINT : undefined),
    });
    throw new ConfigError(file, sortIssues(issues));
  }
  const fp = (v.providers as { file?: { filename?: string; directory?: string; watch?: boolean } }).file;
  const issues: Issue[] = [];
  if (!fp || (fp.filename === undefined) === (fp.directory === undefined)) {
    throw new ConfigError(file, [issueAt(where, ['providers', 'file'], 'must set exactly one of filename or directory')]);
  }
  const target = path.resolve(baseDir, (fp.filename ?? fp.directory)!);
  let files: string[];
  try {
    files = fp.filename !== undefined ? [target] : await listDynamic(target);
  } catch (e) {
    throw new ConfigError(file, [{ ...where(['providers', 'file']), path: `providers.file.${fp.filename !== undefined ? 'filename' : 'directory'}`, message: `cannot read ${target}: ${(e as Error).message}` }]);
  }
  const merged: Record<string, Record<string, unknown>> = {};
  const dynamicTls: { certificates?: unknown[]; options?: Record<string, unknown>; stores?: Record<string, unknown> } = {};
  /** Which file (and its locator) defines http.<kind>.<name>. */
  const owners = new Map<string, { file: string; where: Where }>();
  const rel = (f: string) => (file ? path.relative(path.dirname(file), f) : f) || f;
  // The static file's own http section (Terrarium's single-file form) merges like one more file.
  const sources: { file: string; value: unknown; where: Where }[] = [];
  if (v.http !== undefined) sources.push({ file: file ?? '(config)', value: { http: v.http }, where });
  for (const f of files) {
    try {
      const p = await parseFile(f);
      sources.push({ file: f, value: p.value, where: p.where });
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      for (const i of e.issues) issues.push({ ...i, file: f });
    }
  }
  for (const src of sources) {
    const at = (segs: readonly (string | number)[]): Place => located(src.where, segs, src.file === file ? undefined : src.file);
    if (src.value === null || src.value === undefined) continue; // an empty file defines nothing, as in Traefik
    if (typeof src.value !== 'object' || Array.isArray(src.value)) {
      issues.push({ path: '(root)', message: 'a dynamic file must be a mapping with http:', file: src.file });
      continue;
    }
    for (const [k, section] of Object.entries(src.value as Record<string, unknown>)) {
      if (k === 'tls' && src.file !== (file ?? '(config)') && section && typeof section === 'object' && !Array.isArray(section)) {
        // Traefik's dynamic tls: certificates add up (paths from the file's folder), options and stores by name.
        const t = section as { certificates?: unknown; options?: Record<string, unknown>; stores?: Record<string, unknown> };
        if (Array.isArray(t.certificates)) {
          const base = path.dirname(src.file);
          for (const c of t.certificates as Record<string, unknown>[]) {
            const abs = (x: unknown) => (typeof x === 'string' ? path.resolve(base, x) : x);
            (dynamicTls.certificates ??= []).push(c && typeof c === 'object' ? { ...c, certFile: abs(c.certFile), keyFile: abs(c.keyFile) } : c);
          }
        }
        for (const kind of ['options', 'stores'] as const) {
          for (const [name, entry] of Object.entries(t[kind] ?? {})) {
            const bucket = (dynamicTls[kind] ??= {});
            if (name in bucket) issues.push({ path: dotted(['tls', kind, name]), message: `is defined twice (again in ${rel(src.file)})`, hint: 'rename one', ...at(['tls', kind, name]) });
            else bucket[name] = kind === 'stores' ? absolutePairs(entry, path.dirname(src.file)) : entry;
          }
        }
        continue;
      }
      if (k !== 'http') {
        const why = k === 'tcp' || k === 'udp' ? `${k} routing is not supported (HTTP only)` : 'unknown key; expected: http, tls';
        issues.push({ path: k, message: why, ...at([k]) });
        continue;
      }
      if (section === null || section === undefined) continue;
      if (typeof section !== 'object' || Array.isArray(section)) {
        issues.push({ path: 'http', message: 'must be a mapping', ...at(['http']) });
        continue;
      }
      for (const [kind, entries] of Object.entries(section as Record<string, unknown>)) {
        if (entries === null || entries === undefined) continue;
        const bucket = (merged[kind] ??= {});
        if (typeof entries !== 'object' || Array.isArray(entries)) {
          issues.push({ path: `http.${kind}`, message: 'must be a mapping', ...at(['http', kind]) });
          continue;
        }
        for (const [name, entry] of Object.entries(entries as Record<string, unknown>)) {
          const key = `${kind}\0${name}`;
          const prev = owners.get(key);
          if (prev) {
            issues.push({
              path: dotted(['http', kind, name]),
              message: `is defined twice: in ${place(prev.where, ['http', kind, name], rel(prev.file))} and in ${place(src.where, ['http', kind, name], rel(src.file))}`,
              hint: 'rename one',
            });
            continue;
          }
          owners.set(key, { file: src.file, where: src.where });
          bucket[name] = entry;
        }
      }
    }
  }
  if (issues.length > 0) throw new ConfigError(file, issues);
  const combined: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (!(STATIC_ONLY as readonly string[]).includes(k) && k !== 'http') combined[k] = x;
  // The Redis provider goes on to the gateway checker, which validates and resolves it.
  const redis = (v.providers as { redis?: unknown }).redis;
  if (redis !== undefined) combined.providers = { redis };
  if (Object.keys(merged).length > 0) combined.http = merged;
  if (Object.keys(dynamicTls).length > 0) {
    const own = (combined.tls ?? {}) as typeof dynamicTls;
    combined.tls = {
      ...own,
      ...(dynamicTls.certificates || own.certificates ? { certificates: [...(own.certificates ?? []), ...(dynamicTls.certificates ?? [])] } : {}),
      ...(dynamicTls.options || own.options ? { options: { ...own.options, ...dynamicTls.options } } : {}),
      ...(dynamicTls.stores || own.stores ? { stores: { ...own.stores, ...dynamicTls.stores } } : {}),
    };
  }
  const combinedWhere: Where = (segs) => {
    if (segs[0] === 'http' && segs.length >= 3) {
      const o = owners.get(`${segs[1]}\0${segs[2]}`);
      if (o) return located(o.where, segs, o.file === file ? undefined : o.file);
    }
    return where(segs);
  };
  return { value: combined, file, where: combinedWhere, watch: fp.watch === false ? [] : [target] };
}

/** A store's defaultCertificate with its paths made absolute from `base`. */
function absolutePairs(entry: unknown, base: string): unknown {
  const d = (entry as { defaultCertificate?: Record<string, unknown> } | null)?.defaultCertificate;
  if (!d || typeof d !== 'object') return entry;
  const abs = (x: unknown) => (typeof x === 'string' ? path.resolve(base, x) : x);
  return { ...(entry as object), defaultCertificate: { ...d, certFile: abs(d.certFile), keyFile: abs(d.keyFile) } };
}

/** The place of a path in one file; `other` names that file when it is not the config file. */
function located(where: Where, segs: readonly (string | number)[], other: string | undefined): Place {
  const { line } = where(segs);
  return { ...(other !== undefined ? { file: other } : {}), ...(line !== undefined ? { line } : {}) };
}

/** 'file:line' (or 'file') of a path, for a message that names two places. */
function place(where: Where, segs: readonly (string | number)[], shown: string): string {
  const { line } = where(segs);
  return line !== undefined ? `${shown}:${line}` : shown;
}

/** The dynamic files of a directory and its subdirectories, in name order. */
async function listDynamic(dir: string): Promise<string[]> {
  if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
  const out: string[] = [];
  const walk = async (d: string) => {
    const entries = await readdir(d, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (/\.(ya?ml|toml)$/i.test(e.name)) out.push(p);
    }
  };
  await walk(dir);
  return out;
}

/** Parse one YAML or TOML file (by extension). */
async function parseFile(file: string): Promise<{ value: unknown; where: Where }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [{ path: '(file)', message: `cannot read the file: ${(e as Error).message}` }]);
  }
  if (/\.toml$/i.test(file)) {
    try {
      // TOML keeps no positions of keys: issues name the file, not the line.
      return { value: parseToml(text), where: () => ({}) };
    } catch (e) {
      if (e instanceof TomlError) throw new ConfigError(file, [{ path: '(toml)', message: e.message.split('\n')[0]!, line: e.line, column: e.column }]);
      throw e;
    }
  }
  const p = parseConfigText(text, file);
  return { value: p.value, where: p.where };
}
