#!/usr/bin/env node
/**
 * The terrarium command line: `list`, `call` and `demo`. Usage errors exit 2 with a message,
 * plugin failures exit 1 with the error code and message on stderr; never a stack trace.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import pino from 'pino';
import pretty from 'pino-pretty';
import { createHost } from './host/host.js';
import { TerrariumError } from './errors.js';
import { registeredExtensions } from './engine.js';
import { memoryKv, runDemo } from './demo.js';
import type { Logger } from './types.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

function makeLogger(level: string): Logger {
  return pino({ level }, pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY, ignore: 'pid,hostname', singleLine: true }));
}

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got "${value}"`);
    return n;
  };
}

function parseJsonArg(text: string, index: number): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new UsageError(`argument ${index + 1} is not valid JSON (${(e as Error).message}): ${text}\nQuote strings as JSON, e.g. '"hello"'`);
  }
}

class UsageError extends Error {}

/** JSON for the terminal: also shows the values JSON has no syntax for. */
function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  return JSON.stringify(
    value,
    (_k, v: unknown) => {
      if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('hex') };
      if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
      if (v === undefined) return '$undefined';
      return v;
    },
    2,
  );
}

export function buildProgram(out: (s: string) => void, err: (s: string) => void): Command {
  const program = new Command();
  program
    .name('terrarium')
    .description('Sandboxed script plugins for Node.js: load, list and call JavaScript and Lua plugins.')
    .version(pkg.version)
    .addOption(new Option('--log-level <level>', 'plugin and host log level').choices(['debug', 'info', 'warn', 'error', 'silent']).default('info'))
    .configureOutput({ writeOut: out, writeErr: err })
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('list')
    .description('list the plugins of a directory: engine, status, exports and load errors with file:line')
    .argument('<dir>', 'plugin directory')
    .option('--json', 'print JSON instead of a table')
    .action(async (dir: string, opts: { json?: boolean }) => {
      await using host = await createHost({ dir, logger: makeLogger(program.opts<{ logLevel: string }>().logLevel) });
      const rows = host.plugins.map((p) => ({
        name: p.name,
        engine: p.engine,
        status: p.status,
        file: p.file,
        exports: p.exports.map((e) => `${e.name}/${e.arity}${e.async ? '*' : ''}`).join(' '),
        error: p.error ? `${p.error.code} at ${p.error.location ?? p.file}: ${p.error.message}` : '',
      }));
      if (opts.json) {
        out(`${JSON.stringify(host.plugins.map((p) => ({ ...p, error: p.error && { code: p.error.code, message: p.error.message, file: p.error.file, line: p.error.line } })), null, 2)}\n`);
        return;
      }
      const cols = ['name', 'engine', 'status', 'file', 'exports'] as const;
      const width = Object.fromEntries(cols.map((c) => [c, Math.max(c.length, ...rows.map((r) => r[c].length))]));
      const line = (r: Record<string, string>) => cols.map((c) => (r[c] ?? '').padEnd(width[c] ?? 0)).join('  ').trimEnd();
      out(`${line(Object.fromEntries(cols.map((c) => [c, c.toUpperCase()])))}\n`);
      for (const r of rows) {
        out(`${line(r)}\n`);
        if (r.error) out(`  ${r.error}\n`);
      }
      if (rows.length === 0) out(`(no plugins: files must end in ${registeredExtensions().join(', ')})\n`);
      if (rows.some((r) => r.error)) process.exitCode = 1;
    });

  program
    .command('call')
    .description('load one plugin file, call one export with JSON arguments, print the result as JSON')
    .argument('<plugin-file>', 'a .js, .mjs or .lua plugin file')
    .argument('<export>', 'the exported function to call')
    .argument('[json-args...]', 'arguments, each one JSON value (quote strings: \'"text"\')')
    .option('--memory-mb <n>', 'memory limit in MiB (min 16)', positiveInt('--memory-mb'))
    .option('--timeout-ms <n>', 'call time limit in milliseconds', positiveInt('--timeout-ms'))
    .option('--config <json>', 'the plugin\'s host.config, as JSON')
    .addHelpText('after', '\nThe plugin is granted host.kv (an in-memory store) and host.log.\nExample: terrarium call scripts-examples/revert.js revert \'"Live on time, emit no evil"\'')
    .action(async (file: string, exportName: string, jsonArgs: string[], opts: { memoryMb?: number; timeoutMs?: number; config?: string }) => {
      const args = jsonArgs.map(parseJsonArg);
      const config = opts.config === undefined ? undefined : parseJsonArg(opts.config, -1);
      const name = path.basename(file, path.extname(file));
      await using host = await createHost({
        files: [file],
        logger: makeLogger(program.opts<{ logLevel: string }>().logLevel),
        capabilities: memoryKv(),
        limits: {
          ...(opts.memoryMb ? { memoryBytes: opts.memoryMb * 1024 * 1024 } : {}),
          ...(opts.timeoutMs ? { callTimeoutMs: opts.timeoutMs } : {}),
        },
        ...(config === undefined ? {} : { config: { [name]: config } }),
      });
      const plugin = host.plugins[0];
      if (!plugin || plugin.status !== 'ready') {
        throw plugin?.error ?? new UsageError(`could not load ${file}`);
      }
      const proxy = host.get<Record<string, (...a: unknown[]) => unknown>>(plugin.name);
      const fn = proxy[exportName];
      if (!fn) throw new UsageError(`no export ${exportName}`);
      out(`${show(await fn(...args))}\n`);
    });

  program
    .command('demo')
    .description('load a plugin directory and exercise it like an application would (npm start)')
    .argument('[dir]', 'plugin directory', 'scripts-examples')
    .action(async (dir: string) => {
      process.exitCode = await runDemo(dir, makeLogger(program.opts<{ logLevel: string }>().logLevel), (l) => out(`${l}\n`));
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const out = (s: string) => void process.stdout.write(s);
  const err = (s: string) => void process.stderr.write(s);
  const program = buildProgram(out, err);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof UsageError) {
      err(`terrarium: ${e.message}\n`);
      return 2;
    }
    if (e instanceof TerrariumError) {
      err(`${e.message}\n`);
      if (e.pluginStack) err(`${e.pluginStack}\n`);
      return e.code === 'ERR_OPTIONS' ? 2 : 1;
    }
    err(`terrarium: unexpected error: ${(e as Error)?.message ?? String(e)}\n`);
    return 1;
  }
}

const invokedAs = process.argv[1] ? path.resolve(process.argv[1]) : '';
const self = new URL(import.meta.url).pathname;
if (invokedAs === self || invokedAs.endsWith('/bin/terrarium') || invokedAs.endsWith('/terrarium')) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
