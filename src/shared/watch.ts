/**
 * Watching plugin files for hot reload (chokidar). Editors save in several steps (truncate and
 * write, write a temp file and rename, write the signature after the file): every event restarts
 * one quiet period for the whole directory, and the batch of files touched is applied only when
 * the directory has been quiet for `debounceMs`. A half-written file is never loaded when the
 * complete one follows within that window; a storage.js -> storage.lua swap arrives as one batch.
 *
 * The directory is also watched with node's own fs.watch, fed into the same batches: chokidar
 * drops a file's events that come within 5 ms of the previous one and reports a change only when
 * its stat shows one, so a write right after a truncate (or right after the host read the file,
 * which moves its atime past its mtime) could be missed, and the truncated file would stay the
 * last thing the host saw. Extra events cost nothing: a batch re-reads files by content hash.
 */
import { watch as fsWatch, type FSWatcher as NodeWatcher } from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';

export interface PluginWatcher {
  close(): Promise<void>;
}

export interface WatchOptions {
  dir: string | undefined;
  files: string[];
  debounceMs: number;
  isPlugin(file: string): boolean;
  /** Absolute paths of plugin files that were added, changed or deleted (or whose .sig was). */
  onChange(files: Set<string>): void;
  onError(e: Error): void;
}

/** A batch is applied at the latest after this many quiet periods, even if events keep coming. */
const MAX_WAIT_PERIODS = 10;

export async function watchPlugins(o: WatchOptions): Promise<PluginWatcher> {
  const targets = [...(o.dir ? [o.dir] : []), ...o.files];
  const watcher: FSWatcher = watch(targets, { ignoreInitial: true, depth: 0, persistent: false });
  let pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let firstAt = 0;
  let closed = false;

  const fire = () => {
    timer = undefined;
    const batch = pending;
    pending = new Set();
    if (batch.size && !closed) o.onChange(batch);
  };

  const touched = (p: string) => {
    const abs = path.resolve(p);
    const file = abs.endsWith('.sig') ? abs.slice(0, -4) : abs;
    if (!o.isPlugin(file)) return;
    if (o.dir && path.dirname(file) !== o.dir && !o.files.includes(file)) return;
    if (pending.size === 0) firstAt = Date.now();
    pending.add(file);
    if (timer) clearTimeout(timer);
    const overdue = Date.now() - firstAt >= o.debounceMs * MAX_WAIT_PERIODS;
    timer = setTimeout(fire, overdue ? 0 : o.debounceMs);
  };

  watcher.on('add', touched).on('change', touched).on('unlink', touched);
  watcher.on('error', (e) => o.onError(e instanceof Error ? e : new Error(String(e))));
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  let raw: NodeWatcher | undefined;
  if (o.dir) {
    const dir = o.dir;
    try {
      raw = fsWatch(dir, { persistent: false }, (_event, name) => {
        if (!closed && name) touched(path.join(dir, name.toString()));
      });
      raw.on('error', (e) => o.onError(e));
    } catch (e) {
      o.onError(e instanceof Error ? e : new Error(String(e)));
    }
  }
  return {
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      raw?.close();
      await watcher.close();
    },
  };
}
