/**
 * TypeScript plugins (`.ts`, `.mts`): type syntax is stripped with sucrase, which keeps every
 * line where it was (so file:line in errors and plugin stacks points into the .ts file), and the
 * result runs in the QuickJS engine like any JavaScript plugin. Types are not checked: that is the
 * plugin author's build's job; the sandbox does not trust them anyway.
 *
 * sucrase runs in one shared worker thread (WORKER_SOURCE below), bounded by the plugin's
 * `loadTimeoutMs`: a source that makes the parser go exponential fails with ERR_PLUGIN_TIMEOUT
 * and the worker is terminated; the host's thread never runs the parser.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Engine } from '../../engine.js';
import { PluginLoadError, PluginTimeoutError } from '../../errors.js';
import { quickjsEngine } from '../quickjs/index.js';

interface Reply {
  id: number;
  code?: string;
  error?: string;
  loc?: { line: number; column: number };
}
interface Waiter {
  resolve(r: Reply): void;
  reject(e: unknown): void;
}

/**
 * The worker's code (CommonJS, evaluated by the worker: no file to find next to this one, whether
 * the host runs from dist/ or from source). sucrase is resolved here, from the package.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { transform } = require(${JSON.stringify(createRequire(import.meta.url).resolve('sucrase'))});
parentPort.on('message', ({ id, source, file }) => {
  try {
    // disableESTransforms: modern syntax (optional chaining, class fields) is left to QuickJS.
    const code = transform(source, { transforms: ['typescript'], disableESTransforms: true, filePath: file }).code;
    parentPort.postMessage({ id, code });
  } catch (e) {
    parentPort.postMessage({ id, error: String((e && e.message) || e), loc: e && e.loc ? { line: e.loc.line, column: e.loc.column } : undefined });
  }
});
`;

let worker: Worker | undefined;
const waiting = new Map<number, Waiter>();
let nextId = 1;

/** The shared transpile worker, started on first use; it never keeps the process alive. */
function transpiler(): Worker {
  if (worker) return worker;
  const w = new Worker(WORKER_SOURCE, { eval: true });
  w.unref();
  w.on('message', (r: Reply) => {
    const waiter = waiting.get(r.id);
    waiting.delete(r.id);
    waiter?.resolve(r);
    if (waiting.size === 0) w.unref();
  });
  const fail = (e: unknown) => {
    if (worker === w) worker = undefined;
    for (const waiter of waiting.values()) waiter.reject(e);
    waiting.clear();
  };
  w.on('error', fail);
  w.on('exit', () => fail(new Error('the TypeScript transpiler stopped')));
  worker = w;
  return w;
}

/**
 * Strip TypeScript syntax within `timeoutMs`; throws ERR_PLUGIN_LOAD with the line and column of
 * a syntax error, or ERR_PLUGIN_TIMEOUT (phase load) when the parser runs longer.
 */
export async function stripTypes(source: string, ctx: { plugin: string; file: string }, timeoutMs: number): Promise<string> {
  const errorCtx = { plugin: ctx.plugin, engine: quickjsEngine.name, file: ctx.file };
  const w = transpiler();
  const id = nextId++;
  const reply = await new Promise<Reply>((resolve, reject: (e: unknown) => void) => {
    const timer = setTimeout(() => {
      waiting.delete(id);
      // The parser cannot be interrupted: the worker is thrown away (other jobs in it fail and
      // are not retried: they were queued behind a source that ran past its own budget).
      if (worker === w) worker = undefined;
      void w.terminate();
      reject(new PluginTimeoutError(timeoutMs, 'load', errorCtx, 'while stripping TypeScript syntax'));
    }, timeoutMs);
    waiting.set(id, {
      resolve: (r) => {
        clearTimeout(timer);
        resolve(r);
      },
      reject: (e) => {
        clearTimeout(timer);
        reject(new PluginLoadError(`the TypeScript transpiler failed: ${(e as Error)?.message ?? String(e)}`, { ...errorCtx, cause: e }, 'Retry the load'));
      },
    });
    w.ref();
    w.postMessage({ id, source, file: ctx.file });
  });
  if (reply.code !== undefined) return reply.code;
  const message = String(reply.error).replace(/ \(\d+:\d+\)$/, '');
  throw new PluginLoadError(
    `TypeScript syntax error: ${message}`,
    { ...errorCtx, ...(reply.loc ? { line: reply.loc.line, column: reply.loc.column } : {}) },
    'Fix the plugin source',
  );
}

export const typescriptEngine: Engine = {
  name: quickjsEngine.name,
  async load(req) {
    // Transpiling happens off the host's thread (bounded by loadTimeoutMs there); interpreting
    // the result is bounded by loadTimeoutMs on it, like any JavaScript plugin.
    const source = await stripTypes(req.source, { plugin: req.defaultName, file: req.file }, req.limits.loadTimeoutMs);
    return quickjsEngine.load({ ...req, source });
  },
};
