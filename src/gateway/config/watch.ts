/**
 * Following the configuration files: the static file and, with `providers.file`, the dynamic
 * files or their directory (and its subdirectories, which files.ts reads too). The host's watcher
 * (shared/watch.ts: chokidar plus node's fs.watch, debounced into batches) does the watching, so
 * editors that save in several steps cause one reload, as they cause one plugin reload.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { PluginWatcher } from '../../shared/watch.js';

/** Quiet period before a reload: a save in several steps is read once, complete. */
const DEBOUNCE_MS = 100;

/** The directories below `dir` (files.ts reads their files too), or none when it is not a directory. */
async function subdirectories(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true, recursive: true });
    return entries.filter((e) => e.isDirectory()).map((e) => path.join(e.parentPath ?? (e as { path?: string }).path ?? dir, e.name));
  } catch {
    return [];
  }
}

/**
 * Watch `file` and `paths`; `onChange` runs once per quiet batch of changes. Resolves once the
 * watcher is ready, so a change made after it resolves is seen.
 */
export async function watchConfigFiles(file: string, paths: readonly string[], onChange: () => void, onError: (e: Error) => void): Promise<PluginWatcher> {
  // chokidar is loaded only by gateways that watch.
  const { watchPlugins } = await import('../../shared/watch.js');
  const nested = (await Promise.all(paths.map(subdirectories))).flat();
  const files = [file, ...paths, ...nested].map((p) => path.resolve(p));
  return watchPlugins({
    dir: undefined,
    files,
    debounceMs: DEBOUNCE_MS,
    isPlugin: () => true,
    onChange,
    onError,
  });
}
