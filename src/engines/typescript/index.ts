/**
 * TypeScript plugins (`.ts`, `.mts`): type syntax is stripped with sucrase, which keeps every
 * line where it was (so file:line in errors and plugin stacks points into the .ts file), and the
 * result runs in the QuickJS engine like any JavaScript plugin. Types are not checked: that is the
 * plugin author's build's job; the sandbox does not trust them anyway.
 */
import { transform } from 'sucrase';
import type { Engine } from '../../engine.js';
import { PluginLoadError } from '../../errors.js';
import { quickjsEngine } from '../quickjs/index.js';

/** Strip TypeScript syntax; throws ERR_PLUGIN_LOAD with the line and column of a syntax error. */
export function stripTypes(source: string, ctx: { plugin: string; file: string }): string {
  try {
    // disableESTransforms: modern syntax (optional chaining, class fields) is left to QuickJS.
    return transform(source, { transforms: ['typescript'], disableESTransforms: true, filePath: ctx.file }).code;
  } catch (e) {
    const loc = (e as { loc?: { line: number; column: number } }).loc;
    const message = String((e as Error)?.message ?? e).replace(/ \(\d+:\d+\)$/, '');
    throw new PluginLoadError(
      `TypeScript syntax error: ${message}`,
      { plugin: ctx.plugin, engine: quickjsEngine.name, file: ctx.file, ...(loc ? { line: loc.line, column: loc.column } : {}), cause: e },
      'Fix the plugin source',
    );
  }
}

export const typescriptEngine: Engine = {
  name: quickjsEngine.name,
  load(req) {
    return quickjsEngine.load({ ...req, source: stripTypes(req.source, { plugin: req.defaultName, file: req.file }) });
  },
};
