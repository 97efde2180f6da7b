/**
 * `terrarium-plugins/engine`: the engine interface, for people writing an engine, and the built-in
 * engines to extend. A separate entry from src/engine.ts so that the engines, which import the
 * interface, are not imported back by it (no cycle).
 * @example
 * import { builtinEngines, type EngineDescriptor } from 'terrarium-plugins/engine'
 * const mine: EngineDescriptor = { name: 'mine', extensions: ['.mine'], load: async () => myEngine }
 * await createHost({ dir: './plugins', engines: [...builtinEngines, mine] })
 */
export * from './engine.js';
export { builtinEngines } from './engines/index.js';
