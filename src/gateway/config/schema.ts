/**
 * The JSON schema of the gateway file (shapes and types only; references, rules, addresses and URLs
 * are checked afterwards by config-check.ts), and the pruning that lets one run report every
 * problem: the parts that fail the schema are set aside and the rest is checked as well.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import type { Issue, Where } from './model.js';
import { dotted, pointerSegments, schemaIssues } from './issues.js';
import { ENTRY_POINT_PROPERTIES } from './entrypoint.js';
import { SERVERS_TRANSPORTS_SCHEMA } from './transport.js';
import { RESOLVERS_SCHEMA, ROUTER_TLS_SCHEMA, TLS_SCHEMA } from './tls.js';
import { GO_DURATION_PATTERN } from './duration.js';
import { COMPOSITE_SCHEMAS, LOAD_BALANCER_EXTRA, SERVER_EXTRA } from './services.js';
import { middlewareEntrySchema } from '../middleware/builtin/resolve.js';
import { KV_SCHEMA, PROVIDERS_SCHEMA } from './redis.js';
import { ACCESS_LOG_SCHEMA, STATIC_PROPERTIES } from './static.js';

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
    certificatesResolvers: RESOLVERS_SCHEMA,
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
              tls: ROUTER_TLS_SCHEMA,
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
        // per-plugin grants (createHost grants): kv.shared lists the shared kv namespaces a plugin may use
        grants: {
          type: 'object',
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            properties: {
              kv: { type: 'object', additionalProperties: false, properties: { shared: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' } } } },
              // JavaScript BigInt, off by default (one BigInt operation cannot be interrupted)
              bigint: { type: 'boolean' },
              // outbound HTTP: origins, or { allow, timeoutMs, maxResponseBytes, maxInFlight } (src/outbound/)
              fetch: {
                oneOf: [
                  { type: 'array', items: { type: 'string' } },
                  {
                    type: 'object',
                    additionalProperties: false,
                    required: ['allow'],
                    properties: {
                      allow: { type: 'array', items: { type: 'string' } },
                      timeoutMs: { type: 'integer', minimum: 1 },
                      maxResponseBytes: { type: 'integer', minimum: 1 },
                      maxInFlight: { type: 'integer', minimum: 1 },
                    },
                  },
                ],
              },
            },
          },
        },
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
      properties: {
        address: addressSchema,
        auth: {
          type: 'object',
          additionalProperties: false,
          properties: {
            tokenFile: { type: 'string', minLength: 1, description: 'a file holding the bearer token (relative to this file)' },
            tokenEnv: { type: 'string', minLength: 1, description: 'an environment variable holding the bearer token' },
            users: nameList('htpasswd user:hash'),
            usersFile: { type: 'string', minLength: 1, description: 'an htpasswd file (relative to this file)' },
          },
          description: '{ tokenFile | tokenEnv, users | usersFile }',
        },
        insecure: { type: 'boolean', description: 'allow a non-loopback admin address without auth (logged)' },
      },
      description: '{ address: "127.0.0.1:8081", auth?, insecure? } or an address',
    },
    accessLog: ACCESS_LOG_SCHEMA,
    errorFormat: { enum: ['text', 'json'], description: "the gateway's own error answers: text (Traefik's) or json" },
    // The replay recorder (stats/recorder.ts): opt-in, a sample of each router's requests for `terrarium replay`.
    replay: {
      type: 'object',
      additionalProperties: false,
      required: ['file'],
      properties: {
        file: { type: 'string', minLength: 1, description: 'a JSON-lines file, relative to the config file' },
        sampleRate: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
        maxBytes: { type: 'integer', minimum: 1024 },
        redactHeaders: { type: 'array', items: { type: 'string', minLength: 1 } },
        maxQueue: { type: 'integer', minimum: 1 },
      },
    },
    providers: PROVIDERS_SCHEMA,
    ...STATIC_PROPERTIES,
  },
} as const;

const ajv = new Ajv({ allErrors: true, verbose: true, strict: false });
const validateShape: ValidateFunction = ajv.compile(GATEWAY_SCHEMA);

/**
 * Validate the shape; parts that fail are removed from a copy (repeatedly, since removing one can
 * make its parent fail) so the rest can still be checked. Only the first round's problems are
 * reported: later ones are consequences. `value` is undefined when the root itself is unusable.
 */
export function pruneInvalid(raw: object, where: Where): { value: object | undefined; issues: Issue[]; removed: string[] } {
  if (validateShape(raw)) return { value: raw, issues: [], removed: [] };
  const issues = schemaIssues(validateShape.errors ?? [], [], where);
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

/** The config object is the caller's: keep our own copy (ajv's defaults and later edits never leak). */
export function structuredCloneSafe(v: unknown): unknown {
  try {
    return structuredClone(v);
  } catch {
    return v;
  }
}
