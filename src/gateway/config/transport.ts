/**
 * `http.serversTransports.<name>` as in Traefik: how the gateway talks to the servers of the
 * load balancers that reference it (`loadBalancer.serversTransport: <name>`): TLS verification of
 * https:// servers (`rootCAs`, `insecureSkipVerify`, `serverName`) and `forwardingTimeouts`.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ServersTransportConfig, ResolvedTransport } from './model.js';
/** Declared in the config model (model.ts), re-exported for the modules that use them with this one. */
export type { ServersTransportConfig, ResolvedTransport };

const durationSchema = {
  type: ['number', 'string'],
  minimum: 0,
  pattern: '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$',
  description: 'a duration: milliseconds as a number, or a string like 500ms, 30s, 2m',
};

/** The JSON schema of `http.serversTransports`. */
export const SERVERS_TRANSPORTS_SCHEMA = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    additionalProperties: false,
    properties: {
      serverName: { type: 'string', minLength: 1 },
      insecureSkipVerify: { type: 'boolean' },
      rootCAs: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'PEM files or PEM text' },
      forwardingTimeouts: {
        type: 'object',
        additionalProperties: false,
        properties: { dialTimeout: durationSchema, responseHeaderTimeout: durationSchema, idleConnTimeout: durationSchema },
      },
    },
  },
} as const;

/** Resolve every transport; problems (unreadable CA files) go to `issue`. */
export function resolveTransports(
  specs: Record<string, ServersTransportConfig> | undefined,
  baseDir: string,
  issue: (segs: (string | number)[], message: string) => void,
): Map<string, ResolvedTransport> {
  const out = new Map<string, ResolvedTransport>();
  for (const [name, t] of Object.entries(specs ?? {})) {
    let ca: string[] | undefined;
    (t.rootCAs ?? []).forEach((entry, i) => {
      if (entry.includes('-----BEGIN')) {
        (ca ??= []).push(entry);
        return;
      }
      const file = path.resolve(baseDir, entry);
      try {
        (ca ??= []).push(readFileSync(file, 'utf8'));
      } catch (e) {
        issue(['http', 'serversTransports', name, 'rootCAs', i], `cannot read CA file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; give a PEM file path relative to the config file`);
      }
    });
    const insecureSkipVerify = t.insecureSkipVerify ?? false;
    out.set(name, {
      name,
      tls: { key: createHash('sha256').update(JSON.stringify([insecureSkipVerify, t.serverName ?? '', ca ?? []])).digest('hex').slice(0, 16), ca, insecureSkipVerify, serverName: t.serverName },
      forwardingTimeouts: t.forwardingTimeouts,
    });
  }
  return out;
}
