/**
 * `terrarium serve [config]`: run the gateway until SIGTERM or SIGINT, then shut down gracefully
 * (stop accepting, finish the requests in flight, close the plugin host). SIGHUP reloads the
 * config file. An invalid configuration prints every issue with its path and exits 2.
 */
import cluster from 'node:cluster';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, type Command } from 'commander';
import { ConfigError, configIssueText, type ConfigIssue } from '../errors.js';
import type { Logger } from '../types.js';
import { readConfig } from '../gateway/config/load.js';
import { typeCheck } from './typecheck.js';
import { onProcess, openGateway, startFailure, type StartFailure } from '../gateway/serve/process.js';

/** What the CLI hands the serve command. */
export interface ServeDeps {
  makeLogger(level: string): Logger;
  out(s: string): void;
  err(s: string): void;
}

/** The example configuration `npm start` serves. */
export const DEFAULT_CONFIG = fileURLToPath(new URL('../../scripts-examples/gateway.yaml', import.meta.url));

/**
 * Add the `serve` subcommand to the terrarium program.
 * @example registerServe(program, { makeLogger, out, err })
 */
export function registerServe(program: Command, deps: ServeDeps): void {
  program
    .command('serve')
    .description('run the gateway: a reverse proxy whose middlewares are sandboxed plugins (npm start)')
    .argument('[config]', 'gateway YAML file', existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined)
    .option('--no-watch', 'do not reload the config file when it changes')
    .option('--workers <n>', 'gateway processes sharing the entry points: a number, or auto (one per CPU)', parseWorkers, 1)
    .option('--check', 'check the configuration and type-check the .ts plugins of plugins.dir, then exit (1: type errors, 2: bad config)')
    .addHelpText('after', '\nSIGTERM / SIGINT: graceful shutdown; SIGHUP: reload the config file.\nExample: terrarium serve scripts-examples/gateway.yaml')
    .action(async (file: string | undefined, opts: { watch: boolean; workers: number; check?: boolean }) => {
      if (!file) {
        deps.err('terrarium serve: no configuration file given (and no scripts-examples/gateway.yaml next to the package)\n');
        process.exitCode = 2;
        return;
      }
      if (opts.check) {
        process.exitCode = await checkOnly(file, deps);
        return;
      }
      const logger = deps.makeLogger(program.opts<{ logLevel: string }>().logLevel);
      if (cluster.isWorker) {
        const { runWorker } = await import('../gateway/serve/cluster-worker.js');
        await runWorker(file, { logger, watch: opts.watch });
        // Everything is closed: leave even if a library left a handle open.
        process.exit(process.exitCode ?? 0);
      }
      if (opts.workers > 1) {
        await servePrimary(file, opts.workers, logger, deps);
        return;
      }
      const opened = await openGateway(file, { logger, watchConfig: opts.watch });
      if ('failure' in opened) {
        reportFailure(deps, opened.failure);
        return;
      }
      const gw = opened.gateway;
      banner(deps, [...Object.entries(gw.entryPoints).map(([n, a]) => [n, a.url] as const), ...(gw.admin ? [['admin', gw.admin.url] as const] : [])]);
      let stopping = false;
      let stopped: () => void = () => undefined;
      const done = new Promise<void>((resolve) => (stopped = resolve));
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) {
          deps.err(`terrarium serve: ${signal} again, exiting now\n`);
          process.exit(1);
        }
        stopping = true;
        logger.info({ signal }, `${signal}: shutting down (finishing requests in flight)`);
        gw.close().then(stopped, (e: unknown) => {
          deps.err(`terrarium serve: shutdown failed: ${(e as Error)?.message ?? String(e)}\n`);
          process.exitCode = 1;
          stopped();
        });
      };
      // A bad file is logged with its issues and the running configuration stays.
      const reload = () => void gw.reload().catch(() => undefined);
      const off = onProcess({ SIGTERM: stop, SIGINT: stop, SIGHUP: reload });
      try {
        await done;
      } finally {
        off();
      }
    });
}

/** `--workers`: a positive integer, or `auto` for one per CPU. */
function parseWorkers(value: string): number {
  if (value === 'auto') return os.availableParallelism();
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`--workers must be a positive integer or auto, got "${value}"`);
  return n;
}

/** Print why the gateway did not start (every issue of an invalid configuration) and set the exit code. */
function reportFailure(deps: ServeDeps, f: StartFailure): void {
  if (f.issues) {
    deps.err(`terrarium serve: invalid configuration${f.file ? ` in ${f.file}` : ''}:\n`);
    for (const i of f.issues) deps.err(`  ${configIssueText(i, f.file)}\n`);
  } else deps.err(`terrarium serve: ${f.message}\n`);
  process.exitCode = f.exitCode;
}

function banner(deps: ServeDeps, rows: (readonly [string, string])[]): void {
  const width = Math.max(...rows.map(([n]) => n.length));
  deps.out(`terrarium gateway (Ctrl-C to stop)\n${rows.map(([n, u]) => `  ${n.padEnd(width)}  ${u}\n`).join('')}`);
}

/** `serve --check`: the config's issues (exit 2), then the type errors of its .ts plugins (exit 1); nothing listens. */
async function checkOnly(file: string, deps: ServeDeps): Promise<number> {
  let checked;
  try {
    checked = await readConfig(file);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    reportFailure(deps, startFailure(e)!);
    return 2;
  }
  if (checked.issues.length) {
    reportFailure(deps, startFailure(new ConfigError(file, checked.issues))!);
    return 2;
  }
  const dir = checked.config.plugins.dir;
  const tsFiles = dir && existsSync(dir) ? readdirSync(dir).filter((f) => /\.m?ts$/.test(f) && !f.endsWith('.d.ts')).sort() : [];
  let failed = 0;
  for (const f of tsFiles) {
    const r = await typeCheck(path.join(dir!, f), path.basename(f, path.extname(f)));
    if (r.ok === 'skipped') {
      deps.out(`note  ${r.reason}\n`);
      break;
    }
    if (!r.ok) {
      failed++;
      deps.err(`${r.error.message}\n`);
    }
  }
  deps.out(failed ? `${failed} of ${tsFiles.length} TypeScript plugins do not type-check\n` : `OK  ${file}: the configuration is valid${tsFiles.length ? ` and ${tsFiles.length} TypeScript plugin${tsFiles.length === 1 ? '' : 's'} type-check` : ''}\n`);
  return failed ? 1 : 0;
}

/** `serve --workers N` (N > 1): the cluster primary (cluster.ts) until SIGTERM/SIGINT; SIGHUP reloads every worker. */
async function servePrimary(file: string, workers: number, logger: Logger, deps: ServeDeps): Promise<void> {
  let config;
  try {
    // Checked once here, so a bad file is reported once and not by every worker. Its references
    // are left to the workers: they may be to routers or services a Redis provider defines.
    config = (await readConfig(file)).config;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    reportFailure(deps, startFailure(e)!);
    return;
  }
  if (config.plugins.kv?.backend === 'memory')
    logger.warn({ workers }, `kv: the memory backend is per process: with ${workers} workers every worker has its own counters (a rate limit allows up to ${workers}x); use backend: redis to share them`);
  const { startPrimary } = await import('../gateway/serve/cluster.js');
  let primary;
  try {
    primary = await startPrimary(config, { workers, logger });
  } catch (e) {
    const f = e as Error & { issues?: ConfigIssue[]; exitCode?: number };
    reportFailure(deps, { message: f.message, ...(f.issues ? { issues: f.issues, file } : {}), exitCode: f.exitCode ?? 1 });
    return;
  }
  banner(deps, [...Object.entries(primary.entryPoints), ...(primary.admin ? [['admin', primary.admin.url] as const] : []), ['workers', primary.workerPids().join(' ')]]);
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      deps.err(`terrarium serve: ${signal} again, exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, `${signal}: shutting down every worker (finishing requests in flight)`);
    void primary.close();
  };
  const reload = () => primary.reload();
  const off = onProcess({ SIGTERM: stop, SIGINT: stop, SIGHUP: reload });
  try {
    await primary.done;
  } finally {
    off();
  }
}
