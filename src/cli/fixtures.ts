/**
 * Fixtures: `<name>.test.json` next to a plugin (or a folder `<name>.tests/` of `.json` files),
 * like Traefik's `testData` but run. Each file gives the config to use and cases: a request in
 * and the decision out (middleware `onRequest`), a response in and the decision out
 * (`onResponse`), or an export with arguments and the result out. `terrarium test` runs them on
 * the host it loaded the plugin with (createHost, the production limits), so a case sees
 * exactly what the gateway would run.
 *
 *   { "config": { "status": 403 },
 *     "cases": [
 *       { "name": "blocks", "request": { "headers": { "x-block": "1" } }, "expect": { "respond": { "status": 403 } } },
 *       { "response": { "status": 200 }, "state": { "tagged": true }, "expect": { "setHeaders": { "x-a": "b" } } },
 *       { "export": "greet", "args": ["Ada"], "expect": "Hello, Ada!" },
 *       { "export": "slow", "args": [], "expectError": "ERR_PLUGIN_TIMEOUT" } ] }
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { FixtureError, TerrariumError } from '../errors.js';
import { isEmptyTable } from '../binding/empty.js';
import { requestDecision, responseDecision } from '../gateway/middleware/plugin.js';
import { didYouMean } from '../hints.js';
import type { GatewayMeta } from '../gateway/middleware/contract.js';
import type { PluginInfo } from '../host/plugin.js';

export type CaseKind = 'request' | 'response' | 'call';

export interface FixtureCase {
  /** `name` of the case, or `#n` (1-based). */
  name: string;
  kind: CaseKind;
  /** The export called: onRequest, onResponse or the case's `export`. */
  exportName: string;
  /** `request` / `response` (with `state`) or `args`, as written. */
  input: Record<string, unknown>;
  args: unknown[];
  config: unknown;
  expect: unknown;
  expectError: string | undefined;
  /** 1-based line of the case in its file. */
  line: number;
}

export interface FixtureFile {
  file: string;
  config: unknown;
  cases: FixtureCase[];
}

const FILE_KEYS = ['config', 'cases', 'description'];
const CASE_KEYS = ['name', 'request', 'response', 'state', 'export', 'args', 'config', 'expect', 'expectError'];

/** The fixture files of a plugin file: `<base>.test.json` and `<base>.tests/*.json`, sorted. */
export function fixtureFilesFor(pluginFile: string): string[] {
  const base = pluginFile.slice(0, pluginFile.length - path.extname(pluginFile).length);
  const out: string[] = [];
  if (existsSync(`${base}.test.json`)) out.push(`${base}.test.json`);
  const dir = `${base}.tests`;
  if (existsSync(dir) && statSync(dir).isDirectory()) {
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) out.push(path.join(dir, f));
  }
  return out;
}

/** 1-based line of a character offset. */
function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Where JSON.parse stopped, from its message (Node prints either a position or a line and column). */
function jsonErrorLine(text: string, message: string): number | undefined {
  const lc = /line (\d+) column (\d+)/.exec(message);
  if (lc) return Number(lc[1]);
  const pos = /position (\d+)/.exec(message);
  if (pos) return lineAt(text, Number(pos[1]));
  if (/end of JSON input/.test(message)) return lineAt(text, text.length);
  // V8 names no position for short documents: the error is in the shortest prefix that fails
  // for a reason other than ending early (prefixes only get worse, so a binary search finds it).
  const failsInside = (n: number): boolean => {
    try {
      JSON.parse(text.slice(0, n));
      return false;
    } catch (e) {
      const m = (e as Error).message;
      if (/end of JSON input/.test(m)) return false;
      const at = /position (\d+)/.exec(m);
      return !(at && Number(at[1]) >= n);
    }
  };
  let lo = 1;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (failsInside(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lineAt(text, lo - 1);
}

/**
 * The starting line of each element of the top-level `"cases"` array: a small scan that skips
 * strings and counts depth, so a message can point at the case (JSON.parse keeps no positions).
 */
function caseLines(text: string): number[] {
  const lines: number[] = [];
  const key = /"cases"\s*:\s*\[/g;
  let depth = 0;
  let start = -1;
  // Find the "cases" key at depth 1 of the top-level object.
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      if (depth === 1) {
        key.lastIndex = i;
        const m = key.exec(text);
        if (m && m.index === i) {
          start = i + m[0].length;
          break;
        }
      }
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  if (start < 0) return lines;
  depth = 0;
  let expecting = true;
  for (let i = start; i < text.length; i++) {
    const c = text[i]!;
    if (/\s/.test(c)) continue;
    if (depth === 0 && c === ']') break;
    if (depth === 0 && expecting) {
      lines.push(lineAt(text, i));
      expecting = false;
    }
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 0) expecting = true;
  }
  return lines;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Reads and checks one fixture file; every problem is a FixtureError with the file and line. */
/** `exportNames` undefined: check the shape only (before the plugin is loaded). */
export function readFixtureFile(file: string, exportNames: readonly string[] | undefined): FixtureFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FixtureError(`cannot read the fixture file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    const line = jsonErrorLine(text, (e as Error).message);
    // V8 quotes the start of a short document in the message: the line says where, and that is enough.
    throw new FixtureError(`is not valid JSON: ${(e as Error).message.replace(/, "[\s\S]*" is not valid JSON$/, '')}`, { file, line });
  }
  const bad = (what: string, line?: number) => new FixtureError(what, { file, line });
  if (!isObject(doc)) throw bad('must be a JSON object { "config": ..., "cases": [...] }', 1);
  for (const k of Object.keys(doc)) if (!FILE_KEYS.includes(k)) throw bad(`unknown field "${k}"${didYouMean(k, FILE_KEYS)}; expected: ${FILE_KEYS.join(', ')}`);
  if (!Array.isArray(doc.cases) || doc.cases.length === 0) throw bad('"cases" must be a non-empty list of cases');
  const lines = caseLines(text);
  const cases = doc.cases.map((c: unknown, i: number): FixtureCase => {
    const line = lines[i];
    const label = `case ${i + 1}`;
    if (!isObject(c)) throw bad(`${label} must be an object`, line);
    for (const k of Object.keys(c)) if (!CASE_KEYS.includes(k)) throw bad(`${label}: unknown field "${k}"${didYouMean(k, CASE_KEYS)}; expected: ${CASE_KEYS.join(', ')}`, line);
    const kinds = (['request', 'response', 'export'] as const).filter((k) => c[k] !== undefined);
    if (kinds.length !== 1) throw bad(`${label} needs exactly one of "request" (onRequest), "response" (onResponse) or "export" (a plain call)`, line);
    if (!('expect' in c) && c.expectError === undefined) throw bad(`${label} needs "expect" (the decision or result; null for none) or "expectError" (an error code)`, line);
    if (c.expectError !== undefined && (typeof c.expectError !== 'string' || !/^ERR_[A-Z_]+$/.test(c.expectError))) throw bad(`${label}: "expectError" must be an error code such as "ERR_PLUGIN_TIMEOUT"`, line);
    const name = typeof c.name === 'string' ? c.name : `#${i + 1}`;
    const config = 'config' in c ? c.config : doc.config;
    const expectError = c.expectError as string | undefined;
    if (kinds[0] === 'export') {
      if (typeof c.export !== 'string') throw bad(`${label}: "export" must be the name of an exported function`, line);
      if (exportNames && !exportNames.includes(c.export)) throw bad(`${label}: the plugin has no export "${c.export}"${didYouMean(c.export, exportNames)}; it exports: ${exportNames.join(', ') || 'nothing'}`, line);
      if (c.args !== undefined && !Array.isArray(c.args)) throw bad(`${label}: "args" must be a list of arguments`, line);
      // host.config is fixed when the host loads the plugin: one per file.
      if ('config' in c) throw bad(`${label}: a per-case "config" is for middleware cases; an export case sees the file's "config" as host.config`, line);
      return { name, kind: 'call', exportName: c.export, input: {}, args: (c.args as unknown[] | undefined) ?? [], config, expect: c.expect, expectError, line: line ?? 1 };
    }
    const kind = kinds[0]!;
    const exportName = kind === 'request' ? 'onRequest' : 'onResponse';
    if (exportNames && !exportNames.includes(exportName)) throw bad(`${label} has a "${kind}", but the plugin exports no ${exportName}; it exports: ${exportNames.join(', ') || 'nothing'}`, line);
    const input = c[kind];
    if (!isObject(input)) throw bad(`${label}: "${kind}" must be an object`, line);
    if (c.state !== undefined && (kind !== 'response' || !isObject(c.state))) throw bad(`${label}: "state" goes with a "response" case, as an object (what onRequest returned as state)`, line);
    return { name, kind, exportName, input: { ...input, ...(c.state ? { $state: c.state } : {}) }, args: [], config, expect: c.expect, expectError, line: line ?? 1 };
  });
  return { file, config: doc.config, cases };
}

const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true });

/** The config a middleware gets: a copy with its schema's defaults filled in, as the gateway does; a string when it does not fit. */
export function effectiveConfig(config: unknown, info: PluginInfo): unknown {
  const schema = info.meta?.configSchema;
  const copy: unknown = config === undefined ? (schema ? {} : undefined) : structuredClone(config);
  if (schema === undefined) return copy;
  const validate = ajv.compile(schema as object);
  if (!validate(copy)) return new ConfigMismatch((validate.errors ?? []).map((e) => `config${e.instancePath.replaceAll('/', '.')} ${e.message ?? ''}`).join('; '));
  return copy;
}

export class ConfigMismatch {
  constructor(readonly message: string) {}
}

/** The request the gateway would pass: defaults filled, header names lower-cased, only the declared headers copied. */
function requestOf(input: Record<string, unknown>, meta: GatewayMeta): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  const wanted = Array.isArray(meta.requestHeaders) ? new Set(meta.requestHeaders.map((h) => h.toLowerCase())) : undefined;
  for (const [k, v] of Object.entries((input.headers as Record<string, unknown> | undefined) ?? {})) {
    if (!wanted || wanted.has(k.toLowerCase())) headers[k.toLowerCase()] = v;
  }
  const req: Record<string, unknown> = { method: 'GET', path: '/', query: {}, client: { address: '127.0.0.1', port: 40000 }, ...input, headers };
  if (!meta.requestBody) delete req.body;
  return req;
}

/** The arguments of a case's call. */
export function argsOf(c: FixtureCase, info: PluginInfo, config: unknown, router = 'fixture'): unknown[] {
  if (c.kind === 'call') return c.args;
  const ctx = { config, state: (c.input.$state as Record<string, unknown> | undefined) ?? {}, router, middleware: info.name };
  const meta = (info.meta?.gateway ?? {}) as GatewayMeta;
  if (c.kind === 'request') return [requestOf(c.input, meta), ctx];
  const { $state: _, ...res } = c.input;
  return [{ status: 200, headers: {}, ...res }, ctx];
}

/** A value as JSON sees it: empty Lua tables are {}, bytes are { $bytes: hex }, a decision of "nothing" is null. */
export function normalize(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('hex') };
  if (isEmptyTable(v)) return {};
  if (Array.isArray(v)) return v.map(normalize);
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v as object).filter(([, x]) => x !== undefined).map(([k, x]) => [k, normalize(x)]));
  return v;
}

/** The decision a middleware returned, checked as the gateway checks it (unknown keys get a hint), normalized. */
export function checkedResult(c: FixtureCase, got: unknown): unknown {
  if (c.kind === 'request') return normalize(requestDecision(got) ?? null);
  if (c.kind === 'response') return normalize(responseDecision(got) ?? null);
  return normalize(got);
}

const show = (v: unknown) => (v === MISSING ? 'missing' : JSON.stringify(v));
const MISSING = Symbol('missing');

/** Every JSON path where `got` differs from `expected`, as `$.a.b: expected X, got Y`. */
export function diff(expected: unknown, got: unknown, at = '$', out: string[] = []): string[] {
  if (isObject(expected) && isObject(got)) {
    for (const k of new Set([...Object.keys(expected), ...Object.keys(got)])) {
      const p = /^[A-Za-z_$][\w$]*$/.test(k) ? `${at}.${k}` : `${at}[${JSON.stringify(k)}]`;
      diff(k in expected ? expected[k] : MISSING, k in got ? got[k] : MISSING, p, out);
    }
    return out;
  }
  if (Array.isArray(expected) && Array.isArray(got)) {
    for (let i = 0; i < Math.max(expected.length, got.length); i++) diff(i < expected.length ? expected[i] : MISSING, i < got.length ? got[i] : MISSING, `${at}[${i}]`, out);
    return out;
  }
  if (expected !== got) out.push(`${at}: expected ${show(expected)}, got ${show(got)}`);
  return out;
}

export interface CaseResult {
  case: FixtureCase;
  ok: boolean;
  /** The diff lines, or the error that was not expected. */
  problems: string[];
}

/** Runs one case through the loaded plugin's export (the host's proxy: its guard, limits and restarts). */
export async function runCase(c: FixtureCase, info: PluginInfo, call: (exportName: string, args: unknown[]) => Promise<unknown>): Promise<CaseResult> {
  const config = effectiveConfig(c.config, info);
  if (config instanceof ConfigMismatch) return { case: c, ok: false, problems: [`the case's config does not fit the plugin's meta.configSchema: ${config.message}`] };
  let got: unknown;
  try {
    got = checkedResult(c, await call(c.exportName, argsOf(c, info, config)));
  } catch (e) {
    const code = e instanceof TerrariumError ? e.code : 'error';
    if (c.expectError !== undefined && code === c.expectError) return { case: c, ok: true, problems: [] };
    return { case: c, ok: false, problems: [c.expectError ? `expected ${c.expectError}, got ${(e as Error).message}` : (e as Error).message] };
  }
  if (c.expectError !== undefined) return { case: c, ok: false, problems: [`expected ${c.expectError}, got a result: ${JSON.stringify(got)}`] };
  const problems = diff(normalize(c.expect), got);
  return { case: c, ok: problems.length === 0, problems };
}
