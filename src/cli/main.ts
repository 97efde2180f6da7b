#!/usr/bin/env node
/**
 * The terrarium command line: `init`, `list`, `call`, `test`, `keygen`, `sign`, `verify` and `demo`. Usage errors exit 2 with a message,
 * plugin failures exit 1 with the error code and message on stderr; never a stack trace.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import pino from 'pino';
import pretty from 'pino-pretty';
import { builtinExtensions, createHost, isPluginFile } from '../host/host.js';
import { scopedFs } from '../capabilities/fs.js';
import { NoExportError, PluginThrownError, TerrariumError } from '../errors.js';
import { memoryKv, runDemo } from './demo.js';
import { generateKeys, makeTrustStore, signPlugin, signaturePath, verifyPlugin } from '../host/trust.js';
import type { Logger } from '../types.js';
import { registerServe } from './serve.js';
import { INIT_LANGS, InitError, initPlugin, type InitLang } from './init.js';
import { testPlugins } from './test-command.js';
import { costTable, measureCost } from './cost.js';
import { replay, replayText } from './replay.js';
import { scratchDir } from './sandbox.js';
import { didYouMean } from '../hints.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

function makeLogger(level: string): Logger {
  return pino({ level }, pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY, ignore: 'pid,hostname', singleLine: true }));
}

/** A logger that leaves out the load failures a command prints itself (so each shows once). */
function withoutLoadFailures(logger: Logger): Logger {
  const keep = (obj: object) => (obj as { event?: unknown }).event !== 'failed';
  return {
    debug: (o, m) => keep(o) && logger.debug(o, m),
    info: (o, m) => keep(o) && logger.info(o, m),
    warn: (o, m) => keep(o) && logger.warn(o, m),
    error: (o, m) => keep(o) && logger.error(o, m),
  };
}

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got "${value}"`);
    return n;
  };
}

/** One JSON value of the command line; `what` names it in the message (`argument 2`, `--config`). */
function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new UsageError(`${what} is not valid JSON (${(e as Error).message}): ${text}\nQuote strings as JSON, e.g. '"hello"'`);
  }
}

class UsageError extends Error {}

function readOrUsage(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UsageError(`cannot read the ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

const UNDEFINED = '\u0000undefined\u0000';

/** JSON for the terminal: also shows the values JSON has no syntax for (`undefined`, NaN, bytes). */
function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  const text = JSON.stringify(
    value,
    (_k, v: unknown) => {
      if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('hex') };
      if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
      if (v === undefined) return UNDEFINED;
      return v;
    },
    2,
  );
  return text.replaceAll(JSON.stringify(UNDEFINED), 'undefined');
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
    .command('init')
    .description('scaffold a plugin in a new (or empty) directory: the plugin with meta and self-tests, and a README')
    .argument('<dir>', 'the directory to create')
    .addOption(new Option('--lang <lang>', 'the plugin language').choices(INIT_LANGS).makeOptionMandatory())
    .option('--middleware', 'a gateway middleware (onRequest/onResponse) instead of a plain plugin')
    .option('--envoy', 'an Envoy-style Lua filter (envoy_on_request/envoy_on_response), run as a gateway middleware; needs --lang lua')
    .addHelpText('after', '\nExample: terrarium init plugins/deny --lang ts --middleware && terrarium test plugins/deny')
    .action((dir: string, opts: { lang: InitLang; middleware?: boolean; envoy?: boolean }) => {
      let files: string[];
      try {
        files = initPlugin(dir, opts.lang, opts.middleware === true, opts.envoy === true);
      } catch (e) {
        if (e instanceof InitError) throw new UsageError(e.message);
        throw e;
      }
      out(`wrote ${files.join(', ')}\nnext: terrarium test ${files[0]}\n`);
    });

  program
    .command('list')
    .description('list the plugins of a directory: engine, status, exports and load errors with file:line')
    .argument('<dir>', 'plugin directory')
    .option('--json', 'print JSON instead of a table')
    .action(async (dir: string, opts: { json?: boolean }) => {
      await using host = await createHost({ dir, logger: withoutLoadFailures(makeLogger(program.opts<{ logLevel: string }>().logLevel)) });
      const rows = host.plugins.map((p) => ({
        name: p.name,
        engine: p.engine,
        status: p.status,
        file: p.file,
        exports: p.exports.map((e) => `${e.name}/${e.arity}${e.async ? '*' : ''}`).join(' '),
        error: p.error ? p.error.message : '',
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
      if (rows.length === 0) out(`(no plugins: files must end in ${builtinExtensions().join(', ')})\n`);
      if (rows.some((r) => r.error)) process.exitCode = 1;
    });

  program
    .command('call')
    .description('load one plugin file, call one export with JSON arguments, print the result as JSON')
    .argument('<plugin-file>', 'a .js, .mjs, .ts, .mts or .lua plugin file')
    .argument('<export>', 'the exported function to call')
    .argument('[json-args...]', 'arguments, each one JSON value (quote strings: \'"text"\')')
    .option('--memory-mb <n>', 'memory limit in MiB (min 16)', positiveInt('--memory-mb'))
    .option('--timeout-ms <n>', 'call time limit in milliseconds', positiveInt('--timeout-ms'))
    .option('--config <json>', 'the plugin\'s host.config, as JSON')
    .addHelpText('after', '\nThe plugin is granted host.kv (an in-memory store), host.fs (a fresh temporary directory) and host.log.\nExample: terrarium call scripts-examples/revert.js revert \'"Live on time, emit no evil"\'')
    .action(async (file: string, exportName: string, jsonArgs: string[], opts: { memoryMb?: number; timeoutMs?: number; config?: string }) => {
      const args = jsonArgs.map((a, i) => parseJson(a, `argument ${i + 1}`));
      const config = opts.config === undefined ? undefined : parseJson(opts.config, '--config');
      const name = path.basename(file, path.extname(file));
      await using sandbox = await scratchDir();
      await using host = await createHost({
        files: [file],
        // The load failure is thrown below and printed once by main().
        logger: withoutLoadFailures(makeLogger(program.opts<{ logLevel: string }>().logLevel)),
        capabilities: { ...memoryKv(), fs: scopedFs(sandbox.path) },
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
      const names = plugin.exports.map((e) => e.name);
      if (!fn || !names.includes(exportName)) {
        throw new NoExportError(names, { plugin: plugin.name, engine: plugin.engine, file, exportName, hint: didYouMean(exportName, names) });
      }
      out(`${show(await fn(...args))}\n`);
    });

  program
    .command('test')
    .description("run the plugins' self-tests (meta.tests and selftest()) and fixtures (<name>.test.json); type-check .ts plugins; exit 1 if any fails, 2 on a malformed fixture")
    .argument('<dir-or-file>', 'a plugin directory or one plugin file')
    .option('--no-typecheck', 'do not type-check .ts plugins')
    .addHelpText('after', '\nEach plugin is loaded on its own, granted host.kv (in memory) and host.fs (a fresh temporary directory).\nFixtures: <name>.test.json next to the plugin, or a folder <name>.tests/ of .json files (see docs/author.md).')
    .action(async (target: string, opts: { typecheck: boolean }) => {
      let files: string[];
      try {
        files = statSync(target).isDirectory() ? (await readdir(target)).filter((f) => isPluginFile(f)).sort().map((f) => path.join(target, f)) : [target];
      } catch {
        throw new UsageError(`${target} does not exist`);
      }
      const outcome = await testPlugins(files, { typecheck: opts.typecheck, out });
      if (files.length === 0) out(`(no plugins: files must end in ${builtinExtensions().join(', ')})\n`);
      out(`${outcome.summary}\n`);
      if (outcome.exitCode) process.exitCode = outcome.exitCode;
    });

  program
    .command('cost')
    .description('measure a plugin per export: median and p99 µs per call, memory high-water, load time; exit 1 over --max-us, --max-units or --max-memory')
    .argument('<plugin-file>', 'a .js, .mjs, .ts, .mts or .lua plugin file')
    .option('--fixtures <file...>', 'fixture files whose cases are the calls (default: <name>.test.json and <name>.tests/, else meta.tests)')
    .option('--json', 'print JSON instead of a table')
    .option('--max-us <n>', 'fail when an export\'s median µs per call is over n', positiveInt('--max-us'))
    .option('--max-units <n>', 'fail when an export\'s median work units per call (QuickJS ticks, Lua VM instructions) is over n', positiveInt('--max-units'))
    .option('--max-memory <bytes>', 'fail when the memory high-water is over this many bytes', positiveInt('--max-memory'))
    .option('--iterations <n>', 'measured calls per export (after a warm-up of a tenth as many)', positiveInt('--iterations'), 200)
    .option('--timeout-ms <n>', 'call time limit in milliseconds (default: the host\'s)', positiveInt('--timeout-ms'))
    .addHelpText('after', '\nExample: terrarium cost plugins/deny/deny.js --max-us 200 --json')
    .action(async (file: string, opts: { fixtures?: string[]; json?: boolean; maxUs?: number; maxUnits?: number; maxMemory?: number; iterations: number; timeoutMs?: number }) => {
      if (!existsSync(file)) throw new UsageError(`${file} does not exist`);
      for (const f of opts.fixtures ?? []) if (!existsSync(f)) throw new UsageError(`the fixture file ${f} does not exist`);
      const report = await measureCost(file, {
        ...(opts.fixtures ? { fixtures: opts.fixtures } : {}),
        iterations: opts.iterations,
        warmup: Math.max(1, Math.floor(opts.iterations / 10)),
        ...(opts.maxUs !== undefined ? { maxUs: opts.maxUs } : {}),
        ...(opts.maxUnits !== undefined ? { maxUnits: opts.maxUnits } : {}),
        ...(opts.maxMemory !== undefined ? { maxMemory: opts.maxMemory } : {}),
        ...(opts.timeoutMs ? { limits: { callTimeoutMs: opts.timeoutMs } } : {}),
      });
      out(opts.json ? `${JSON.stringify(report, null, 2)}\n` : costTable(report));
      if (report.over.length) process.exitCode = 1;
    });

  program
    .command('replay')
    .description("run the requests the gateway recorded (config replay:) through a middleware's onRequest; with --against, count the decisions that differ")
    .argument('<file>', 'the recorded JSON-lines file')
    .argument('<plugin-file>', 'the middleware plugin file')
    .option('--against <plugin-file>', 'another version of the plugin: show the decisions that differ, with counts (exit 1 when any does)')
    .option('--router <name>', 'only the requests of this router')
    .option('--config <json>', "the middleware's config (ctx.config), as JSON")
    .option('--json', 'print JSON instead of text')
    .addHelpText('after', '\nExample: terrarium replay replay.jsonl plugins/deny.js --against plugins/deny-next.js')
    .action(async (file: string, pluginFile: string, opts: { against?: string; router?: string; config?: string; json?: boolean }) => {
      for (const f of [file, pluginFile, opts.against]) if (f !== undefined && !existsSync(f)) throw new UsageError(`${f} does not exist`);
      const config = opts.config === undefined ? undefined : parseJson(opts.config, '--config');
      const report = await replay(file, pluginFile, { ...(opts.against ? { against: opts.against } : {}), ...(opts.router ? { router: opts.router } : {}), config });
      out(opts.json ? `${JSON.stringify(report, null, 2)}\n` : replayText(report));
      if (report.against?.differ) process.exitCode = 1;
    });

  program
    .command('keygen')
    .description('write an Ed25519 key pair for signing plugins: <name>.key (private, mode 0600) and <name>.pub')
    .option('--out <dir>', 'directory to write the keys to', '.')
    .option('--name <name>', 'file name of the keys, without extension', 'terrarium')
    .option('--force', 'overwrite existing key files')
    .action((opts: { out: string; name: string; force?: boolean }) => {
      const keyFile = path.join(opts.out, `${opts.name}.key`);
      const pubFile = path.join(opts.out, `${opts.name}.pub`);
      if (!opts.force && (existsSync(keyFile) || existsSync(pubFile))) throw new UsageError(`${keyFile} or ${pubFile} already exists; pass --force to overwrite`);
      const keys = generateKeys();
      try {
        mkdirSync(opts.out, { recursive: true });
        writeFileSync(keyFile, keys.privateKey, { mode: 0o600 });
        writeFileSync(pubFile, keys.publicKey);
      } catch (e) {
        throw new UsageError(`cannot write the keys: ${(e as Error).message}`);
      }
      out(`wrote ${keyFile} (private: keep it secret) and ${pubFile}\nkey fingerprint ${keys.fingerprint}\n`);
    });

  program
    .command('sign')
    .description('sign a plugin file with an Ed25519 private key: writes <file>.sig next to it')
    .argument('<file>', 'the plugin file')
    .requiredOption('--key <private>', 'the private key file (from terrarium keygen)')
    .action((file: string, opts: { key: string }) => {
      const content = readOrUsage(file, 'plugin file');
      const sig = signPlugin(content, readOrUsage(opts.key, 'private key').toString('utf8'));
      writeFileSync(signaturePath(file), sig);
      out(`wrote ${signaturePath(file)} (key ${(JSON.parse(sig) as { key: string }).key})\n`);
    });

  program
    .command('verify')
    .description("check a plugin file's signature against trusted public keys; exit 1 if it does not verify")
    .argument('<file>', 'the plugin file')
    .requiredOption('--pub <public...>', 'trusted public key file(s)')
    .action((file: string, opts: { pub: string[] }) => {
      const content = readOrUsage(file, 'plugin file');
      const store = makeTrustStore({ publicKeys: opts.pub.map((f) => (readOrUsage(f, 'public key'), f)), requireSignature: true })!;
      const sig = existsSync(signaturePath(file)) ? readFileSync(signaturePath(file), 'utf8') : undefined;
      const key = verifyPlugin(content, sig, store, { plugin: path.basename(file, path.extname(file)), file });
      out(`OK  ${file} is signed by trusted key ${key ?? '?'}\n`);
    });

  program
    .command('demo')
    .description('load a plugin directory and exercise it like an application would (npm start)')
    .argument('[dir]', 'plugin directory (default: the examples shipped with the package)')
    .action(async (dir: string | undefined) => {
      // The package's own examples, wherever it is installed (not the current directory's).
      dir ??= fileURLToPath(new URL('../../scripts-examples', import.meta.url));
      if (!existsSync(dir)) throw new UsageError(`${dir} does not exist`);
      process.exitCode = await runDemo(dir, makeLogger(program.opts<{ logLevel: string }>().logLevel), (l) => out(`${l}\n`));
    });
  registerServe(program, { makeLogger, out, err });
  return program;
}

/**
 * Stop quietly when the reader of stdout has gone (`terrarium list dir | head -5`): a closed pipe
 * is the reader's choice, not an error of the command, and without a listener Node throws EPIPE
 * from the next write with a stack trace.
 */
function exitOnClosedStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  });
}

export async function main(argv: string[]): Promise<number> {
  exitOnClosedStdout();
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
      // A thrown error carries the plugin's stack in its message already; the others print it after.
      if (e.pluginStack && !(e instanceof PluginThrownError)) err(`${e.pluginStack}\n`);
      return e.code === 'ERR_OPTIONS' || e.code === 'ERR_FIXTURE' ? 2 : 1;
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
