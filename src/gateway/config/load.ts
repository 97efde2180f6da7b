/**
 * The gateway's configuration: a YAML file shaped like Traefik's dynamic configuration
 * (entryPoints, http.routers / middlewares / services) plus `plugins` and `admin`. It is checked in
 * two passes, both collecting every problem instead of stopping at the first: a JSON schema (ajv,
 * schema.ts) for shapes and types, then the cross references, router rules, addresses and
 * URLs (check.ts). Every issue names its path in the file (`http.routers.api.rule`) and,
 * when the config came from a file, its line (yaml.ts), as fields (`Issue`, model.ts). Middleware
 * configs are checked later against the schema each plugin declares (middleware/plugin.ts),
 * because that needs the loaded plugins.
 *
 * This file loads a configuration from a path (files.ts: the static file and its dynamic files)
 * or an object; the types are in model.ts.
 */
import path from 'node:path';
import { ConfigError } from '../../errors.js';
import { layoutOf, readLayout } from './files.js';
import type { GatewayConfig, ResolvedConfig } from './model.js';
import { sortIssues } from './issues.js';
import { checkConfig, type CheckedConfig } from './check.js';
import { structuredCloneSafe } from './schema.js';
import type { Parsed } from './yaml.js';

export type * from './model.js';
export type { CheckedConfig } from './check.js';
export type { Parsed } from './yaml.js';
export { sortIssues };

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
  const parsed = await layoutOf(structuredCloneSafe(source), undefined, () => ({}), process.cwd());
  const checked = checkConfig(add(parsed), process.cwd());
  checked.config.watchPaths = parsed.watch;
  return checked;
}

