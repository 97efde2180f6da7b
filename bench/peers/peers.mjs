/**
 * The contenders of `npm run bench:peers`: one adapter per way a Node.js user could run the same tiny
 * plugin (bench/plugins/bench.js / bench.lua: `onRequest(req)` -> `{status:403}` or `{setHeader:{...}}`),
 * plus the five faults of the containment table.
 *
 * Adapter shape:
 *   { id, label, lang: 'js' | 'lua', async, kind: 'floor' | 'baseline' | 'in-process' | 'out-of-process',
 *     containment: false (no containment row) | true,
 *     limits: what the adapter configures (shown in the results),
 *     load(): Promise<void> (imports the peer's package; throws when it is not installed),
 *     create(src, opts): Promise<Instance> }
 *   Instance: { call(name, arg?) -> value | Promise<value>, recover?(): Promise<void>, close(): Promise<void> | void }
 *   src: { module: JS ES module text, script: the same as a classic script (global functions), lua: Lua chunk
 *          returning the module table, files: { js, lua } paths of the same texts on disk }
 *
 * Every adapter gives the plugin the same budget where it has a knob for it: 1000 ms per call,
 * 64 MiB of memory (heap), and is otherwise used the way its documentation shows.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { Worker } from 'node:worker_threads';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { JS_PLUGIN, LUA_PLUGIN, REPO_DIR } from '../lib';

export const PEERS_DIR = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

export const CALL_TIMEOUT_MS = 1000;
export const MEMORY_BYTES = 64 * 1024 * 1024;
/** Heap cap given to the worker threads and child processes that run a plugin. */
const CHILD_HEAP_MB = 64;

// ---------------------------------------------------------------------------------------------
// Plugin sources and faults

/** The five faults, JavaScript and Lua versions (the Lua one of the ArrayBuffer bomb is a string.rep bomb). */
export const FAULTS = [
  {
    id: 'loop',
    label: 'runaway loop',
    js: 'export function fault() { while (true) {} }',
    lua: 'function M.fault() while true do end end',
  },
  {
    id: 'heap',
    label: 'heap bomb',
    js: 'export function fault() { const a = []; for (;;) a.push([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]); }',
    lua: 'function M.fault() local t = {} while true do t[#t + 1] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10} end end',
  },
  {
    id: 'buffer',
    label: 'ArrayBuffer bomb',
    js: 'export function fault() { const a = []; for (;;) { const b = new Uint8Array(10 * 1024 * 1024); b.fill(1); a.push(b); } }',
    lua: "function M.fault() local t = {} while true do t[#t + 1] = string.rep('x', 10 * 1024 * 1024) end end",
  },
  {
    id: 'string',
    label: 'string doubling',
    js: "export function fault() { let s = 'x'; for (;;) s = s + s; }",
    lua: "function M.fault() local s = 'x' while true do s = s .. s end end",
  },
  {
    id: 'recursion',
    label: 'deep recursion',
    js: 'export function fault() { function r(n) { return r(n + 1) + 1; } return r(0); }',
    lua: 'function M.fault() local function r(n) return r(n + 1) + 1 end return r(0) end',
  },
];

let tmpRoot;
function tmpDir() {
  if (!tmpRoot) {
    // Under run.mjs, inside its own temporary folder, which it removes at the end (a child killed
    // by the kill timer cannot clean up after itself).
    tmpRoot = mkdtempSync(path.join(process.env.BENCH_PEERS_TMP || tmpdir(), 'terrarium-peers-'));
    process.on('exit', () => rmSync(tmpRoot, { recursive: true, force: true }));
  }
  return tmpRoot;
}

let fileSeq = 0;
/**
 * The plugin texts for one run: the bench plugin, optionally with one fault function added.
 * `name` becomes the file name (Terrarium's plugin name).
 */
export function pluginSources(faultId, name = 'bench') {
  const fault = faultId ? FAULTS.find((f) => f.id === faultId) : undefined;
  if (faultId && !fault) throw new Error(`unknown fault ${faultId}`);
  const baseJs = readFileSync(JS_PLUGIN, 'utf8');
  const baseLua = readFileSync(LUA_PLUGIN, 'utf8');
  const module = fault ? `${baseJs}\n${fault.js}\n` : baseJs;
  const script = module.replace(/^export /gm, '');
  const idx = baseLua.lastIndexOf('return M');
  const lua = fault ? `${baseLua.slice(0, idx)}${fault.lua}\n\n${baseLua.slice(idx)}` : baseLua;
  let files;
  if (!fault) {
    files = { js: JS_PLUGIN, lua: LUA_PLUGIN, script: undefined };
  } else {
    const dir = path.join(tmpDir(), `p${fileSeq++}`);
    mkdirSync(dir, { recursive: true });
    files = { js: path.join(dir, `${name}.js`), lua: path.join(dir, `${name}.lua`), script: undefined };
    writeFileSync(files.js, module);
    writeFileSync(files.lua, lua);
  }
  return { module, script, lua, files, name: fault ? name : 'bench' };
}

function shortError(e) {
  if (e === undefined || e === null) return { code: undefined, message: String(e) };
  if (typeof e !== 'object') return { code: undefined, message: String(e) };
  return { code: e.code, name: e.name, message: String(e.message ?? e) };
}
export { shortError };

// ---------------------------------------------------------------------------------------------
// In-process V8 peers

const plainFns = {
  onRequest(req) {
    if (req.headers['x-block']) return { status: 403 };
    return { setHeader: { 'x-plugin': '1' } };
  },
};

/** Classic-script text evaluated with `new Function` in the host realm: the unsandboxed floor. */
function plainInstance(src, copy) {
  const mod = {};
  // The same plugin text as everyone else, as functions of the host realm (no sandbox at all).
  new Function('exports', `${src.script}\nexports.onRequest = onRequest; if (typeof fault === 'function') exports.fault = fault;`)(mod);
  if (!copy) return { call: (name, arg) => mod[name](arg), close() {} };
  return {
    call(name, arg) {
      const a = arg === undefined ? undefined : JSON.parse(JSON.stringify(arg));
      const r = mod[name](a);
      return r === undefined ? undefined : JSON.parse(JSON.stringify(r));
    },
    close() {},
  };
}

/** Adapters; `load()` imports optional packages lazily so a missing one only skips its rows. */
export const PEERS = [
  {
    id: 'plain',
    label: 'plain JS function',
    lang: 'js',
    kind: 'floor',
    async: false,
    containment: true,
    limits: 'none',
    package: null,
    async load() {},
    async create(src) {
      return plainInstance(src, false);
    },
  },
  {
    id: 'json',
    label: 'plain JS + JSON round trip',
    lang: 'js',
    kind: 'baseline',
    async: false,
    containment: false,
    limits: 'none',
    package: null,
    async load() {},
    async create(src) {
      return plainInstance(src, true);
    },
  },
  {
    id: 'vm-direct',
    label: 'node:vm, function called directly',
    lang: 'js',
    kind: 'in-process',
    async: false,
    containment: true,
    limits: 'none (the timeout of runInContext does not apply to functions called later)',
    package: null,
    async load() {},
    async create(src) {
      const ctx = vm.createContext({});
      vm.runInContext(src.script, ctx, { filename: 'plugin.js', timeout: CALL_TIMEOUT_MS });
      return { call: (name, arg) => ctx[name](arg), close() {} };
    },
  },
  {
    id: 'vm-timeout',
    label: 'node:vm, runInContext + timeout per call',
    lang: 'js',
    kind: 'in-process',
    async: false,
    containment: true,
    limits: `timeout ${CALL_TIMEOUT_MS} ms per call`,
    package: null,
    async load() {},
    async create(src) {
      const ctx = vm.createContext({});
      vm.runInContext(src.script, ctx, { filename: 'plugin.js', timeout: CALL_TIMEOUT_MS });
      const scripts = new Map();
      return {
        call(name, arg) {
          let s = scripts.get(name);
          if (!s) scripts.set(name, (s = new vm.Script(`${name}(__arg)`)));
          ctx.__arg = arg;
          return s.runInContext(ctx, { timeout: CALL_TIMEOUT_MS });
        },
        close() {},
      };
    },
  },
  (() => {
    let ivm;
    return {
      id: 'isolated-vm',
      label: 'isolated-vm (applySync, copy, timeout)',
      lang: 'js',
      kind: 'in-process',
      async: false,
      containment: true,
      limits: `memoryLimit 64 MB, timeout ${CALL_TIMEOUT_MS} ms per call`,
      package: 'isolated-vm',
      async load() {
        ivm = (await import('isolated-vm')).default;
      },
      async create(src) {
        const isolate = new ivm.Isolate({ memoryLimit: MEMORY_BYTES / (1024 * 1024) });
        const context = isolate.createContextSync();
        isolate.compileScriptSync(src.script, { filename: 'plugin.js' }).runSync(context, { timeout: CALL_TIMEOUT_MS });
        const refs = new Map();
        const opts = { arguments: { copy: true }, result: { copy: true }, timeout: CALL_TIMEOUT_MS };
        return {
          call(name, arg) {
            let ref = refs.get(name);
            if (!ref) refs.set(name, (ref = context.global.getSync(name, { reference: true })));
            return ref.applySync(undefined, arg === undefined ? [] : [arg], opts);
          },
          close() {
            if (!isolate.isDisposed) isolate.dispose();
          },
        };
      },
    };
  })(),
  workerPeer('worker-async', 'worker_threads, async postMessage', 'async'),
  workerPeer('worker-sab', 'worker_threads, SharedArrayBuffer + Atomics.wait', 'sab'),
  childPeer('child-stdio', 'child process, NDJSON over stdio (protoc/pie style)', 'stdio'),
  childPeer('child-socket', 'child process, Unix socket + handshake (go-plugin style)', 'socket'),
  (() => {
    let VM;
    return {
      id: 'vm2',
      label: 'vm2 (function from the VM)',
      lang: 'js',
      kind: 'in-process',
      async: false,
      containment: true,
      limits: `timeout ${CALL_TIMEOUT_MS} ms (applies to vm.run only, not to functions called later)`,
      package: 'vm2',
      async load() {
        ({ VM } = require(require.resolve('vm2', { paths: [PEERS_DIR] })));
      },
      async create(src) {
        const box = new VM({ timeout: CALL_TIMEOUT_MS, allowAsync: false, eval: false, wasm: false });
        box.run(src.script, 'plugin.js');
        const fns = new Map();
        return {
          call(name, arg) {
            let fn = fns.get(name);
            if (!fn) fns.set(name, (fn = box.run(name)));
            return fn(arg);
          },
          close() {},
        };
      },
    };
  })(),
  (() => {
    let loadQuickJs;
    let sandboxes;
    return {
      id: 'sw-quickjs',
      label: '@sebastianwessel/quickjs (long-lived sandbox, evalCode per call)',
      lang: 'js',
      kind: 'in-process',
      async: true,
      containment: true,
      limits: `memoryLimit 64 MB, maxStackSize 256 KiB, executionTimeout ${CALL_TIMEOUT_MS} ms (containment runs; its deadline is fixed at sandbox creation, so the long-lived sandbox of the per-call rows runs without it)`,
      package: '@sebastianwessel/quickjs',
      async load() {
        ({ loadQuickJs } = await import('@sebastianwessel/quickjs'));
        const variant = (await import('@jitl/quickjs-ng-wasmfile-release-sync')).default;
        sandboxes = await loadQuickJs(variant);
      },
      async create(src, opts = {}) {
        const options = {
          memoryLimit: MEMORY_BYTES,
          maxStackSize: 256 * 1024,
          executionTimeout: opts.mode === 'fault' ? CALL_TIMEOUT_MS : 0,
        };
        let evalCode;
        let release;
        const done = new Promise((r) => (release = r));
        const ready = new Promise((resolve, reject) => {
          sandboxes
            .runSandboxed(async (sb) => {
              const r = await sb.evalCode(`${src.script}\nglobalThis.__plugin = { onRequest, fault: typeof fault === 'function' ? fault : undefined };\nexport default 1;`);
              if (!r.ok) throw new Error(`load failed: ${JSON.stringify(r.error)}`);
              evalCode = sb.evalCode;
              resolve();
              await done;
            }, options)
            .catch(reject);
        });
        await ready;
        return {
          async call(name, arg) {
            const r = await evalCode(`export default globalThis.__plugin.${name}(${arg === undefined ? '' : JSON.stringify(arg)});`);
            if (!r.ok) {
              const e = new Error(String(r.error?.message ?? JSON.stringify(r.error)).slice(0, 200));
              e.code = r.error?.name;
              throw e;
            }
            return r.data;
          },
          close() {
            release();
          },
        };
      },
    };
  })(),
  (() => {
    let qjs;
    let core;
    return {
      id: 'quickjs-raw',
      label: 'quickjs-emscripten raw (runtime per plugin, JSON each way)',
      lang: 'js',
      kind: 'in-process',
      async: false,
      containment: true,
      limits: `setMemoryLimit 64 MiB, setMaxStackSize 256 KiB, interrupt handler with a ${CALL_TIMEOUT_MS} ms deadline per call`,
      package: 'quickjs-emscripten-core',
      async load() {
        core = await import('quickjs-emscripten-core');
        const variant = (await import('@jitl/quickjs-wasmfile-release-sync')).default;
        qjs = await core.newQuickJSWASMModuleFromVariant(variant);
      },
      async create(src) {
        const rt = qjs.newRuntime();
        rt.setMemoryLimit(MEMORY_BYTES);
        rt.setMaxStackSize(256 * 1024);
        let deadline = Infinity;
        rt.setInterruptHandler(() => performance.now() > deadline);
        const ctx = rt.newContext();
        deadline = performance.now() + CALL_TIMEOUT_MS;
        const loaded = ctx.evalCode(
          `${src.script}\nglobalThis.__call = function (name, s) { const r = globalThis[name](s === undefined ? undefined : JSON.parse(s)); return r === undefined ? undefined : JSON.stringify(r); };`,
          'plugin.js',
        );
        ctx.unwrapResult(loaded).dispose();
        const callFn = ctx.getProp(ctx.global, '__call');
        let dead = false;
        return {
          call(name, arg) {
            if (dead) throw new Error('runtime unusable after an earlier failure');
            const n = ctx.newString(name);
            const a = arg === undefined ? ctx.undefined : ctx.newString(JSON.stringify(arg));
            deadline = performance.now() + CALL_TIMEOUT_MS;
            let res;
            try {
              res = ctx.callFunction(callFn, ctx.undefined, n, a);
            } catch (e) {
              dead = true; // a host-side exception (e.g. V8 stack overflow): the runtime cannot be trusted
              throw e;
            } finally {
              deadline = Infinity;
              n.dispose();
              if (arg !== undefined) a.dispose();
            }
            if (res.error) {
              const err = ctx.dump(res.error);
              res.error.dispose();
              const e = new Error(String(err?.message ?? err).slice(0, 200));
              e.code = err?.name;
              throw e;
            }
            const out = ctx.typeof(res.value) === 'string' ? JSON.parse(ctx.getString(res.value)) : undefined;
            res.value.dispose();
            return out;
          },
          close() {
            if (dead) return; // disposing after a host-side stack overflow aborts the process
            callFn.dispose();
            ctx.dispose();
            rt.dispose();
          },
        };
      },
    };
  })(),
  (() => {
    let f;
    return {
      id: 'fengari-raw',
      label: 'fengari raw (lua_pcall, table marshalling)',
      lang: 'lua',
      kind: 'in-process',
      async: false,
      containment: true,
      limits: `count hook every 1000 instructions with a ${CALL_TIMEOUT_MS} ms deadline per call; no memory knob exists`,
      package: 'fengari',
      async load() {
        // bench/peers' own copy: the root one is patched by Terrarium's Lua engine when it loads.
        f = require(require.resolve('fengari', { paths: [PEERS_DIR] }));
      },
      async create(src) {
        const { lua, lauxlib, lualib, to_luastring, to_jsstring } = f;
        const L = lauxlib.luaL_newstate();
        lualib.luaL_openlibs(L);
        let deadline = Infinity;
        const TIMEOUT = to_luastring('timeout: the call ran past its deadline');
        lua.lua_sethook(
          L,
          (L2) => {
            if (performance.now() > deadline) lauxlib.luaL_error(L2, TIMEOUT);
          },
          lua.LUA_MASKCOUNT,
          1000,
        );
        deadline = performance.now() + CALL_TIMEOUT_MS;
        if (lauxlib.luaL_loadbuffer(L, to_luastring(src.lua), null, to_luastring('=plugin.lua')) !== lua.LUA_OK || lua.lua_pcall(L, 0, 1, 0) !== lua.LUA_OK) {
          throw new Error(`load failed: ${to_jsstring(lua.lua_tostring(L, -1))}`);
        }
        deadline = Infinity;
        const modRef = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
        const K = (s) => to_luastring(s, true);
        const pushValue = (v) => {
          if (v === undefined || v === null) lua.lua_pushnil(L);
          else if (typeof v === 'string') lua.lua_pushstring(L, to_luastring(v));
          else if (typeof v === 'number') lua.lua_pushnumber(L, v);
          else if (typeof v === 'boolean') lua.lua_pushboolean(L, v);
          else {
            const keys = Object.keys(v);
            lua.lua_createtable(L, 0, keys.length);
            for (const k of keys) {
              pushValue(v[k]);
              lua.lua_setfield(L, -2, to_luastring(k));
            }
          }
        };
        const readValue = (idx) => {
          switch (lua.lua_type(L, idx)) {
            case lua.LUA_TNIL:
              return undefined;
            case lua.LUA_TNUMBER:
              return lua.lua_tonumber(L, idx);
            case lua.LUA_TBOOLEAN:
              return lua.lua_toboolean(L, idx);
            case lua.LUA_TSTRING:
              return to_jsstring(lua.lua_tostring(L, idx));
            case lua.LUA_TTABLE: {
              const out = {};
              const t = lua.lua_absindex(L, idx);
              lua.lua_pushnil(L);
              while (lua.lua_next(L, t) !== 0) {
                lua.lua_pushvalue(L, -2);
                const k = to_jsstring(lua.lua_tostring(L, -1));
                lua.lua_pop(L, 1);
                out[k] = readValue(-1);
                lua.lua_pop(L, 1);
              }
              return out;
            }
            default:
              return `<${to_jsstring(lua.lua_typename(L, lua.lua_type(L, idx)))}>`;
          }
        };
        return {
          call(name, arg) {
            lua.lua_settop(L, 0);
            lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, modRef);
            lua.lua_getfield(L, -1, K(name));
            let nargs = 0;
            if (arg !== undefined) {
              pushValue(arg);
              nargs = 1;
            }
            deadline = performance.now() + CALL_TIMEOUT_MS;
            const status = lua.lua_pcall(L, nargs, 1, 0);
            deadline = Infinity;
            if (status !== lua.LUA_OK) {
              const msg = lua.lua_type(L, -1) === lua.LUA_TSTRING ? to_jsstring(lua.lua_tostring(L, -1)) : `status ${status}`;
              lua.lua_settop(L, 0);
              const e = new Error(msg.slice(0, 200));
              e.code = `LUA_ERR (status ${status})`;
              throw e;
            }
            const out = readValue(-1);
            lua.lua_settop(L, 0);
            return out;
          },
          close() {
            lua.lua_close(L);
          },
        };
      },
    };
  })(),
  terrariumPeer('terrarium-js', 'Terrarium, QuickJS', 'js'),
  terrariumPeer('terrarium-lua', 'Terrarium, Lua (fengari)', 'lua'),
];

// ---------------------------------------------------------------------------------------------
// Terrarium

let terrarium;
function terrariumPeer(id, label, lang) {
  return {
    id,
    label,
    lang,
    kind: 'terrarium',
    async: false,
    containment: true,
    limits: `limits { memoryBytes: 64 MiB, callTimeoutMs: ${CALL_TIMEOUT_MS} } (stackBytes default 256 KiB)`,
    package: 'terrarium',
    async load() {
      terrarium ??= await import(pathToFileURL(path.join(REPO_DIR, 'dist', 'index.js')).href);
    },
    async create(src) {
      const file = lang === 'js' ? src.files.js : src.files.lua;
      const host = await terrarium.createHost({ files: [file], limits: { memoryBytes: MEMORY_BYTES, callTimeoutMs: CALL_TIMEOUT_MS } });
      const info = host.plugins[0];
      if (!info || info.status !== 'ready') {
        await host.close();
        throw new Error(`plugin not loaded: ${info?.error?.message ?? info?.status}`);
      }
      const api = host.get(info.name);
      return {
        call: (name, arg) => (arg === undefined ? api[name]() : api[name](arg)),
        recover: () => host.ready(),
        close: () => host.close(),
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// worker_threads

function workerPeer(id, label, mode) {
  return {
    id,
    label,
    lang: 'js',
    kind: 'out-of-process',
    async: mode === 'async',
    containment: true,
    limits: `resourceLimits.maxOldGenerationSizeMb ${CHILD_HEAP_MB}; terminate() after ${CALL_TIMEOUT_MS} ms without an answer`,
    package: null,
    async load() {},
    async create(src) {
      const file = src.files.js;
      const sab = mode === 'sab' ? new SharedArrayBuffer(8 + 64 * 1024) : undefined;
      const worker = new Worker(path.join(PEERS_DIR, 'worker-plugin.mjs'), {
        workerData: { file: pathToFileURL(file).href, mode, sab },
        execArgv: [],
        resourceLimits: { maxOldGenerationSizeMb: CHILD_HEAP_MB },
        stdout: false,
        stderr: false,
      });
      let exited = null;
      const pending = new Map();
      let seq = 0;
      const fail = (err) => {
        for (const p of pending.values()) p.reject(err);
        pending.clear();
      };
      worker.on('error', (e) => {
        exited ??= e;
        fail(e);
      });
      worker.on('exit', (code) => {
        exited ??= Object.assign(new Error(`worker exited with code ${code}`), { code: 'WORKER_EXIT' });
        fail(exited);
      });
      await new Promise((resolve, reject) => {
        worker.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(String(m)))));
        worker.once('error', reject);
      });
      if (mode === 'async') {
        worker.on('message', (m) => {
          const p = pending.get(m.id);
          if (!p) return;
          pending.delete(m.id);
          clearTimeout(p.timer);
          if (m.e) p.reject(Object.assign(new Error(m.e.message), { code: m.e.code ?? m.e.name }));
          else p.resolve(m.r);
        });
        return {
          call(name, arg) {
            if (exited) return Promise.reject(exited);
            const id = seq++;
            return new Promise((resolve, reject) => {
              const timer = setTimeout(() => {
                pending.delete(id);
                void worker.terminate();
                reject(Object.assign(new Error(`no answer within ${CALL_TIMEOUT_MS} ms: worker terminated`), { code: 'TIMEOUT' }));
              }, CALL_TIMEOUT_MS);
              pending.set(id, { resolve, reject, timer });
              worker.postMessage({ id, name, arg });
            });
          },
          close: () => worker.terminate(),
        };
      }
      // SharedArrayBuffer + Atomics: ctrl[0] 0 = idle, 1 = request ready, 2 = response ready; ctrl[1] = byte length.
      const ctrl = new Int32Array(sab, 0, 2);
      const buf = Buffer.from(sab, 8);
      let dead = null;
      return {
        call(name, arg) {
          if (dead || exited) throw dead ?? exited;
          const n = buf.write(JSON.stringify({ name, arg }), 0);
          Atomics.store(ctrl, 1, n);
          Atomics.store(ctrl, 0, 1);
          Atomics.notify(ctrl, 0);
          const w = Atomics.wait(ctrl, 0, 1, CALL_TIMEOUT_MS);
          if (w === 'timed-out') {
            void worker.terminate();
            dead = Object.assign(new Error(`no answer within ${CALL_TIMEOUT_MS} ms: worker terminated`), { code: 'TIMEOUT' });
            throw dead;
          }
          const m = JSON.parse(buf.toString('utf8', 0, Atomics.load(ctrl, 1)));
          Atomics.store(ctrl, 0, 0);
          if (m.e) throw Object.assign(new Error(m.e.message), { code: m.e.code ?? m.e.name });
          return m.r;
        },
        close: () => worker.terminate(),
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// child processes

function childPeer(id, label, mode) {
  return {
    id,
    label,
    lang: 'js',
    kind: 'out-of-process',
    async: true,
    containment: true,
    limits: `child node --max-old-space-size=${CHILD_HEAP_MB}; SIGKILL after ${CALL_TIMEOUT_MS} ms without an answer`,
    package: null,
    async load() {},
    async create(src) {
      const args = [`--max-old-space-size=${CHILD_HEAP_MB}`, path.join(PEERS_DIR, 'child-plugin.mjs'), pathToFileURL(src.files.js).href, mode];
      if (mode === 'socket') args.push(path.join(tmpDir(), `s${process.pid}-${fileSeq++}.sock`));
      const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
      const pending = new Map();
      let seq = 0;
      let exited = null;
      const fail = (err) => {
        for (const p of pending.values()) {
          clearTimeout(p.timer);
          p.reject(err);
        }
        pending.clear();
      };
      child.on('exit', (code, signal) => {
        exited ??= Object.assign(new Error(`plugin process exited (${signal ?? `code ${code}`})`), { code: signal ?? `EXIT ${code}` });
        fail(exited);
      });
      child.on('error', (e) => {
        exited ??= e;
        fail(e);
      });
      const onLine = (line) => {
        const m = JSON.parse(line);
        const p = pending.get(m.id);
        if (!p) return;
        pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.e) p.reject(Object.assign(new Error(m.e.message), { code: m.e.code ?? m.e.name }));
        else p.resolve(m.r);
      };
      const lines = (stream, handler) => {
        let rest = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk) => {
          rest += chunk;
          let i;
          while ((i = rest.indexOf('\n')) >= 0) {
            const line = rest.slice(0, i);
            rest = rest.slice(i + 1);
            handler(line);
          }
        });
      };
      let out;
      if (mode === 'stdio') {
        await new Promise((resolve, reject) => {
          let first = true;
          lines(child.stdout, (line) => {
            if (first) {
              first = false;
              return line === 'ready' ? resolve() : reject(new Error(line));
            }
            onLine(line);
          });
          child.once('exit', () => reject(exited));
        });
        out = child.stdin;
      } else {
        // go-plugin style: the child prints a handshake line CORE-PROTOCOL|APP-PROTOCOL|NETWORK|ADDR|PROTOCOL.
        const addr = await new Promise((resolve, reject) => {
          let first = true;
          lines(child.stdout, (line) => {
            if (!first) return;
            first = false;
            const [core, app, network, where, proto] = line.split('|');
            if (core !== '1' || app !== '1' || network !== 'unix' || proto !== 'ndjson') return reject(new Error(`bad handshake: ${line}`));
            resolve(where);
          });
          child.once('exit', () => reject(exited));
        });
        const sock = net.createConnection(addr);
        await new Promise((resolve, reject) => {
          sock.once('connect', resolve);
          sock.once('error', reject);
        });
        sock.on('error', (e) => {
          exited ??= e;
          fail(e);
        });
        lines(sock, onLine);
        out = sock;
      }
      out.on('error', () => {}); // EPIPE after a kill: reported through 'exit'
      return {
        call(name, arg) {
          if (exited) return Promise.reject(exited);
          const id = seq++;
          return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
              pending.delete(id);
              child.kill('SIGKILL');
              reject(Object.assign(new Error(`no answer within ${CALL_TIMEOUT_MS} ms: plugin process killed`), { code: 'TIMEOUT' }));
            }, CALL_TIMEOUT_MS);
            pending.set(id, { resolve, reject, timer });
            out.write(`${JSON.stringify({ id, name, arg })}\n`);
          });
        },
        pid: child.pid,
        close() {
          if (mode === 'socket') out.destroy();
          child.kill('SIGKILL');
        },
      };
    },
  };
}

/** Version of an installed package, read from its package.json (bench/peers first, then the root). */
export function packageVersion(name) {
  if (name === 'terrarium') return JSON.parse(readFileSync(path.join(REPO_DIR, 'package.json'), 'utf8')).version;
  for (const base of [path.join(PEERS_DIR, 'node_modules'), path.join(REPO_DIR, 'node_modules')]) {
    try {
      return JSON.parse(readFileSync(path.join(base, name, 'package.json'), 'utf8')).version;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export const plain = plainFns;
