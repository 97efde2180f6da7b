/**
 * Every error Terrarium raises, in one file. Each failure has its own subclass and a stable
 * `code` that is never reused; messages name the plugin, the engine, the export, the file:line
 * where it is known, and what to do. test/errors.test.ts checks that each code is documented in
 * the README.
 *
 * @example
 * try { host.get<Api>('revert').revert(42) }
 * catch (e) { if (e instanceof TerrariumError && e.code === 'ERR_PLUGIN_TIMEOUT') retryLater() }
 */

import { dirname, isAbsolute, relative } from 'node:path';
import { formatBytes } from './bytes.js';

/** Where an error happened: which plugin, in which engine, which export, which source line. */
export interface ErrorContext {
  /** Plugin name (meta.name, else the file name without extension). */
  plugin?: string | undefined;
  /** Engine name, e.g. `quickjs` or `lua`. */
  engine?: string | undefined;
  /** The plugin file, relative to the plugin directory when possible. */
  file?: string | undefined;
  /** The export being called, if the failure happened in a call. */
  exportName?: string | undefined;
  /** 1-based source line in `file`, when the engine reported one. */
  line?: number | undefined;
  /** 1-based source column, when known. */
  column?: number | undefined;
  /** The plugin-side stack trace (guest frames only, never host frames). */
  pluginStack?: string | undefined;
  /** Underlying cause (never exposed to plugins). */
  cause?: unknown;
}

/** All stable error codes. */
export const ERROR_CODES = [
  'ERR_PLUGIN_LOAD',
  'ERR_PLUGIN_THROWN',
  'ERR_PLUGIN_TIMEOUT',
  'ERR_PLUGIN_MEMORY',
  'ERR_PLUGIN_STACK',
  'ERR_MARSHAL',
  'ERR_NO_EXPORT',
  'ERR_NO_PLUGIN',
  'ERR_PLUGIN_UNAVAILABLE',
  'ERR_OPTIONS',
  'ERR_API_VERSION',
  'ERR_SELFTEST',
  'ERR_SIGNATURE',
  'ERR_CONFIG',
  'ERR_MIDDLEWARE_RESULT',
  'ERR_GATEWAY',
  'ERR_KV_UNAVAILABLE',
  'ERR_EXPORTS_REMOVED',
  'ERR_LISTEN',
  'ERR_PROVIDER_UNSUPPORTED',
  'ERR_FIXTURE',
  'ERR_TYPECHECK',
  'ERR_ENVOY_UNSUPPORTED',
  'ERR_ADMIN_INSECURE',
  'ERR_FETCH_DENIED',
  'ERR_FETCH_LIMIT',
  'ERR_FETCH_FAILED',
  'ERR_PERMISSION',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Base class of every Terrarium error: a stable `code` plus where it happened. */
export class TerrariumError extends Error {
  readonly code: ErrorCode;
  readonly plugin: string | undefined;
  readonly engine: string | undefined;
  readonly file: string | undefined;
  readonly exportName: string | undefined;
  readonly line: number | undefined;
  readonly column: number | undefined;
  readonly pluginStack: string | undefined;
  /** What happened, as given to the constructor (the message adds the code, where, and the hint). */
  readonly detail: string;
  /** What to do about it ('' when nothing is to be done). */
  readonly hint: string;

  constructor(code: ErrorCode, what: string, hint: string, ctx: ErrorContext = {}) {
    super(formatMessage(code, what, hint, ctx), ctx.cause === undefined ? undefined : { cause: ctx.cause });
    this.name = new.target.name;
    this.code = code;
    this.detail = what;
    this.hint = hint;
    this.plugin = ctx.plugin;
    this.engine = ctx.engine;
    this.file = ctx.file;
    this.exportName = ctx.exportName;
    this.line = ctx.line;
    this.column = ctx.column;
    this.pluginStack = ctx.pluginStack;
  }

  /** `file:line[:column]` when known, for logs and tables. */
  get location(): string | undefined {
    if (!this.file) return undefined;
    if (this.line === undefined) return this.file;
    return `${this.file}:${this.line}${this.column === undefined ? '' : `:${this.column}`}`;
  }
}

function formatMessage(code: ErrorCode, what: string, hint: string, ctx: ErrorContext): string {
  const where: string[] = [];
  if (ctx.plugin !== undefined) where.push(`plugin "${ctx.plugin}"`);
  if (ctx.exportName !== undefined) where.push(`export "${ctx.exportName}"`);
  const engineFile = [ctx.engine, ctx.file && (ctx.line ? `${ctx.file}:${ctx.line}${ctx.column ? `:${ctx.column}` : ''}` : ctx.file)]
    .filter(Boolean)
    .join(', ');
  const head = where.length ? `${where.join(' ')}${engineFile ? ` (${engineFile})` : ''}: ` : engineFile ? `(${engineFile}): ` : '';
  return `${code}: ${head}${what}${hint ? `. ${hint}` : ''}`;
}

/** The plugin failed to parse, evaluate its top level, or declare valid metadata. */
export class PluginLoadError extends TerrariumError {
  constructor(what: string, ctx: ErrorContext, hint = 'Fix the plugin source and reload the host') {
    super('ERR_PLUGIN_LOAD', what, hint, ctx);
  }
}

/** ERR_PLUGIN_LOAD for a second file declaring a name another file serves; `otherFile` is that file. */
export class DuplicateNameError extends PluginLoadError {
  readonly otherFile: string;
  constructor(name: string, otherFile: string, ctx: ErrorContext) {
    super(`duplicate plugin name "${name}" (also used by ${otherFile})`, ctx, 'Rename one of them (meta.name or the file name)');
    this.otherFile = otherFile;
  }
}

/** The plugin threw (or rejected) during a call; `pluginStack` holds its own stack with file:line. */
export class PluginThrownError extends TerrariumError {
  /** The value the plugin threw, copied to the host when it could be (e.g. Lua `error({code=42})`). */
  readonly thrown: unknown;
  constructor(message: string, ctx: ErrorContext, thrown?: unknown) {
    super('ERR_PLUGIN_THROWN', `threw: ${message}`, ctx.pluginStack ? `Plugin stack:\n${ctx.pluginStack}` : '', ctx);
    this.thrown = thrown;
  }
}

/** The plugin ran past `callTimeoutMs` (or `loadTimeoutMs` while loading). */
export class PluginTimeoutError extends TerrariumError {
  constructor(limitMs: number, phase: 'call' | 'load', ctx: ErrorContext, detail = '') {
    super(
      'ERR_PLUGIN_TIMEOUT',
      `ran past its ${phase === 'load' ? 'loadTimeoutMs' : 'callTimeoutMs'} of ${limitMs} ms${detail ? ` (${detail})` : ''}`,
      'The instance was discarded and is being recreated from source; raise limits.' +
        (phase === 'load' ? 'loadTimeoutMs' : 'callTimeoutMs') +
        ' if the work is legitimate',
      ctx,
    );
  }
}

/** The plugin exhausted its `memoryBytes` cap. */
export class PluginMemoryError extends TerrariumError {
  constructor(limitBytes: number, ctx: ErrorContext, detail = '') {
    super(
      'ERR_PLUGIN_MEMORY',
      `exceeded its memory limit of ${formatBytes(limitBytes)}${detail ? ` (${detail})` : ''}`,
      'The instance was discarded and is being recreated from source; raise limits.memoryBytes if the usage is legitimate',
      ctx,
    );
  }
}

/** The plugin recursed past `stackBytes`. */
export class PluginStackError extends TerrariumError {
  constructor(limitBytes: number, ctx: ErrorContext) {
    super(
      'ERR_PLUGIN_STACK',
      `overflowed its stack limit of ${formatBytes(limitBytes)} (runaway recursion?)`,
      'The instance was discarded and is being recreated from source; bound the recursion or raise limits.stackBytes',
      ctx,
    );
  }
}

/** A value that cannot cross the host/plugin boundary; `path` says where, e.g. `$.headers[2]`. */
export class MarshalError extends TerrariumError {
  readonly path: string;
  /** What could not be copied, e.g. `a function`. */
  readonly reason: string;
  constructor(path: string, reason: string, direction: string, ctx: ErrorContext = {}) {
    super(
      'ERR_MARSHAL',
      `${direction}: cannot copy ${reason} at ${path}`,
      'Only undefined, null, booleans, numbers, strings, arrays, plain objects and Uint8Array cross the boundary',
      ctx,
    );
    this.path = path;
    this.reason = reason;
  }
}

/** The plugin exists but has no such exported function. */
export class NoExportError extends TerrariumError {
  /** `ctx.hint`: put before the list, e.g. ` (did you mean "add"?)` from src/hints.ts. */
  constructor(available: readonly string[], ctx: ErrorContext & { hint?: string }) {
    super(
      'ERR_NO_EXPORT',
      `no such exported function${ctx.hint ?? ''}`,
      available.length ? `It exports: ${available.join(', ')}` : 'It exports no functions',
      ctx,
    );
  }
}

/** No plugin of that name is known to the host. */
export class NoPluginError extends TerrariumError {
  constructor(name: string, known: readonly string[]) {
    super(
      'ERR_NO_PLUGIN',
      `no plugin named "${name}"`,
      known.length ? `Known plugins: ${known.join(', ')}` : 'The host has no plugins; check options.dir',
      { plugin: name },
    );
  }
}

/** The plugin is known but cannot serve calls now: it failed to load, is restarting, or the host is closed. */
export class PluginUnavailableError extends TerrariumError {
  constructor(reason: string, ctx: ErrorContext, hint = 'Check host.plugins for its status and error') {
    super('ERR_PLUGIN_UNAVAILABLE', reason, hint, ctx);
  }
}

/** Invalid options to createHost, the CLI or a limit. */
export class OptionsError extends TerrariumError {
  constructor(what: string, hint: string) {
    super('ERR_OPTIONS', what, hint);
  }
}

/** The plugin's `meta.apiVersion` is not one the host supports (handshake). */
export class ApiVersionError extends TerrariumError {
  readonly declared: string | undefined;
  readonly supported: readonly string[];
  constructor(declared: string | undefined, supported: readonly string[], ctx: ErrorContext) {
    super(
      'ERR_API_VERSION',
      declared === undefined
        ? `declares no meta.apiVersion; the host supports ${supported.join(', ')}`
        : `declares meta.apiVersion ${declared}; the host supports ${supported.join(', ')}`,
      'Build the plugin against a supported API version, or add its version to apiVersions',
      ctx,
    );
    this.declared = declared;
    this.supported = supported;
  }
}

/** A self-test declared by the plugin (`meta.tests` or `selftest()`) failed; activation is blocked. */
export class SelfTestError extends TerrariumError {
  /** One line per failed case: export, input, expected and actual values. */
  readonly failures: readonly string[];
  constructor(failures: readonly string[], ctx: ErrorContext) {
    super(
      'ERR_SELFTEST',
      `self-test failed: ${failures.join('; ')}`,
      'Fix the plugin or its meta.tests; the previous version (if any) keeps serving',
      ctx,
    );
    this.failures = failures;
  }
}

/**
 * A new version of a plugin does not export functions the serving version exports (or that the
 * application requires): it is not activated, and the serving version keeps serving.
 */
export class ExportsRemovedError extends TerrariumError {
  /** The exports the new version lacks. */
  readonly missing: readonly string[];
  /** `meta.version` of the rejected version and of the serving one. */
  readonly nextVersion: string | undefined;
  readonly servingVersion: string | undefined;
  /** True when some of `missing` are required by the application (reload.requiredExports), which no option waives. */
  readonly required: boolean;
  constructor(missing: readonly string[], versions: { next: string | undefined; serving: string | undefined; required: boolean }, ctx: ErrorContext) {
    const v = (x: string | undefined) => (x === undefined ? '(unversioned)' : x);
    super(
      'ERR_EXPORTS_REMOVED',
      `version ${v(versions.next)} does not export ${missing.join(', ')}, which ${versions.serving !== undefined || !versions.required ? `version ${v(versions.serving)} serves` : 'the application requires'}; it was not activated`,
      versions.required
        ? 'Keep these exports (the application calls them, e.g. a gateway middleware bound to the plugin), or stop using them first'
        : 'Keep these exports, or create the host with reload: { allowRemovedExports: true } if removing them is intended',
      ctx,
    );
    this.missing = missing;
    this.nextVersion = versions.next;
    this.servingVersion = versions.serving;
    this.required = versions.required;
  }
}

/** The plugin file is unsigned, was changed after signing, or was signed by a key the host does not trust. */
export class SignatureError extends TerrariumError {
  constructor(what: string, ctx: ErrorContext, hint = 'Sign the file with `terrarium sign <file> --key <private.pem>` using a trusted key') {
    super('ERR_SIGNATURE', what, hint, ctx);
  }
}

/**
 * One problem of a configuration as ConfigError keeps it: the parts stay fields (the gateway's
 * config model, `Issue` in gateway/config/model.ts, has this shape). `file` is set when the entry
 * is not in the file the error is about (a dynamic file, a Redis key).
 */
export interface ConfigIssue {
  path: string;
  message: string;
  hint?: string;
  file?: string;
  line?: number;
  column?: number;
}

/** `  path: message; hint (line N)`, `(dynamic/a.yml:4)` for another file, `(redis key k)`. */
export function configIssueText(issue: ConfigIssue, file: string | undefined): string {
  let place = '';
  if (issue.file !== undefined) {
    const shown = file && isAbsolute(issue.file) ? relative(dirname(file), issue.file) || issue.file : issue.file;
    place = issue.line !== undefined ? `${shown}:${issue.line}${issue.column !== undefined ? `:${issue.column}` : ""}` : shown;
  } else if (issue.line !== undefined) {
    place = `line ${issue.line}${issue.column !== undefined ? `, column ${issue.column}` : ''}`;
  }
  return `${issue.path}: ${issue.message}${issue.hint ? `; ${issue.hint}` : ''}${place ? ` (${place})` : ''}`;
}

/** A configuration (the gateway's) has problems; `issues` lists every one, their parts as fields. */
export class ConfigError extends TerrariumError {
  /** One entry per problem: `path` in the file (e.g. `http.routers.api.rule`), the message, where it is. */
  readonly issues: readonly ConfigIssue[];
  constructor(file: string | undefined, issues: readonly ConfigIssue[]) {
    super(
      'ERR_CONFIG',
      `invalid configuration${file ? ` in ${file}` : ''}:\n${issues.map((i) => `  ${configIssueText(i, file)}`).join('\n')}\n`.trimEnd(),
      'Fix the listed entries',
      { file },
    );
    this.issues = issues;
  }
}

/** A gateway middleware returned something its contract does not allow (unknown key, bad header, bad status). */
export class MiddlewareResultError extends TerrariumError {
  constructor(what: string, ctx: ErrorContext = {}) {
    super('ERR_MIDDLEWARE_RESULT', what, 'Return nothing, { setHeaders, removeHeaders, path, query, body, state } or { respond: { status, headers, body } } (see the README, "Middleware contract")', ctx);
  }
}

/** The gateway failed in a way no other code describes (a bug: the request gets 502 and the gateway keeps serving). */
export class GatewayError extends TerrariumError {
  constructor(what: string, cause?: unknown) {
    super('ERR_GATEWAY', what, 'Please report it with the log line', { cause });
  }
}

/**
 * A Traefik static file names a provider Terrarium has not (docker, kubernetesCRD, consul, etcd,
 * http...): refused at once, naming the supported ones, rather than starting without its routers.
 */
export class UnsupportedProviderError extends TerrariumError {
  /** The provider key as written, e.g. `docker`. */
  readonly provider: string;
  /** The providers Terrarium reads. */
  readonly supported: readonly string[];
  constructor(provider: string, file?: string) {
    const supported = ['file', 'redis'] as const;
    super(
      'ERR_PROVIDER_UNSUPPORTED',
      `providers.${provider} is not supported${file ? ` (in ${file})` : ''}: Terrarium reads its routers, middlewares and services from ${supported.join(' and ')} only`,
      'Use providers.file (filename or directory) or providers.redis, and remove providers.' + provider,
      { file },
    );
    this.provider = provider;
    this.supported = supported;
  }
}

/** An entry point or the admin server cannot listen (port in use, no permission, unknown address). */
export class ListenError extends TerrariumError {
  /** `entryPoints.web` or `admin`. */
  readonly what: string;
  /** The address as written in the config. */
  readonly address: string;
  /** The system error code (EADDRINUSE, EACCES, EADDRNOTAVAIL...). */
  readonly reason: string | undefined;
  constructor(what: string, address: string, err: NodeJS.ErrnoException, file?: string) {
    const reason = err.code;
    const said =
      reason === 'EADDRINUSE'
        ? `${address} is already in use by another process`
        : reason === 'EACCES'
          ? `no permission to listen on ${address}`
          : reason === 'EADDRNOTAVAIL'
            ? `${address} is not an address of this machine`
            : `cannot listen on ${address}: ${err.message}`;
    const hint =
      reason === 'EADDRINUSE'
        ? `Stop the other process (e.g. \`lsof -i :${address.split(':').pop()}\`) or give ${what} another port${file ? ` in ${file}` : ''}`
        : reason === 'EACCES'
          ? 'Use a port above 1023, or grant the capability to bind low ports'
          : `Fix ${what}${file ? ` in ${file}` : ''}`;
    super('ERR_LISTEN', `${what}: ${said}`, hint, { cause: err });
    this.what = what;
    this.address = address;
    this.reason = reason;
  }
}

/**
 * The admin server would listen on a non-loopback address with no authentication (`admin.auth`),
 * or its auth cannot be set up (token file unreadable, env variable unset, bad htpasswd entry).
 */
export class AdminInsecureError extends TerrariumError {
  /** The admin address as written in the config. */
  readonly address: string;
  constructor(address: string, what: string, hint: string, file?: string) {
    super('ERR_ADMIN_INSECURE', `admin ${address}: ${what}`, hint, { file });
    this.address = address;
  }
}

/**
 * The gateway's shared key-value store (the `redis` kv backend) did not answer: Redis is down or
 * unreachable (`reason: 'disconnected'`, failed at once), did not answer within the command
 * timeout (`'timeout'`), or refused the command (`'error'`). Thrown inside the plugin by
 * `host.kv.*`; uncaught, the middleware fails and its failure policy applies (502 or failOpen).
 */
export class KvUnavailableError extends TerrariumError {
  readonly reason: 'disconnected' | 'timeout' | 'error';
  /** The kv operation: get, set, incr or delete. */
  readonly operation: string;
  constructor(reason: 'disconnected' | 'timeout' | 'error', operation: string, detail: string) {
    super(
      'ERR_KV_UNAVAILABLE',
      `kv.${operation}: the redis kv backend is unavailable (${reason}): ${detail}`,
      'Catch it in the plugin for a local fallback, or mark the middleware failOpen; check that Redis is up (the gateway reconnects by itself)',
    );
    this.reason = reason;
    this.operation = operation;
  }
}

/** Why a plugin's fetch was refused before any byte went out (or before a redirect was followed). */
export type FetchDeniedReason = 'not-granted' | 'origin' | 'address' | 'scheme' | 'credentials' | 'redirect';

/**
 * A plugin's `fetch` (or Lua `http.request`) refused by the host's outbound policy: the plugin has
 * no fetch grant, the URL's origin is not in its allowlist (also for a redirect), the name
 * resolved to a loopback/private/link-local/metadata address the allowlist does not name, the
 * scheme is not http(s), or the URL carries credentials. Names the plugin and the URL.
 */
export class FetchDeniedError extends TerrariumError {
  constructor(
    readonly reason: FetchDeniedReason,
    readonly url: string,
    plugin: string,
    detail: string,
  ) {
    super('ERR_FETCH_DENIED', `fetch ${url} refused (${reason}): ${detail}`, `Grant the origin with grants.${plugin}.fetch, e.g. ["https://auth.example.com"]`, { plugin });
  }
}

/** A plugin's fetch over one of its outbound limits: response size, requests in flight, header size, or the timeout. */
export class FetchLimitError extends TerrariumError {
  constructor(
    readonly reason: 'size' | 'in-flight' | 'timeout' | 'headers',
    readonly url: string,
    plugin: string,
    readonly limit: number,
    detail: string,
  ) {
    super('ERR_FETCH_LIMIT', `fetch ${url} over its ${reason} limit (${limit}): ${detail}`, `Raise grants.${plugin}.fetch limits (maxResponseBytes, maxInFlight, timeoutMs) or the plugin's memoryBytes`, { plugin });
  }
}

/** A plugin's fetch that the policy allowed but the network failed (DNS, connection refused or reset, TLS). */
export class FetchFailedError extends TerrariumError {
  constructor(
    readonly url: string,
    plugin: string,
    detail: string,
  ) {
    super('ERR_FETCH_FAILED', `fetch ${url} failed: ${detail}`, 'Check that the upstream is up and reachable from the host', { plugin });
  }
}

/**
 * A plugin's meta declares permissions the host did not grant it (`permissions: { fetch: [...],
 * kv, kvShared, bigint }` against createHost `grants.<plugin>` / gateway `plugins.grants`). The
 * version does not load; a serving version keeps serving. `missing` names each missing grant.
 */
export class PermissionError extends TerrariumError {
  constructor(
    readonly missing: readonly string[],
    ctx: ErrorContext,
    hint: string,
  ) {
    super('ERR_PERMISSION', `the plugin asks for permissions it was not granted: ${missing.join('; ')}`, hint, ctx);
  }
}

/** A fixture file (`<name>.test.json`, `terrarium test`) is malformed: bad JSON or a case of the wrong shape; `line` points into it. */
export class FixtureError extends TerrariumError {
  constructor(what: string, ctx: ErrorContext) {
    super('ERR_FIXTURE', what, 'Fix the fixture file (see docs/author.md, "Fixtures")', ctx);
  }
}

/** A TypeScript plugin does not type-check against the author types (terrarium-plugins/plugin); `line` is the .ts line of the first error. */
export class TypeCheckError extends TerrariumError {
  /** Every diagnostic as `file:line:col message`. */
  readonly diagnostics: readonly string[];
  constructor(diagnostics: readonly string[], ctx: ErrorContext) {
    super('ERR_TYPECHECK', `does not type-check:\n${diagnostics.map((d) => `  ${d}`).join('\n')}`, 'Fix the type errors (the contract is in terrarium-plugins/plugin)', ctx);
    this.diagnostics = diagnostics;
  }
}

/** An Envoy Lua filter called a handle method the gateway does not provide (docs/envoy.md); `method` and `where` (file:line) name the call. */
export class EnvoyUnsupportedError extends TerrariumError {
  constructor(
    readonly method: string,
    readonly where: string,
    ctx: ErrorContext = {},
  ) {
    super('ERR_ENVOY_UNSUPPORTED', `the Envoy filter called ${method}, which the gateway does not support (at ${where})`, 'See docs/envoy.md for the supported handle methods', ctx);
  }
}
