/**
 * QuickJS engine (quickjs-emscripten, bellard's QuickJS compiled to WebAssembly) for `.js`/`.mjs`.
 *
 * Every plugin gets its own WebAssembly instance whose linear memory is a bounded
 * `WebAssembly.Memory`: that is the memory cap (QuickJS's own setMemoryLimit does not cap in
 * 0.32, see shared/research/quickjs.md). The .wasm is compiled once per process and shared.
 * Time is bounded by an interrupt handler reading a per-call deadline; the stack by
 * setMaxStackSize, which keeps guest recursion from reaching V8's own stack.
 *
 * Files: ffi.ts (every quickjs-emscripten internal, probed at startup), sync-module.ts (the same
 * emscripten module built synchronously), snapshot.ts (the glue-ready memory image copied into each
 * instance), core.ts (state, limits, error classification, dispose), host-calls.ts (capabilities,
 * host promises, async exports), instance.ts (load and the call path), guest*.ts (the glue
 * evaluated inside every guest).
 *
 * Building an instance: a synchronous WebAssembly instance of the shared compiled module, in a
 * memory sized for the plugin's cap, with the glue copied in from the snapshot (no parse). Without
 * the synchronous module (sync-module.ts refused the installed glue) the async factory is used and
 * the glue parsed; without the snapshot (it failed its startup check, or does not fit the cap) the
 * glue is parsed. Each way gives the same instance.
 */
import type { QuickJSSyncVariant, QuickJSWASMModule } from 'quickjs-emscripten-core';
import { type Engine, type LoadRequest, errorContext } from '../../engine.js';
import { PluginLoadError } from '../../errors.js';
import { DEFAULT_LIMITS } from '../../host/limits.js';
import { FRESH_PAGES, leakCheckOf, newModule, startupProblem } from './ffi.js';
import { QuickJSInstance } from './instance.js';
import { GlueSnapshot, type SnapshotOptions } from './snapshot.js';
import { newModuleSync, syncModuleProblem } from './sync-module.js';

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

/** The request the snapshot's instances are built with: no plugin, no capabilities, no output. */
const TEMPLATE_REQ: LoadRequest = {
  path: '/terrarium/snapshot',
  file: 'terrarium:snapshot',
  defaultName: 'terrarium:snapshot',
  source: '',
  limits: DEFAULT_LIMITS,
  capabilities: [],
  data: {},
  config: () => undefined,
  log: () => {},
};

let snapshot: { image?: GlueSnapshot; problem: string } | undefined;

/** The process's snapshot, taken on first use (once; undefined when it cannot be used). */
function glueSnapshot(options: SnapshotOptions = {}): GlueSnapshot | undefined {
  if (!snapshot) {
    try {
      const pages = 256 + Math.ceil((options.extraBytes ?? 0) / PAGE) + 16;
      const open = () => {
        const memory = new WebAssembly.Memory({ initial: FRESH_PAGES, maximum: pages });
        return new QuickJSInstance(TEMPLATE_REQ, newModuleSync(memory), memory).snapshotSubject();
      };
      snapshot = { image: GlueSnapshot.take(open, options), problem: '' };
    } catch (e) {
      snapshot = { problem: (e as Error)?.message ?? String(e) };
    }
  }
  return snapshot.image;
}

/**
 * Tests and benches: drop the snapshot and take a new one (with `options`), or with `disable` use
 * none (instances parse the glue). Returns why the new snapshot cannot be used, or ''.
 */
export function resetSnapshot(options: SnapshotOptions & { disable?: boolean } = {}): string {
  snapshot = options.disable ? { problem: 'disabled' } : undefined;
  if (!options.disable && !syncModuleProblem()) glueSnapshot(options);
  return snapshot?.problem ?? syncModuleProblem();
}

/** Benches: the process's image (taken now if not yet), or undefined. */
export function currentSnapshot(): GlueSnapshot | undefined {
  return syncModuleProblem() ? undefined : glueSnapshot();
}

/** What the snapshot is: bytes copied per instance and the WebAssembly pages it needs, or why there is none. */
export function snapshotStatus(): { problem: string; imageBytes: number; wasmPages: number } {
  const image = syncModuleProblem() ? undefined : glueSnapshot();
  return { problem: snapshot?.problem ?? syncModuleProblem(), imageBytes: image?.imageBytes ?? 0, wasmPages: image?.wasmPages ?? 0 };
}

/**
 * Load one plugin synchronously (the `Engine.loadSync` contract): a synchronous WebAssembly
 * instance and, when it fits under the plugin's memoryBytes, the glue from the snapshot.
 * JavaScript only: a TypeScript plugin's source must be transpiled first (the TypeScript engine,
 * whose transpiler is asynchronous, has no loadSync).
 */
export function loadQuickJSSync(req: LoadRequest): QuickJSInstance {
  const problem = startupProblem() || syncModuleProblem();
  if (problem) throw cannotStart(req, problem);
  const maximum = Math.floor(req.limits.memoryBytes / PAGE);
  const initial = Math.min(FRESH_PAGES, maximum);
  const image = glueSnapshot();
  // The cap is never raised for the image: one larger than the plugin's memory is not used.
  const use = image && image.wasmPages <= maximum && initial === FRESH_PAGES ? image : undefined;
  const memory = new WebAssembly.Memory({ initial: use ? use.wasmPages : initial, maximum });
  return build(req, newModuleSync(memory), memory, true, use);
}

/** Construct, probe and load an instance; disposed when any step fails. */
function build(req: LoadRequest, qjs: QuickJSWASMModule, memory: WebAssembly.Memory, release: boolean, image?: GlueSnapshot): QuickJSInstance {
  const inst = new QuickJSInstance(req, qjs, memory, image);
  try {
    const raw = inst.probe(release);
    if (raw) throw cannotStart(req, raw);
    inst.load();
  } catch (e) {
    inst.dispose();
    throw e;
  }
  return inst;
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
  if (!debugVariant && !onModule && !syncModuleProblem()) {
    // Back to the event loop first: a host loading many plugins at once would otherwise build them
    // all in one synchronous burst, and V8 then collects their memories with full, atomic GCs
    // (measured: 2.5x the GC time of the interleaved async path; bench/results/load-js-snapshot.md).
    await new Promise<void>((resolve) => setImmediate(resolve));
    return loadQuickJSSync(req);
  }
  const maximum = Math.floor(req.limits.memoryBytes / PAGE);
  const memory = new WebAssembly.Memory({ initial: Math.min(256, maximum), maximum });
  const qjs = await newModule(memory, debugVariant);
  onModule?.({ leakCheck: () => leakCheckOf(qjs) });
  return build(req, qjs, debugVariant ? qjs.getWasmMemory() : memory, !debugVariant);
}

export const quickjsEngine: Engine = {
  name: 'quickjs',
  load: loadQuickJS,
  loadSync: loadQuickJSSync,
};
