/**
 * Which files are plugins: the engines' extensions, never hidden files or declaration files; the
 * plugin directory's files (sorted) plus options.files, and how a file is shown in messages.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { EngineSet } from './engine-set.js';
import { builtinEngines } from '../engines/index.js';
import { OptionsError } from '../errors.js';
import type { HostOptions } from './options.js';

/** Plugin files of the directory (sorted) plus options.files; the directory must exist. */
export async function discover(options: HostOptions, engines: EngineSet): Promise<{ dir: string; files: string[] }> {
  const dir = path.resolve(options.dir ?? process.cwd());
  if (options.dir !== undefined) {
    let st;
    try {
      st = await stat(dir);
    } catch {
      throw new OptionsError(`plugin directory ${dir} does not exist`, 'Create it or fix options.dir');
    }
    if (!st.isDirectory()) throw new OptionsError(`${dir} is not a directory`, 'options.dir must be a directory of plugin files');
  }
  const files = options.dir === undefined ? [] : await listPluginFiles(dir, engines);
  for (const f of options.files ?? []) {
    const abs = path.resolve(f);
    if (!engines.descriptorFor(path.extname(abs))) {
      throw new OptionsError(`no engine for ${f}`, `Plugin files must end in one of: ${engines.extensions().join(', ')}`);
    }
    if (!files.includes(abs)) files.push(abs);
  }
  return { dir, files };
}

const builtinSet = new EngineSet(builtinEngines);

/** Whether a file name is a plugin (an extension the engines handle, not hidden). */
export function isPluginFile(file: string, engines: EngineSet = builtinSet): boolean {
  const base = path.basename(file);
  // Declaration files (.d.ts) describe plugins; they are not plugins.
  return !base.startsWith('.') && !/\.d\.m?ts$/.test(base) && engines.descriptorFor(path.extname(base)) !== undefined;
}

/** Extensions of the built-in engines (for the CLI's messages). */
export const builtinExtensions = (): string[] => builtinSet.extensions();

export async function listPluginFiles(dir: string, engines: EngineSet): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && isPluginFile(e.name, engines))
    .map((e) => e.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((n) => path.join(dir, n));
}

/** A plugin file as messages show it: relative to the plugin directory when inside it. */
export function shownPathIn(dir: string): (file: string) => string {
  return (file) => {
    const rel = path.relative(dir, file);
    return rel.startsWith('..') ? file : rel;
  };
}
