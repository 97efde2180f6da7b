/**
 * `terrarium serve [config]`: run the gateway until SIGTERM or SIGINT, then shut down gracefully
 * (stop accepting, finish the requests in flight, close the plugin host). SIGHUP reloads the
 * config file. An invalid configuration prints every issue with its path and exits 2.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { ConfigError, TerrariumError } from '../errors.js';
import type { Logger } from '../types.js';
import { createGateway } from './server.js';

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
    .addHelpText('after', '\nSIGTERM / SIGINT: graceful shutdown; SIGHUP: reload the config file.\nExample: terrarium serve scripts-examples/gateway.yaml')
    .action(async (file: string | undefined, opts: { watch: boolean }) => {
      if (!file) {
        deps.err('terrarium serve: no configuration file given (and no scripts-examples/gateway.yaml next to the package)\n');
        process.exitCode = 2;
        return;
      }
      const logger = deps.makeLogger(program.opts<{ logLevel: string }>().logLevel);
      let gw;
      try {
        gw = await createGateway(file, { logger, watchConfig: opts.watch });
      } catch (e) {
        if (e instanceof ConfigError) {
          deps.err(`terrarium serve: invalid configuration${e.file ? ` in ${e.file}` : ''}:\n`);
          for (const i of e.issues) deps.err(`  ${i.path}: ${i.message}\n`);
          process.exitCode = 2;
          return;
        }
        if (e instanceof TerrariumError) {
          deps.err(`terrarium serve: ${e.message}\n`);
          process.exitCode = e.code === 'ERR_OPTIONS' ? 2 : 1;
          return;
        }
        throw e;
      }
      const rows = [...Object.entries(gw.entryPoints).map(([n, a]) => [n, a.url]), ...(gw.admin ? [['admin', gw.admin.url]] : [])];
      const width = Math.max(...rows.map(([n]) => n!.length));
      deps.out(`terrarium gateway (Ctrl-C to stop)\n${rows.map(([n, u]) => `  ${n!.padEnd(width)}  ${u}\n`).join('')}`);
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
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      process.on('SIGHUP', reload);
      try {
        await done;
      } finally {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        process.off('SIGHUP', reload);
      }
    });
}
