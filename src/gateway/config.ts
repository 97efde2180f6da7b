/**
 * The gateway's configuration: a YAML file shaped like Traefik's dynamic configuration
 * (entryPoints, http.routers / middlewares / services) plus `plugins` and `admin`. It is checked in
 * two passes, both collecting every problem instead of stopping at the first: a JSON schema (ajv)
 * for shapes and types, then the cross references, router rules, addresses and URLs. Every issue
 * names its path in the file (`http.routers.api.rule`) and, when the config came from a file, its
 * line. Middleware configs are checked later against the schema each plugin declares
 * (`checkMiddlewareConfigs`), because that needs the loaded plugins.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { ConfigError } from '../errors.js';
import { compileRule, RuleSyntaxError, type RuleMatcher } from './rules.js';
import { ENTRY_POINT_PROPERTIES, resolveEntryPointOptions, type EntryPointConfig, type EntryPointOptions } from './entrypoint.js';
import { resolveTransports, SERVERS_TRANSPORTS_SCHEMA, type ResolvedTransport, type ServersTransportConfig } from './transport.js';
import { resolveCertificates, TLS_SCHEMA, type CertFiles, type TlsConfig } from './tls.js';
import { GO_DURATION_PATTERN, parseGoDuration } from './duration.js';
import { layoutOf, readLayout } from './files.js';
import { checkServiceRefs, SERVICE_KINDS } from './services/refs.js';
import { COMPOSITE_SCHEMAS, LOAD_BALANCER_EXTRA, resolveComposite, resolveLoadBalancerExtras, SERVER_EXTRA, type CompositeService, type LoadBalancerExtras } from './services/config.js';
import { expandMiddlewares, localName, middlewareEntrySchema, resolveMiddleware } from './middlewares/resolve.js';
import { KV_SCHEMA, PROVIDERS_SCHEMA, resolveKv, resolveRedisProvider, type KvConfig, type ProvidersConfig, type ResolvedKv, type ResolvedRedisProvider } from './redis-config.js';

/** `http.routers.<name>`: which requests go where, through which middlewares. */
export interface RouterConfig {
  /** A Traefik rule, e.g. ``Host(`a.example`) && PathPrefix(`/api`)``. */
  rule: string;
  /** Entry points this router listens on (default: all). */
  entryPoints?: string[];
  /** Middleware names, applied in this order on the request and in reverse on the response. */
  middlewares?: string[];
  /** The service name requests are forwarded to. */
  service: string;
  /** Higher wins; default: the length of the rule (the longest rule wins). */
  priority?: number;
}

/** `http.middlewares.<name>`: one plugin with its config, or one built-in (`stripPrefix: {...}`, see middlewares/). */
export interface MiddlewareConfig {
  /** Exactly one entry: `{ <pluginName>: <config> }` (the config is `ctx.config` in the plugin). */
  plugin?: Record<string, unknown>;
  /** A built-in middleware by its Traefik key, e.g. `stripPrefix: { prefixes: ['/api'] }`. */
  [builtin: string]: unknown;
  /** Skip this middleware when its plugin fails (default false: answer 502). */
  failOpen?: boolean;
}

/** A duration: milliseconds as a number, or a string such as `500ms`, `30s`, `2m`, `1h`. */
export type Duration = number | string;

/** `http.services.<name>`: the built-in echo upstream or a round-robin load balancer. */
export interface ServiceConfig {
  /** The in-process echo upstream: answers with the request it received, as JSON. */
  echo?: Record<string, never> | boolean;
  /** weighted, mirroring, failover: see services/config.ts. */
  weighted?: unknown;
  mirroring?: unknown;
  failover?: unknown;
  loadBalancer?: {
    /** `http://` or `https://` server URLs. */
    servers: { url: string }[];
    /** The name of an `http.serversTransports` entry (TLS to the servers, timeouts). */
    serversTransport?: string;
    /** Send the client's Host header upstream (default true, as in Traefik). */
    passHostHeader?: boolean;
    forwardingTimeouts?: {
      /** Connecting to a server (default 5s): past it, 504. */
      dialTimeout?: Duration;
      /** From sending the request (connecting included) to the response headers (default 30s): past it, 504. */
      responseHeaderTimeout?: Duration;
      /** How long an idle keep-alive connection to a server is kept (default 4s, below Node's 5s server default). */
      idleConnTimeout?: Duration;
    };
  };
}

/** `plugins`: where the middleware plugins come from and what they may do. */
export interface PluginsConfig {
  /** The plugin directory, relative to the config file (default: the config file's directory). */
  dir?: string;
  /** Limits for every plugin (createHost `limits`). */
  limits?: { memoryBytes?: number; callTimeoutMs?: number; loadTimeoutMs?: number; stackBytes?: number };
  /** Per-plugin limits, keyed by file name without extension. */
  pluginLimits?: Record<string, { memoryBytes?: number; callTimeoutMs?: number; loadTimeoutMs?: number; stackBytes?: number }>;
  /** Host functions granted to plugins besides `host.log`: `kv` is the gateway's in-memory store. */
  capabilities?: { kv?: boolean | KvConfig };
  /** Ed25519 signatures (createHost `trust`): PEM text or paths of PEM files, relative to the config file. */
  trust?: { publicKeys: string[]; requireSignature?: boolean };
  /** Hot reload of the plugin directory (createHost `watch`). */
  watch?: boolean | { debounceMs?: number };
}

/**
 * The gateway configuration, as written in YAML (Traefik's shape).
 * @example
 * const config: GatewayConfig = {
 *   entryPoints: { web: { address: '127.0.0.1:8080' } },
 *   http: {
 *     routers: { api: { rule: 'PathPrefix(`/api`)', middlewares: ['deny'], service: 'echo' } },
 *     middlewares: { deny: { plugin: { 'header-deny': { header: 'x-block' } } } },
 *     services: { echo: { echo: {} } },
 *   },
 *   plugins: { dir: './plugins', capabilities: { kv: true } },
 * }
 */
export interface GatewayConfig {
  /** Listening addresses by name: `{ web: { address: '127.0.0.1:8080' } }` or `{ web: ':8080' }`. */
  entryPoints: Record<string, string | EntryPointConfig>;
  http?: {
    routers?: Record<string, RouterConfig>;
    middlewares?: Record<string, MiddlewareConfig>;
    services?: Record<string, ServiceConfig>;
    serversTransports?: Record<string, ServersTransportConfig>;
  };
  /** Certificates of the entry points with `http.tls`. */
  tls?: TlsConfig;
  plugins?: PluginsConfig;
  /** The admin server (`/api/plugins`, `/api/routers`, `/metrics`): `{ address }` or an address. */
  admin?: string | { address: string };
  /** Log one line per request (default true). */
  accessLog?: boolean;
  /** Dynamic configuration besides this file: `{ redis: { url, rootKey } }` (Traefik's KV layout). */
  providers?: ProvidersConfig;
}

/** A host and port to listen on. */
export interface ListenAddress {
  host: string | undefined;
  port: number;
  /** As written in the config. */
  text: string;
}

export interface ResolvedRouter {
  name: string;
  rule: string;
  match: RuleMatcher;
  entryPoints: string[];
  middlewares: string[];
  service: string;
  priority: number;
}

export interface ResolvedMiddleware {
  name: string;
  /** The plugin's name, or the built-in's type (e.g. `stripPrefix`). */
  plugin: string;
  /** Set for a built-in middleware: its Traefik key. */
  builtin?: string;
  /** The config as written (before the plugin's schema fills defaults). */
  config: unknown;
  failOpen: boolean;
}

export type ResolvedService =
  | { name: string; kind: 'echo' }
  | ({
      name: string;
      kind: 'loadBalancer';
      servers: URL[];
      passHostHeader: boolean;
      dialTimeoutMs: number;
      responseHeaderTimeoutMs: number;
      idleConnTimeoutMs: number;
      /** TLS settings for https:// servers (from its serversTransport). */
      tls: ResolvedTransport['tls'] | undefined;
    } & Partial<LoadBalancerExtras>)
  | CompositeService;

/** A checked configuration with defaults filled and paths resolved. */
export interface ResolvedConfig {
  /** The config file (absolute), when it came from one. */
  file: string | undefined;
  entryPoints: Map<string, ListenAddress & EntryPointOptions>;
  /** Certificate files of the TLS entry points. */
  certificates: CertFiles[];
  admin: ListenAddress | undefined;
  accessLog: boolean;
  routers: ResolvedRouter[];
  middlewares: Map<string, ResolvedMiddleware>;
  services: Map<string, ResolvedService>;
  plugins: {
    dir: string;
    limits: Record<string, number> | undefined;
    pluginLimits: Record<string, Record<string, number>> | undefined;
    kv: ResolvedKv | undefined;
    trust: { publicKeys: string[]; requireSignature?: boolean } | undefined;
    watch: boolean | { debounceMs?: number } | undefined;
  };
  /** `providers.redis`, when the routers/middlewares/services also come from Redis. */
  redisProvider: ResolvedRedisProvider | undefined;
  /** Where a path of the file is: ' (line N)' or ''. */
  at(path: readonly (string | number)[]): string;
  /** Dynamic files or directories (providers.file) to watch for reloads. */
  watchPaths?: string[];
}

export interface Issue {
  path: string;
  message: string;
}

const durationSchema = {
  type: ['number', 'string'],
  minimum: 0,
  pattern: GO_DURATION_PATTERN,
  description: 'a duration: milliseconds as a number, or a Go duration string like 500ms, 30s, 1m30s',
};
const addressSchema = { type: 'string', minLength: 1, description: 'an address like 127.0.0.1:8080 or :8080' };
const limitsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    memoryBytes: { type: 'integer', minimum: 1 },
    callTimeoutMs: { type: 'integer', minimum: 1 },
    loadTimeoutMs: { type: 'integer', minimum: 1 },
    stackBytes: { type: 'integer', minimum: 1 },
  },
};
const nameList = (what: string) => ({ type: 'array', items: { type: 'string', minLength: 1 }, description: `a list of ${what} names` });

/** The JSON schema of the file (shapes and types only; references are checked afterwards). */
export const GATEWAY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['entryPoints'],
  properties: {
    entryPoints: {
      type: 'object',
      minProperties: 1,
      description: 'entry points by name, e.g. { web: { address: "127.0.0.1:8080" } }',
      additionalProperties: {
        type: ['string', 'object'],
        minLength: 1,
        additionalProperties: false,
        required: ['address'],
        properties: { address: addressSchema, ...ENTRY_POINT_PROPERTIES },
        description: '{ address: "127.0.0.1:8080" } or an address',
      },
    },
    tls: TLS_SCHEMA,
    http: {
      type: 'object',
      additionalProperties: false,
      properties: {
        routers: {
          type: 'object',
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            required: ['rule', 'service'],
            properties: {
              rule: { type: 'string', minLength: 1, description: 'a rule such as PathPrefix(`/api`)' },
              entryPoints: nameList('entry point'),
              middlewares: nameList('middleware'),
              service: { type: 'string', minLength: 1, description: 'a service name' },
              priority: { type: 'integer', description: 'an integer; higher wins' },
            },
          },
        },
        middlewares: { type: 'object', additionalProperties: middlewareEntrySchema() },
        serversTransports: SERVERS_TRANSPORTS_SCHEMA,
        services: {
          type: 'object',
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            properties: {
              echo: { type: ['object', 'boolean'], additionalProperties: false, description: 'echo: {} (the built-in echo upstream)' },
              ...COMPOSITE_SCHEMAS,
              loadBalancer: {
                type: 'object',
                additionalProperties: false,
                required: ['servers'],
                properties: {
                  servers: {
                    type: 'array',
                    minItems: 1,
                    items: {
                      type: 'object',
                      additionalProperties: false,
                      required: ['url'],
                      properties: { url: { type: 'string', description: 'a URL like http://127.0.0.1:3000 or https://10.0.0.5:8443' }, ...SERVER_EXTRA },
                    },
                  },
                  passHostHeader: { type: 'boolean' },
                  serversTransport: { type: 'string', minLength: 1, description: 'the name of an http.serversTransports entry' },
                  ...LOAD_BALANCER_EXTRA,
                  forwardingTimeouts: {
                    type: 'object',
                    additionalProperties: false,
                    properties: { dialTimeout: durationSchema, responseHeaderTimeout: durationSchema, idleConnTimeout: durationSchema },
                  },
                },
              },
            },
          },
        },
      },
    },
    plugins: {
      type: 'object',
      additionalProperties: false,
      properties: {
        dir: { type: 'string', minLength: 1, description: 'a directory, relative to the config file' },
        limits: limitsSchema,
        pluginLimits: { type: 'object', additionalProperties: limitsSchema },
        capabilities: {
          type: 'object',
          additionalProperties: false,
          properties: {
            kv: KV_SCHEMA,
          },
        },
        trust: {
          type: 'object',
          additionalProperties: false,
          required: ['publicKeys'],
          properties: {
            publicKeys: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 }, description: 'PEM public keys or paths of PEM files' },
            requireSignature: { type: 'boolean' },
          },
        },
        watch: {
          type: ['boolean', 'object'],
          additionalProperties: false,
          properties: { debounceMs: { type: 'integer', minimum: 0 } },
          description: 'true, or { debounceMs }',
        },
      },
    },
    admin: {
      type: ['string', 'object'],
      minLength: 1,
      additionalProperties: false,
      required: ['address'],
      properties: { address: addressSchema },
      description: '{ address: "127.0.0.1:8081" } or an address',
    },
    accessLog: { type: 'boolean' },
    providers: PROVIDERS_SCHEMA,
  },
} as const;

const ajv = new Ajv({ allErrors: true, verbose: true, strict: false });
const validateShape: ValidateFunction = ajv.compile(GATEWAY_SCHEMA);

/** Dotted path of JSON-pointer segments: `http.services.a.loadBalancer.servers[0].url`. */
export function dotted(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else out += out ? `.${s}` : s;
  }
  return out || '(root)';
}

function pointerSegments(pointer: string): (string | number)[] {
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
export function schemaIssues(errors: readonly ErrorObject[], base: readonly (string | number)[], at: (p: readonly (string | number)[]) => string): Issue[] {
  const issues: Issue[] = [];
  const seen = new Set<string>();
  const push = (segs: (string | number)[], message: string) => {
    const key = `${dotted(segs)}\0${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    issues.push({ path: dotted(segs), message: `${message}${at(segs)}` });
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
        push([...segs, extra], `unknown key${known.length ? `; expected one of: ${known.join(', ')}` : ''}`);
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

/** A duration in milliseconds (`30s` -> 30000, `1m30s` -> 90000; a number is already milliseconds here, unlike Traefik's seconds: see duration.ts). */
export function parseDuration(d: Duration): number {
  if (typeof d === 'number') return d;
  const n = parseGoDuration(d);
  return typeof n === 'number' ? n : NaN;
}

/** `127.0.0.1:8080`, `:8080` (every interface), `[::1]:8080`, `localhost:0`. */
export function parseAddress(text: string): ListenAddress | string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s/]*)):([0-9]{1,5})$/.exec(text.trim());
  if (!m) return 'must be host:port, e.g. 127.0.0.1:8080 or :8080';
  const port = Number(m[3]);
  if (port > 65535) return `port ${port} is out of range (0-65535)`;
  const host = m[1] ?? (m[2] || undefined);
  return { host, port, text };
}

/**
 * Where each path of a YAML document is, for messages: ' (line N)'. A path points at its key
 * (`rule:`), and a missing key at the key of the deepest mapping that exists.
 */
function locator(doc: Document, lines: LineCounter): (p: readonly (string | number)[]) => string {
  return (segs) => {
    for (let n = segs.length; n >= 1; n--) {
      const parent = n === 1 ? doc.contents : doc.getIn(segs.slice(0, n - 1), true);
      const seg = segs[n - 1];
      let start: number | undefined;
      if (isMap(parent)) {
        const pair = parent.items.find((it) => isPair(it) && isScalar(it.key) && it.key.value === seg);
        if (pair && isScalar(pair.key)) start = pair.key.range?.[0];
      } else if (isSeq(parent) && typeof seg === 'number') {
        start = (parent.items[seg] as { range?: readonly number[] } | undefined)?.range?.[0];
      }
      if (start !== undefined) return ` (line ${lines.linePos(start).line})`;
    }
    return '';
  };
}

export interface Parsed {
  value: unknown;
  file: string | undefined;
  at: (p: readonly (string | number)[]) => string;
}

/** Read and parse a YAML file; syntax errors become ConfigError issues with their line and column. */
export async function readConfigFile(file: string): Promise<Parsed> {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (e) {
    throw new ConfigError(abs, [{ path: '(file)', message: `cannot read the file: ${(e as Error).message}` }]);
  }
  return parseConfigText(text, abs);
}

/** Parse YAML text (`file` is only used in messages and to resolve relative paths). */
export function parseConfigText(text: string, file: string | undefined): Parsed {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        return { path: '(yaml)', message: `${e.message.split('\n')[0]} (line ${pos.line}, column ${pos.col})` };
      }),
    );
  }
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  return { value, file, at: locator(doc, lines) };
}

/** A configuration whose shape is valid, with the problems its references, rules and addresses have. */
export interface CheckedConfig {
  /** Usable for further checks (e.g. middleware configs against plugins); routers whose rule failed are left out. */
  config: ResolvedConfig;
  issues: Issue[];
}

/**
 * Check and resolve a configuration. Throws ConfigError at once for YAML and schema problems (the
 * rest cannot be read); returns the problems of references, rules, addresses and URLs with a
 * config that can still be checked against the plugins, so one run reports everything.
 * `baseDir` resolves `plugins.dir` and trust key files.
 */
export function checkConfig(parsed: Parsed, baseDir: string): CheckedConfig {
  const { value: raw, file, at } = parsed;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, [{ path: '(root)', message: 'the configuration must be a mapping with at least entryPoints' }]);
  }
  // Schema problems do not hide the others: the parts that are wrong are set aside and the rest
  // is checked as well, so one run reports everything (problems inside a part set aside excepted).
  const { value, issues: shapeIssues, removed } = pruneInvalid(raw, at);
  if (value === undefined) throw new ConfigError(file, sortIssues(shapeIssues));
  const names = (o: unknown): Set<string> => new Set(o && typeof o === 'object' && !Array.isArray(o) ? Object.keys(o) : []);
  const rawHttp = (raw as { http?: Record<string, unknown> }).http;
  const known = {
    services: names(rawHttp?.services),
    middlewares: names(rawHttp?.middlewares),
    transports: names(rawHttp?.serversTransports),
    entryPoints: names((raw as { entryPoints?: unknown }).entryPoints),
  };

  const cfg = value as GatewayConfig;
  const issues: Issue[] = [...shapeIssues];
  const issue = (segs: (string | number)[], message: string) => {
    const p = dotted(segs);
    if (removed.some((r) => p === r || p.startsWith(`${r}.`) || p.startsWith(`${r}[`))) return;
    issues.push({ path: p, message: `${message}${at(segs)}` });
  };

  const entryPoints = new Map<string, ListenAddress & EntryPointOptions>();
  for (const [name, ep] of Object.entries(cfg.entryPoints)) {
    const segs = typeof ep === 'string' ? ['entryPoints', name] : ['entryPoints', name, 'address'];
    const a = parseAddress(typeof ep === 'string' ? ep : ep.address);
    const options = resolveEntryPointOptions(ep, ['entryPoints', name], parseDuration, issue);
    if (typeof a === 'string') issue(segs, a);
    else entryPoints.set(name, { ...a, ...options });
  }
  const certificates = resolveCertificates(cfg.tls, baseDir, issue);
  for (const [name, ep] of entryPoints) {
    if (ep.tls && certificates.length === 0 && !(cfg.tls?.certificates?.length)) {
      issue(['entryPoints', name, 'http', 'tls'], 'needs at least one certificate: add tls.certificates: [{ certFile, keyFile }] at the top of the file');
    }
  }
  const transports = resolveTransports(cfg.http?.serversTransports, baseDir, issue);
  let admin: ListenAddress | undefined;
  if (cfg.admin !== undefined) {
    const a = parseAddress(typeof cfg.admin === 'string' ? cfg.admin : cfg.admin.address);
    if (typeof a === 'string') issue(typeof cfg.admin === 'string' ? ['admin'] : ['admin', 'address'], a);
    else admin = a;
  }

  const services = new Map<string, ResolvedService>();
  for (const [name, s] of Object.entries(cfg.http?.services ?? {})) {
    const segs = ['http', 'services', name];
    const raw = s as Record<string, unknown>;
    const kinds = SERVICE_KINDS.filter((k) => raw[k] !== undefined && raw[k] !== false);
    if (kinds.length !== 1) {
      issue(segs, kinds.length === 0 ? `must define one of: ${SERVICE_KINDS.join(', ')}` : `must define only one of: ${SERVICE_KINDS.join(', ')}`);
      continue;
    }
    const kind = kinds[0]!;
    if (kind === 'weighted' || kind === 'mirroring' || kind === 'failover') {
      services.set(name, resolveComposite(name, kind, raw[kind] as Record<string, unknown>, segs, issue));
      continue;
    }
    if (kind === 'echo') {
      services.set(name, { name, kind: 'echo' });
      continue;
    }
    const lb = s.loadBalancer!;
    const servers: URL[] = [];
    lb.servers.forEach((srv, i) => {
      let u: URL | undefined;
      try {
        u = new URL(srv.url);
      } catch {
        /* reported below */
      }
      if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
        issue([...segs, 'loadBalancer', 'servers', i, 'url'], `must be an http:// or https:// URL, e.g. http://127.0.0.1:3000 (got "${srv.url}")`);
      } else servers.push(u);
    });
    let transport: ResolvedTransport | undefined;
    if (lb.serversTransport !== undefined) {
      transport = transports.get(lb.serversTransport);
      if (!transport && !known.transports.has(lb.serversTransport)) {
        const defined = [...known.transports];
        issue([...segs, 'loadBalancer', 'serversTransport'], `unknown servers transport "${lb.serversTransport}"; ${defined.length ? `defined: ${defined.join(', ')}` : 'none is defined under http.serversTransports'}`);
      }
    }
    // The service's own forwardingTimeouts win over its transport's.
    const own = lb.forwardingTimeouts ?? {};
    const shared = transport?.forwardingTimeouts ?? {};
    const dur = (key: 'dialTimeout' | 'responseHeaderTimeout' | 'idleConnTimeout', dflt: number): number => {
      const v = own[key] ?? shared[key];
      if (v === undefined) return dflt;
      const n = parseDuration(v);
      // responseHeaderTimeout 0 means none, as in Traefik.
      const min = key === 'responseHeaderTimeout' ? 0 : 1;
      if (!Number.isFinite(n) || n < min) {
        const where = own[key] !== undefined ? [...segs, 'loadBalancer', 'forwardingTimeouts', key] : ['http', 'serversTransports', transport!.name, 'forwardingTimeouts', key];
        issue(where, min === 0 ? 'must be a duration, e.g. 500ms or 30s (0 = none)' : 'must be a positive duration, e.g. 500ms or 30s');
      }
      return n;
    };
    services.set(name, {
      name,
      kind: 'loadBalancer',
      servers,
      passHostHeader: lb.passHostHeader ?? true,
      dialTimeoutMs: dur('dialTimeout', 5000),
      responseHeaderTimeoutMs: dur('responseHeaderTimeout', 30_000),
      idleConnTimeoutMs: dur('idleConnTimeout', 4000),
      tls: transport?.tls,
      ...resolveLoadBalancerExtras(lb as unknown as Record<string, unknown>, [...segs, 'loadBalancer'], name, issue),
    });
  }
  checkServiceRefs(services, issue);

  const middlewares = new Map<string, ResolvedMiddleware>();
  for (const [name, m] of Object.entries(cfg.http?.middlewares ?? {})) {
    const r = resolveMiddleware(name, m as Record<string, unknown>);
    if ('message' in r) issue(['http', 'middlewares', name, ...r.path], r.message);
    else middlewares.set(name, r);
  }

  const routers: ResolvedRouter[] = [];
  const epNames = [...Object.keys(cfg.entryPoints)];
  for (const [name, r] of Object.entries(cfg.http?.routers ?? {})) {
    const segs = ['http', 'routers', name];
    let match: RuleMatcher | undefined;
    try {
      match = compileRule(r.rule);
    } catch (e) {
      if (!(e instanceof RuleSyntaxError)) throw e;
      issue([...segs, 'rule'], e.detail);
    }
    (r.entryPoints ?? []).forEach((ep, i) => {
      if (!known.entryPoints.has(ep)) issue([...segs, 'entryPoints', i], `unknown entry point "${ep}"; defined: ${epNames.join(', ')}`);
    });
    const chain = expandMiddlewares(r.middlewares ?? [], [...segs, 'middlewares'], middlewares, issue);
    r.service = localName(r.service);
    if (!known.services.has(r.service)) {
      const known = Object.keys(cfg.http?.services ?? {});
      issue([...segs, 'service'], `unknown service "${r.service}"; ${known.length ? `defined: ${known.join(', ')}` : 'none is defined under http.services'}`);
    }
    if (match) {
      routers.push({
        name,
        rule: r.rule,
        match,
        entryPoints: r.entryPoints ?? epNames,
        middlewares: chain,
        service: r.service,
        // Traefik: 0 (or unset) means the length of the rule.
        priority: r.priority || r.rule.length,
      });
    }
  }

  const p = cfg.plugins ?? {};
  const kv = p.capabilities?.kv;
  const trust = p.trust && {
    ...p.trust,
    publicKeys: p.trust.publicKeys.map((k) => (k.includes('-----BEGIN') ? k : path.resolve(baseDir, k))),
  };
  // Highest priority first; equal priorities by name, so the order never depends on the file's order.
  routers.sort((a, b) => b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const config: ResolvedConfig = {
    file,
    entryPoints,
    certificates,
    admin,
    accessLog: cfg.accessLog ?? true,
    routers,
    middlewares,
    services,
    plugins: {
      dir: path.resolve(baseDir, p.dir ?? '.'),
      limits: p.limits as Record<string, number> | undefined,
      pluginLimits: p.pluginLimits as Record<string, Record<string, number>> | undefined,
      kv: resolveKv(kv, baseDir, issue),
      trust,
      watch: p.watch,
    },
    redisProvider: resolveRedisProvider(cfg.providers, baseDir, issue),
    at,
  };
  return { config, issues };
}

/**
 * Validate the shape; parts that fail are removed from a copy (repeatedly, since removing one can
 * make its parent fail) so the rest can still be checked. Only the first round's problems are
 * reported: later ones are consequences. `value` is undefined when the root itself is unusable.
 */
function pruneInvalid(raw: object, at: (p: readonly (string | number)[]) => string): { value: object | undefined; issues: Issue[]; removed: string[] } {
  if (validateShape(raw)) return { value: raw, issues: [], removed: [] };
  const issues = schemaIssues(validateShape.errors ?? [], [], at);
  const removed: string[] = [];
  const value = structuredCloneSafe(raw) as Record<string, unknown>;
  for (let round = 0; round < 20; round++) {
    if (validateShape(value)) return { value, issues, removed };
    for (const e of validateShape.errors ?? []) {
      let segs = pointerSegments(e.instancePath);
      if (e.keyword === 'additionalProperties') segs = [...segs, (e.params as { additionalProperty: string }).additionalProperty];
      if (segs.length === 0 || (segs.length === 1 && segs[0] === 'entryPoints')) return { value: undefined, issues, removed };
      let parent: unknown = value;
      for (const s of segs.slice(0, -1)) parent = (parent as Record<string | number, unknown> | undefined)?.[s];
      if (parent === null || typeof parent !== 'object') continue;
      const last = segs[segs.length - 1]!;
      if (Array.isArray(parent) && typeof last === 'number') parent.splice(last, 1);
      else delete (parent as Record<string | number, unknown>)[last];
      removed.push(dotted(segs));
    }
  }
  return { value: undefined, issues, removed };
}

/** checkConfig, throwing ConfigError when there is any problem. */
export function resolveConfig(parsed: Parsed, baseDir: string): ResolvedConfig {
  const { config, issues } = checkConfig(parsed, baseDir);
  if (issues.length > 0) throw new ConfigError(config.file, sortIssues(issues));
  return config;
}

/** Issues in file order (by line), keeping the order of discovery within a line. */
export function sortIssues(issues: Issue[]): Issue[] {
  const line = (i: Issue) => Number(/\(line (\d+)\)$/.exec(i.message)?.[1] ?? Infinity);
  return issues.map((i, n) => ({ i, n })).sort((a, b) => line(a.i) - line(b.i) || a.n - b.n).map((x) => x.i);
}

/**
 * Load a configuration: a YAML file path, or an object in the same shape (relative paths then
 * resolve against the current directory). Throws ConfigError with every problem found.
 * @example
 * const config = await loadConfig('gateway.yaml') // ConfigError: http.routers.api.rule: unexpected ')' at 23 ...
 */
export async function loadConfig(source: string | GatewayConfig): Promise<ResolvedConfig> {
  const { config, issues } = await readConfig(source);
  if (issues.length > 0) throw new ConfigError(config.file, sortIssues(issues));
  return config;
}

/** loadConfig without throwing for problems past the schema (see checkConfig). */
export async function readConfig(source: string | GatewayConfig, overlay?: (parsed: Parsed) => Parsed): Promise<CheckedConfig> {
  // `overlay` adds what a provider (Redis) holds to the file before it is checked, the same way.
  const add = overlay ?? ((p: Parsed) => p);
  if (typeof source === 'string') {
    const parsed = await readLayout(source);
    const checked = checkConfig(add(parsed), path.dirname(parsed.file!));
    checked.config.watchPaths = parsed.watch;
    return checked;
  }
  const parsed = await layoutOf(structuredCloneSafe(source), undefined, () => '', process.cwd());
  const checked = checkConfig(add(parsed), process.cwd());
  checked.config.watchPaths = parsed.watch;
  return checked;
}

/** The config object is the caller's: keep our own copy (ajv's defaults and later edits never leak). */
function structuredCloneSafe(v: unknown): unknown {
  try {
    return structuredClone(v);
  } catch {
    return v;
  }
}
