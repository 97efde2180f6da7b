/**
 * The built-in engines, the default of `createHost({ engines })`. Each is imported only when the
 * host first meets a file it handles, so an application with only JavaScript plugins never loads fengari.
 */
import type { EngineDescriptor } from '../engine.js';

const MiB = 1024 * 1024;
/** QuickJS needs 16 MiB of linear memory to start; its C stack inside WebAssembly is 5 MiB. */
const quickjsTraits = { minMemoryBytes: 16 * MiB, maxStackBytes: 4 * MiB };

export const builtinEngines: readonly EngineDescriptor[] = Object.freeze([
  { name: 'quickjs', extensions: ['.js', '.mjs'], traits: quickjsTraits, load: async () => (await import('./quickjs/index.js')).quickjsEngine },
  // An empty Lua table cannot say whether it is a list or a map: it comes back as [].
  { name: 'lua', extensions: ['.lua'], traits: { emptyTable: 'array' }, load: async () => (await import('./lua/index.js')).luaEngine },
  { name: 'quickjs', extensions: ['.ts', '.mts'], traits: quickjsTraits, load: async () => (await import('./typescript/index.js')).typescriptEngine },
]);
