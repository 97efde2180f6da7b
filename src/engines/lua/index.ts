// Placeholder so the registry compiles until the Lua engine lands (issue #3).
import type { Engine } from '../../engine.js';
export const luaEngine: Engine = {
  name: 'lua',
  async load() {
    throw new Error('Lua engine not implemented yet');
  },
};
