/**
 * `terrarium-plugins/engine`: the engine kit. Everything an engine written outside this package
 * needs, and nothing of the host's internals: the interface (`Engine`, `EngineInstance`,
 * `LoadRequest`, `EngineDescriptor`, traits), the guest gate (`GuestGate`; `createGate` for an
 * engine loaded without a host), the load helpers, the host-side marshalling rule
 * table (copy a value across with `encodeWire`/`decodeWire`, classify and name paths the same way
 * the built-in engines do, turn a refusal into ERR_MARSHAL), and the error constructors an engine
 * raises. The built-in engines are here too, to extend. A separate entry from src/engine.ts so
 * that the engines, which import the interface, are not imported back by it (no cycle).
 *
 * The host's own bookkeeping stays out: the engine set is host/engine-set.ts, and the gate's
 * implementation is reached only through `createGate`. The conformance suite an outside engine should pass lives
 * in the repository (test/engines/conformance.ts), not in the package, because it runs on node:test.
 * @example
 * import { builtinEngines, type EngineDescriptor } from 'terrarium-plugins/engine'
 * const mine: EngineDescriptor = { name: 'mine', extensions: ['.mine'], load: async () => myEngine }
 * await createHost({ dir: './plugins', engines: [...builtinEngines, mine] })
 */
export type { Engine, EngineDescriptor, EngineInstance, EngineTraits, EmptyTable, GuestGate, LoadRequest } from './engine.js';
export { errorContext, loadOrDispose } from './engine.js';
export { createGate } from './binding/gate.js';
export type { CapabilityEntry } from './capabilities/index.js';
export type { ExportInfo, Limits, LogLevel, PluginMeta } from './types.js';
export { MAX_DEPTH, classifyValue, decodeWire, encodeWire, isWireFailure, wirePath, type WireFailure } from './binding/wire.js';
export { marshalErrorFrom, metaLoadError, sanitizeHostError } from './binding/failures.js';
export {
  MarshalError,
  PluginLoadError,
  PluginMemoryError,
  PluginStackError,
  PluginThrownError,
  PluginTimeoutError,
  TerrariumError,
  type ErrorContext,
} from './errors.js';
export { builtinEngines } from './engines/index.js';
