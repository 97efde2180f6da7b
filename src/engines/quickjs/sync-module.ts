/**
 * A QuickJS WebAssembly module built synchronously (for `loadSync` and for the snapshot path).
 *
 * Why this file exists: quickjs-emscripten's module factory cannot be driven synchronously. The
 * emscripten glue of @jitl/quickjs-wasmfile-release-sync 0.32.0 is `async function QuickJSRaw`,
 * and it awaits the instantiation (`Z=await (async function(){...})()`) even when the
 * `instantiateWasm` hook answers at once, so it always returns a Promise, and JavaScript cannot
 * run the microtasks it waits on from inside a synchronous call. The glue holds its module state
 * (heap views, the memory, the callbacks) in the closure of one factory call, so no part of an
 * earlier module can be reused for a new memory either.
 *
 * So this file reads that same installed glue (the CommonJS build, the host's own dependency,
 * never plugin input), applies three exact textual edits that turn the factory synchronous and
 * instantiate with `new WebAssembly.Instance`, and compiles it once per process. Each edit must
 * match exactly once; if one does not (a different build), `syncModuleProblem()` says so and
 * callers use the ordinary asynchronous factory (ffi.ts `newModule`). Everything else, imports
 * and exports included, is the glue's own code, so the module behaves as the async one does.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { compileFunction } from 'node:vm';
import { QuickJSWASMModule } from 'quickjs-emscripten-core';
import { QuickJSFFI } from '@jitl/quickjs-wasmfile-release-sync/ffi';
import { wasmModule } from './ffi.js';

const require = createRequire(import.meta.url);
// src/wasm.d.ts declares only what the rest of the engine uses; the synchronous constructor is Node's.
const { Instance } = WebAssembly as unknown as { Instance: new (module: WebAssembly.Module, imports: object) => unknown };

/** The edits, each [exact text in the glue, replacement]. */
const EDITS: readonly (readonly [string, string])[] = [
  // The factory itself: a plain function.
  ['async function QuickJSRaw(moduleArg={}){', 'function QuickJSRaw(moduleArg={}){'],
  // The instantiation block: run it now instead of awaiting it.
  ['Z=await (async function(){', 'Z=(function(){'],
  // Inside it: the instance comes from our synchronous hook (the fetch/instantiateStreaming fallback goes).
  [
    'if(c.instantiateWasm)return new Promise(b=>{c.instantiateWasm(d,(e,f)=>{b(a(e,f))})});\nN??=c.locateFile?c.locateFile("emscripten-module.wasm",u):u+"emscripten-module.wasm";return a((await ca(d)).instance)}());',
    'return a(c.instantiateSync(d))}());',
  ],
];

type RawFactory = (arg: Record<string, unknown>) => Record<string, unknown>;
let factory: RawFactory | undefined;
let problem: string | undefined;

/** Why modules cannot be built synchronously in this process, or '' when they can (checked once). */
export function syncModuleProblem(): string {
  if (problem === undefined) {
    problem = '';
    try {
      factory = compileFactory();
    } catch (e) {
      problem = `the emscripten module cannot be built synchronously: ${(e as Error)?.message ?? String(e)}`;
    }
  }
  return problem;
}

function compileFactory(): RawFactory {
  const file = require.resolve('@jitl/quickjs-wasmfile-release-sync/emscripten-module');
  let source = readFileSync(file, 'utf8');
  for (const [from, to] of EDITS) {
    const at = source.indexOf(from);
    if (at < 0 || source.indexOf(from, at + 1) >= 0) throw new Error(`${file} is not the build this engine edits (${JSON.stringify(from.slice(0, 40))})`);
    source = source.slice(0, at) + to + source.slice(at + from.length);
  }
  // The glue ends by assigning module.exports when `module` and `exports` are objects: hand it its own.
  const wrapper = compileFunction(`${source}\nreturn QuickJSRaw;`, ['require', '__dirname', 'module', 'exports'], { filename: `${file} (synchronous)` });
  const made = wrapper(require, dirname(file), {}, {}) as unknown;
  if (typeof made !== 'function') throw new Error('the edited glue has no factory');
  return made as RawFactory;
}

/**
 * A fresh QuickJS WebAssembly instance in `memory`, built synchronously: what ffi.ts `newModule`
 * gives for the release build. Throws when `syncModuleProblem()` is not ''.
 */
export function newModuleSync(memory: WebAssembly.Memory): QuickJSWASMModule {
  const why = syncModuleProblem();
  if (why) throw new Error(why);
  const compiled = wasmModule();
  const emscripten = factory!({
    wasmMemory: memory,
    instantiateSync: (imports: object) => new Instance(compiled, imports),
  });
  if (typeof emscripten._QTS_NewRuntime !== 'function') throw new Error('the synchronous emscripten module did not initialise');
  // What newQuickJSWASMModuleFromVariant does with the module the factory resolved to.
  emscripten.type = 'sync';
  const raw = emscripten as unknown as ConstructorParameters<typeof QuickJSFFI>[0];
  return new QuickJSWASMModule(raw, new QuickJSFFI(raw));
}
