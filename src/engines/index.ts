/**
 * The built-in engines, registered by file extension. Each is imported only when the host first
 * meets a file it handles, so an application with only JavaScript plugins never loads fengari.
 */
import { registerEngine } from '../engine.js';

registerEngine('quickjs', ['.js', '.mjs'], async () => (await import('./quickjs/index.js')).quickjsEngine);
registerEngine('lua', ['.lua'], async () => (await import('./lua/index.js')).luaEngine);
registerEngine('quickjs', ['.ts', '.mts'], async () => (await import('./typescript/index.js')).typescriptEngine);
