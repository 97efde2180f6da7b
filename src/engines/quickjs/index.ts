/**
 * QuickJS engine (quickjs-emscripten, bellard's QuickJS compiled to WebAssembly) for `.js`/`.mjs`.
 *
 * Every plugin gets its own WebAssembly instance whose linear memory is a bounded
 * `WebAssembly.Memory`: that is the memory cap (QuickJS's own setMemoryLimit does not cap in
 * 0.32, see shared/research/quickjs.md). The .wasm is compiled once per process and shared.
 * Time is bounded by an interrupt handler reading a per-call deadline; the stack by
 * setMaxStackSize, which keeps guest recursion from reaching V8's own stack.
 *
 * Files: ffi.ts (every quickjs-emscripten internal, probed at startup), core.ts (state, limits,
 * error classification, dispose), host-calls.ts (capabilities, host promises, async exports),
 * instance.ts (load and the call path), guest*.ts (the glue evaluated inside every guest).
 */
import type { QuickJSSyncVariant } from 'quickjs-emscripten-core';
import { type Engine, type LoadRequest, errorContext } from '../../engine.js';
import { PluginLoadError } from '../../errors.js';
import { leakCheckOf, newModule, startupProblem } from './ffi.js';
import { QuickJSInstance } from './instance.js';

export type { QuickJSInstance } from './instance.js';

const PAGE = 65536;

/** ERR_PLUGIN_LOAD for an engine that cannot run on the installed quickjs-emscripten. */
function cannotStart(req: LoadRequest, problem: string): PluginLoadError {
  return new PluginLoadError(
    `the QuickJS engine cannot start: ${problem}`,
    errorContext(req),
    'Install the exact quickjs-emscripten versions pinned in package.json (npm ci)',
  );
}

/**
 * Load one plugin into a fresh QuickJS WebAssembly instance with its own bounded memory.
 * `debugVariant` (tests only) loads a debug build instead, with its own unbounded memory, so that
 * `leakCheck()` can run the build's leak sanitizer after dispose; `onModule` (tests only) sees the
 * module, so a test can check for leaks after a load that failed.
 */
export async function loadQuickJS(
  req: LoadRequest,
  debugVariant?: QuickJSSyncVariant,
  onModule?: (m: { leakCheck(): boolean }) => void,
): Promise<QuickJSInstance> {
  const problem = startupProblem();
  if (problem) throw cannotStart(req, problem);
  const maximum = Math.floor(req.limits.memoryBytes / PAGE);
  const memory = new WebAssembly.Memory({ initial: Math.min(256, maximum), maximum });
  const qjs = await newModule(memory, debugVariant);
  onModule?.({ leakCheck: () => leakCheckOf(qjs) });
  const inst = new QuickJSInstance(req, qjs, debugVariant ? qjs.getWasmMemory() : memory);
  try {
    const raw = inst.probe(!debugVariant);
    if (raw) throw cannotStart(req, raw);
    inst.load();
  } catch (e) {
    inst.dispose();
    throw e;
  }
  return inst;
}

export const quickjsEngine: Engine = {
  name: 'quickjs',
  load: loadQuickJS,
};
