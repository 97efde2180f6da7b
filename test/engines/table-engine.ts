/**
 * A tiny third engine, built only from `terrarium-plugins/engine`, to prove the engine kit: an
 * outside engine gets from the kit all it needs to pass the conformance suite.
 *
 * A plugin is a `.table` file holding JSON: `{ meta?, state?, init?, exports: { name: { params,
 * body, async? } } }`. Bodies are JSON-logic style expressions, evaluated by a fixed interpreter in
 * this file (never node:vm, never eval): an object with exactly one key that names an operator is
 * that operator, any other object or array is a literal whose values are evaluated, and everything
 * else is itself.
 *
 *   {"var": "x"}                 a parameter         {"get": "n"} / {"set": ["n", e]}  module state
 *   {"+": [a, b]} {"cat": [a, b]} arithmetic, text   {"do": [e1, e2]}  the last value
 *   {"throw": e}                 throw a value       {"try": [e, onError]}  catches throws, never limits
 *   {"host": ["kv.get", ...args]} a host function    {"call": ["name", ...args]}  another export
 *   {"log": ["info", e]}         host.log            {"config": true}  host.config
 *   {"fn": e}                    a function value    {"loop": e}  e forever   {"grow": e}  allocate forever
 *   {"quote": v}                 v, unevaluated
 *
 * Limits are the interpreter's own: the deadline of the gate's running entry is checked every few
 * steps, `call` depth is charged against `stackBytes`, and `grow` is charged against `memoryBytes`.
 * A limit breaks the instance on the host's guest gate (`LoadRequest.gate`); a broken gate stops
 * the guest at its next step and when a host function returns.
 */
import {
  MAX_DEPTH,
  PluginLoadError,
  PluginMemoryError,
  PluginStackError,
  PluginThrownError,
  PluginTimeoutError,
  TerrariumError,
  createGate,
  decodeWire,
  encodeWire,
  errorContext,
  isWireFailure,
  loadOrDispose,
  marshalErrorFrom,
  metaLoadError,
  sanitizeHostError,
  type Engine,
  type EngineDescriptor,
  type EngineInstance,
  type ExportInfo,
  type GuestGate,
  type LoadRequest,
  type LogLevel,
  type PluginMeta,
} from 'terrarium-plugins/engine';

/** What each nested `call` is charged against limits.stackBytes (a frame of this interpreter, roughly). */
const FRAME_BYTES = 1024;
/** What each `grow` step is charged against limits.memoryBytes. */
const GROW_BYTES = 64 * 1024;
/** Steps between deadline checks: performance.now() on every step would dominate a tight loop. */
const CHECK_EVERY = 256;

const OPS = new Set(['var', 'get', 'set', '+', 'cat', 'do', 'throw', 'try', 'host', 'call', 'log', 'config', 'fn', 'loop', 'grow', 'quote']);

interface ExportDef {
  params: string[];
  /** The expression; none returns undefined (JSON has no undefined to write). */
  body?: unknown;
  async?: boolean;
}

interface Source {
  meta?: unknown;
  state?: Record<string, unknown>;
  init?: unknown;
  exports?: Record<string, ExportDef>;
}

/** A value the plugin threw (`throw`), before it becomes ERR_PLUGIN_THROWN at the boundary. */
class GuestThrow {
  constructor(readonly value: unknown) {}
}

/** A host function's promise, returned as the tail of an async export. */
class Pending {
  constructor(readonly promise: Promise<unknown>, readonly label: string) {}
}

/** Copy a value across the boundary by the shared rule table, or throw the WireFailure. */
function copy(v: unknown): unknown {
  return decodeWire(encodeWire(v, MAX_DEPTH), MAX_DEPTH);
}

class TableInstance implements EngineInstance {
  meta: PluginMeta | undefined;
  exports: ExportInfo[] = [];
  private readonly gate: GuestGate;
  private defs: Record<string, ExportDef> = {};
  private state: Record<string, unknown> = {};
  private grown: unknown[] = [];
  private depth = 0;
  private steps = 0;
  private phase: 'call' | 'load' = 'load';
  private exportName: string | undefined;
  private readonly fns = new Map<string, (...args: unknown[]) => unknown>();

  constructor(private readonly req: LoadRequest) {
    this.gate = req.gate ?? createGate();
    for (const c of req.capabilities) this.fns.set(c.path.join('.'), c.fn);
  }

  private ctx(exportName = this.exportName) {
    return { ...errorContext(this.req, exportName), engine: 'table' };
  }

  load(): void {
    let src: Source;
    try {
      src = JSON.parse(this.req.source) as Source;
    } catch (e) {
      // Node 20's JSON.parse names no position, so the error carries no line.
      throw new PluginLoadError(`syntax error: ${(e as Error).message}`, { ...this.ctx(), cause: e });
    }
    if (src === null || typeof src !== 'object' || Array.isArray(src)) throw new PluginLoadError('a table plugin is a JSON object', this.ctx());
    this.state = { ...(src.state ?? {}) };
    this.defs = src.exports ?? {};
    this.exports = Object.entries(this.defs).map(([name, d]) => ({ name, kind: 'function', arity: d.params.length, async: d.async === true }));
    this.phase = 'load';
    this.gate.enter(performance.now() + this.req.limits.loadTimeoutMs);
    try {
      const meta = src.meta === undefined ? undefined : this.guarded(() => this.eval(src.meta, {}));
      if (meta !== undefined) {
        try {
          this.meta = copy(meta) as PluginMeta;
        } catch (e) {
          if (isWireFailure(e)) throw metaLoadError(e, this.ctx());
          throw e;
        }
      }
      if (src.init !== undefined) this.guarded(() => this.eval(src.init, {}));
    } finally {
      this.gate.leave();
    }
  }

  call(exportName: string, args: readonly unknown[], deadline: number): unknown {
    const outer = { phase: this.phase, exportName: this.exportName };
    // The host computes a nested call's deadline (never later than the outer one's); the gate keeps it.
    this.gate.enter(deadline);
    this.phase = 'call';
    this.exportName = exportName;
    try {
      let input: unknown[];
      try {
        input = copy(args) as unknown[];
      } catch (e) {
        if (isWireFailure(e)) throw marshalErrorFrom(e, 'arguments', this.ctx(exportName));
        throw e;
      }
      const out = this.guarded(() => this.invoke(exportName, input));
      if (out instanceof Pending) return out.promise.then((v) => this.copyOut(v, exportName));
      return this.copyOut(out, exportName);
    } finally {
      Object.assign(this, outer);
      this.gate.leave();
    }
  }

  private copyOut(v: unknown, exportName: string): unknown {
    try {
      return copy(v);
    } catch (e) {
      if (isWireFailure(e)) throw marshalErrorFrom(e, `return value of ${exportName}`, this.ctx(exportName));
      throw e;
    }
  }

  /** Turn the interpreter's signals into the host's errors; a limit breaks the instance. */
  private guarded<T>(run: () => T): T {
    try {
      return run();
    } catch (e) {
      if (e instanceof GuestThrow) {
        const v = e.value;
        let thrown: unknown;
        try {
          thrown = copy(v);
        } catch {
          thrown = undefined;
        }
        throw new PluginThrownError(typeof v === 'string' ? v : JSON.stringify(thrown) ?? String(v), this.ctx(), thrown);
      }
      if (e instanceof PluginTimeoutError || e instanceof PluginMemoryError || e instanceof PluginStackError) throw this.gate.breakWith(e);
      throw e;
    }
  }

  private invoke(name: string, args: readonly unknown[]): unknown {
    const def = this.defs[name];
    if (!def) throw new GuestThrow(`no export ${name}`);
    if ((this.depth + 1) * FRAME_BYTES > this.req.limits.stackBytes) throw new PluginStackError(this.req.limits.stackBytes, this.ctx());
    const scope: Record<string, unknown> = {};
    def.params.forEach((p, i) => (scope[p] = args[i]));
    this.depth++;
    try {
      return def.body === undefined ? undefined : this.eval(def.body, scope);
    } finally {
      this.depth--;
    }
  }

  private tick(): void {
    if (++this.steps % CHECK_EVERY !== 0) return;
    const broken = this.gate.broken;
    if (broken) throw broken;
    if (performance.now() > this.gate.deadline) {
      const ms = this.phase === 'load' ? this.req.limits.loadTimeoutMs : this.req.limits.callTimeoutMs;
      throw new PluginTimeoutError(ms, this.phase, this.ctx());
    }
  }

  private eval(e: unknown, scope: Record<string, unknown>): unknown {
    this.tick();
    if (e === null || typeof e !== 'object') return e;
    if (Array.isArray(e)) return e.map((x) => this.eval(x, scope));
    const keys = Object.keys(e);
    const op = keys.length === 1 ? keys[0]! : undefined;
    if (op === undefined || !OPS.has(op)) {
      const out: Record<string, unknown> = {};
      for (const k of keys) Object.defineProperty(out, k, { value: this.eval((e as Record<string, unknown>)[k], scope), enumerable: true, writable: true, configurable: true });
      return out;
    }
    const a = (e as Record<string, unknown>)[op];
    const list = (): unknown[] => (Array.isArray(a) ? a : [a]);
    switch (op) {
      case 'quote':
        return a;
      case 'var':
        return scope[String(a)];
      case 'get':
        return this.state[String(a)];
      case 'set': {
        const [k, v] = list();
        return (this.state[String(k)] = this.eval(v, scope));
      }
      case '+': {
        const [x, y] = list().map((v) => this.eval(v, scope));
        return (x as number) + (y as number);
      }
      case 'cat':
        return list().map((v) => String(this.eval(v, scope))).join('');
      case 'do': {
        let last: unknown;
        for (const x of list()) last = this.eval(x, scope);
        return last;
      }
      case 'throw':
        throw new GuestThrow(this.eval(a, scope));
      case 'try': {
        const [body, onError] = list();
        try {
          return this.eval(body, scope);
        } catch (err) {
          // Only what the plugin threw is catchable; a limit or a refusal ends the call.
          if (err instanceof GuestThrow || err instanceof PluginThrownError) return this.eval(onError, scope);
          throw err;
        }
      }
      case 'host':
        return this.hostCall(list(), scope);
      case 'call': {
        const [name, ...args] = list();
        return this.invoke(String(name), args.map((x) => this.eval(x, scope)));
      }
      case 'log': {
        const [level, msg] = list();
        this.req.log(String(level) as LogLevel, String(this.eval(msg, scope)));
        return true;
      }
      case 'config':
        return copy(this.req.config());
      case 'fn': {
        const body = a;
        return () => this.eval(body, scope);
      }
      case 'loop':
        for (;;) this.eval(a, scope);
      case 'grow':
        for (;;) {
          this.tick();
          this.grown.push(new Array(GROW_BYTES / 8).fill(0));
          if (this.memoryBytes() > this.req.limits.memoryBytes) {
            this.grown = [];
            throw new PluginMemoryError(this.req.limits.memoryBytes, this.ctx());
          }
        }
      default:
        throw new GuestThrow(`unknown operator ${op}`);
    }
  }

  private hostCall([path, ...argExprs]: unknown[], scope: Record<string, unknown>): unknown {
    const label = `host.${String(path)}`;
    const fn = this.fns.get(String(path));
    if (!fn) throw new GuestThrow(`${label} is not a function`);
    let args: unknown[];
    try {
      args = copy(argExprs.map((x) => this.eval(x, scope))) as unknown[];
    } catch (e) {
      if (isWireFailure(e)) throw marshalErrorFrom(e, `arguments of ${label}`, this.ctx());
      throw e;
    }
    let out: unknown;
    try {
      out = fn(...args);
    } catch (e) {
      // A violation from a nested plugin call stays what it is; any other host error reaches the
      // plugin as its message only.
      if (e instanceof TerrariumError) throw e;
      throw new GuestThrow(sanitizeHostError(e).message);
    }
    // Broken meanwhile (e.g. a nested call through this host function met the re-entry cap).
    const broken = this.gate.broken;
    if (broken) throw broken;
    if (out instanceof Promise) return new Pending(out, label);
    try {
      return copy(out);
    } catch (e) {
      if (isWireFailure(e)) throw marshalErrorFrom(e, `result of ${label}`, this.ctx());
      throw e;
    }
  }

  memoryBytes(): number {
    return this.grown.length * GROW_BYTES + this.req.source.length * 2;
  }

  dispose(): void {
    this.grown = [];
    this.defs = {};
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

const tableEngine: Engine = {
  name: 'table',
  load: async (req) => loadOrDispose(new TableInstance(req), (inst) => inst.load()),
  loadSync: (req) => loadOrDispose(new TableInstance(req), (inst) => inst.load()),
};

/** The table engine as handed to `createHost({ engines })`. */
export const tableEngineDescriptor: EngineDescriptor = { name: 'table', extensions: ['.table'], load: async () => tableEngine };
