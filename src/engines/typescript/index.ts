/**
 * TypeScript plugins (`.ts`, `.mts`): type syntax is stripped with sucrase, which keeps every
 * line where it was (so file:line in errors and plugin stacks points into the .ts file), and the
 * result runs in the QuickJS engine like any JavaScript plugin. Types are not checked: that is the
 * plugin author's build's job; the sandbox does not trust them anyway.
 *
 * sucrase runs in one shared worker thread (WORKER_SOURCE below), bounded by the plugin's
 * `loadTimeoutMs`: a source that makes the parser go exponential fails with ERR_PLUGIN_TIMEOUT
 * and the worker is terminated; the host's thread never runs the parser.
 *
 * The clock is the worker's own time on that source, never the host thread's: a JavaScript
 * plugin whose top level loops blocks the host thread (until its own load timeout), and a slow
 * source ahead in the worker's queue holds the others back; neither is charged to this source.
 * The worker records which source it is parsing and since when in shared memory, the timer only
 * decides from that record after reading every reply already sent (synchronously), and sources
 * queued behind one that timed out are handed to a fresh worker, not failed.
 */
import { createRequire } from 'node:module';
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';
import type { Engine } from '../../engine.js';
import { PluginLoadError, PluginTimeoutError } from '../../errors.js';
import { quickjsEngine } from '../quickjs/index.js';

interface Reply {
  id: number;
  code?: string;
  error?: string;
  loc?: { line: number; column: number };
}
interface Job {
  id: number;
  source: string;
  file: string;
  timeoutMs: number;
  /** The transpiler the job was last handed to. */
  on: Transpiler;
  timer: NodeJS.Timeout | undefined;
  resolve(r: Reply): void;
  reject(e: unknown): void;
}
/** One worker, the port its replies come on, and its shared record of the job it is parsing. */
interface Transpiler {
  worker: Worker;
  port: MessagePort;
  /** [id of the job being parsed (0: none), when it started (ms after the host's timeOrigin)]. */
  state: Int32Array;
  /** Terminated by the host on a timeout: its exit fails no job (they moved to a new worker). */
  retired: boolean;
}

/** Slots of Transpiler.state. */
const JOB = 0;
const STARTED = 1;

/**
 * The worker's code (CommonJS, evaluated by the worker: no file to find next to this one, whether
 * the host runs from dist/ or from source). sucrase is resolved here, from the package.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { transform } = require(${JSON.stringify(createRequire(import.meta.url).resolve('sucrase'))});
const { port, state, origin } = workerData;
port.on('message', ({ id, source, file }) => {
  Atomics.store(state, ${STARTED}, Math.round(performance.timeOrigin + performance.now() - origin));
  Atomics.store(state, ${JOB}, id);
  let reply;
  try {
    // disableESTransforms: modern syntax (optional chaining, class fields) is left to QuickJS.
    reply = { id, code: transform(source, { transforms: ['typescript'], disableESTransforms: true, filePath: file }).code };
  } catch (e) {
    reply = { id, error: String((e && e.message) || e), loc: e && e.loc ? { line: e.loc.line, column: e.loc.column } : undefined };
  }
  port.postMessage(reply);
  Atomics.store(state, ${JOB}, 0);
});
`;

let live: Transpiler | undefined;
const jobs = new Map<number, Job>();
let nextId = 1;

/** The shared transpile worker, started on first use; it never keeps the process alive when idle. */
function transpiler(): Transpiler {
  if (live) return live;
  const { port1, port2 } = new MessageChannel();
  const state = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { port: port2, state, origin: performance.timeOrigin }, transferList: [port2] });
  const t: Transpiler = { worker, port: port1, state, retired: false };
  worker.unref();
  port1.unref();
  port1.on('message', (r: Reply) => settle(r));
  const fail = (e: unknown) => {
    if (live === t) live = undefined;
    if (t.retired) return;
    for (const job of [...jobs.values()]) if (job.on === t) job.reject(e);
  };
  worker.on('error', fail);
  worker.on('exit', () => fail(new Error('the TypeScript transpiler stopped')));
  live = t;
  return t;
}

function settle(r: Reply): void {
  jobs.get(r.id)?.resolve(r);
}

/** Hand every reply a transpiler has already sent to its job, without waiting for the event loop. */
function drain(t: Transpiler): void {
  for (let m = receiveMessageOnPort(t.port); m; m = receiveMessageOnPort(t.port)) settle(m.message as Reply);
}

function post(job: Job, t: Transpiler): void {
  job.on = t;
  t.worker.ref();
  t.port.ref();
  t.port.postMessage({ id: job.id, source: job.source, file: job.file });
}

/** The job's timer: a timeout only when the worker has spent timeoutMs on this very source. */
function check(job: Job): void {
  const t = job.on;
  drain(t);
  if (!jobs.has(job.id)) return;
  const running = Atomics.load(t.state, JOB) === job.id;
  const spent = running ? performance.now() - Atomics.load(t.state, STARTED) : 0;
  if (running && spent >= job.timeoutMs) {
    // The parser cannot be interrupted: the worker is thrown away, and the sources queued behind
    // this one go to a fresh worker with their clocks not started.
    t.retired = true;
    if (live === t) live = undefined;
    void t.worker.terminate();
    job.reject(new PluginTimeoutError(job.timeoutMs, 'load', {}, 'while stripping TypeScript syntax'));
    const next = transpiler();
    for (const other of [...jobs.values()].sort((a, b) => a.id - b.id)) if (other.on === t) post(other, next);
    return;
  }
  job.timer = setTimeout(() => check(job), Math.max(1, job.timeoutMs - spent));
}

function release(job: Job): void {
  clearTimeout(job.timer);
  jobs.delete(job.id);
  if (![...jobs.values()].some((j) => j.on === job.on)) {
    job.on.worker.unref();
    job.on.port.unref();
  }
}

/**
 * Strip TypeScript syntax within `timeoutMs` of the transpiler's own time on this source; throws
 * ERR_PLUGIN_LOAD with the line and column of a syntax error, or ERR_PLUGIN_TIMEOUT (phase load)
 * when the parser runs longer.
 */
export async function stripTypes(source: string, ctx: { plugin: string; file: string }, timeoutMs: number): Promise<string> {
  const errorCtx = { plugin: ctx.plugin, engine: quickjsEngine.name, file: ctx.file };
  const reply = await new Promise<Reply>((resolve, reject: (e: unknown) => void) => {
    const job: Job = {
      id: nextId++,
      source,
      file: ctx.file,
      timeoutMs,
      on: transpiler(),
      timer: undefined,
      resolve: (r) => {
        release(job);
        resolve(r);
      },
      reject: (e) => {
        release(job);
        reject(
          e instanceof PluginTimeoutError
            ? new PluginTimeoutError(timeoutMs, 'load', errorCtx, 'while stripping TypeScript syntax')
            : new PluginLoadError(`the TypeScript transpiler failed: ${(e as Error)?.message ?? String(e)}`, { ...errorCtx, cause: e }, 'Retry the load'),
        );
      },
    };
    jobs.set(job.id, job);
    post(job, job.on);
    job.timer = setTimeout(() => check(job), timeoutMs);
  });
  if (reply.code !== undefined) return reply.code;
  const message = String(reply.error).replace(/ \(\d+:\d+\)$/, '');
  throw new PluginLoadError(
    `TypeScript syntax error: ${message}`,
    { ...errorCtx, ...(reply.loc ? { line: reply.loc.line, column: reply.loc.column } : {}) },
    'Fix the plugin source',
  );
}

/**
 * What the transpiler made of the sources loaded lately (TypeScript text -> JavaScript), most
 * recent last, bounded in characters: `loadSync` rebuilds an instance inside a call from it. The
 * host rebuilds synchronously only a version it already built asynchronously, so a miss is rare
 * (a source evicted by many others); loadSync then answers undefined and the call fails fast.
 */
class Transpiled {
  private readonly bySource = new Map<string, string>();
  private chars = 0;
  constructor(private readonly maxChars: number) {}
  get(ts: string): string | undefined {
    const js = this.bySource.get(ts);
    if (js !== undefined) {
      this.bySource.delete(ts);
      this.bySource.set(ts, js);
    }
    return js;
  }
  set(ts: string, js: string): void {
    if (this.bySource.has(ts)) this.get(ts);
    else {
      this.bySource.set(ts, js);
      this.chars += ts.length + js.length;
    }
    for (const [k, v] of this.bySource) {
      if (this.chars <= this.maxChars || this.bySource.size === 1) break;
      this.bySource.delete(k);
      this.chars -= k.length + v.length;
    }
  }
}

/** 32 M characters (up to 64 MiB of UTF-16) of TypeScript and its output. */
const transpiled = new Transpiled(32 * 1024 * 1024);

export const typescriptEngine: Engine = {
  name: quickjsEngine.name,
  async load(req) {
    // Transpiling happens off the host's thread (bounded by loadTimeoutMs there); interpreting
    // the result is bounded by loadTimeoutMs on it, like any JavaScript plugin.
    const source = await stripTypes(req.source, { plugin: req.defaultName, file: req.file }, req.limits.loadTimeoutMs);
    transpiled.set(req.source, source);
    return quickjsEngine.load({ ...req, source });
  },
  loadSync(req) {
    const source = transpiled.get(req.source);
    if (source === undefined || !quickjsEngine.loadSync) return undefined;
    return quickjsEngine.loadSync({ ...req, source });
  },
};
