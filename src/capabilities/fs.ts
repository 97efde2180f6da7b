/**
 * A file system in a box: the `fs` capability a host grants with a base directory. Plugins name
 * files by relative paths; anything that would leave the base (`..`, absolute paths, symlinks
 * pointing out, NUL bytes) is refused, and errors never show the host's real paths.
 */
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { OptionsError } from '../errors.js';

/** What `scopedFs` grants: synchronous, text-only file access under one directory. */
export interface ScopedFs {
  /** The file's text, or undefined when it does not exist. */
  read(file: string): string | undefined;
  /** Write (create or replace) a file; parent directories are created inside the base. */
  write(file: string, text: string): true;
  /** Delete a file; false when there was none. */
  remove(file: string): boolean;
  exists(file: string): boolean;
  /** Names in a directory (default: the base), sorted. */
  list(dir?: string): string[];
}

/** Errors a plugin sees from the fs capability; `code` is stable (`EFSSCOPE`, `ENOENT`, `EFSLIMIT`, ...). */
class ScopedFsError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'FsError';
  }
}

const FLAG_NOFOLLOW = constants.O_NOFOLLOW ?? 0;

/**
 * The `fs` capability for one base directory (created if missing).
 * @example
 * await createHost({ dir: './plugins', capabilities: { fs: scopedFs('./data/storage') } })
 * // in a plugin: host.fs.write('users/42.json', text); host.fs.read('../etc/passwd') -> throws EFSSCOPE
 */
export function scopedFs(baseDir: string, options: { maxFileBytes?: number } = {}): ScopedFs {
  if (typeof baseDir !== 'string' || baseDir === '') throw new OptionsError('scopedFs needs a base directory', 'Pass e.g. scopedFs("./data")');
  const maxFileBytes = options.maxFileBytes ?? 16 * 1024 * 1024;
  mkdirSync(baseDir, { recursive: true });
  const base = realpathSync(baseDir);

  const inside = (real: string) => real === base || real.startsWith(base + path.sep);

  /** Check a plugin-supplied path and return its absolute location under the base. */
  const resolve = (file: unknown, allowBase = false): string => {
    if (typeof file !== 'string') throw new ScopedFsError(`fs: path must be a string, got ${typeof file}`, 'EFSARG');
    if (file.includes('\0')) throw new ScopedFsError('fs: path contains a NUL byte', 'EFSSCOPE');
    if (path.isAbsolute(file) || /^[A-Za-z]:/.test(file) || file.startsWith('\\')) throw new ScopedFsError(`fs: "${file}" is absolute; paths are relative to the plugin's directory`, 'EFSSCOPE');
    const parts = file.split(/[\\/]+/).filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) throw new ScopedFsError(`fs: "${file}" escapes the plugin's directory (..)`, 'EFSSCOPE');
    if (parts.length === 0 && !allowBase) throw new ScopedFsError('fs: empty path', 'EFSARG');
    const abs = path.join(base, ...parts);
    // Symlinks: the deepest existing ancestor (and the target, if it exists) must resolve inside.
    let probe = abs;
    for (;;) {
      let real: string | undefined;
      try {
        real = realpathSync(probe);
      } catch {
        real = undefined;
      }
      if (real !== undefined) {
        if (!inside(real)) throw new ScopedFsError(`fs: "${file}" leads outside the plugin's directory (symlink)`, 'EFSSCOPE');
        break;
      }
      const up = path.dirname(probe);
      if (up === probe || !inside(up)) break;
      probe = up;
    }
    return abs;
  };

  const shown = (file: string, e: unknown): ScopedFsError => {
    const code = (e as NodeJS.ErrnoException)?.code ?? 'EIO';
    if (code === 'ELOOP') return new ScopedFsError(`fs: "${file}" is a symlink; symlinks are not followed`, 'EFSSCOPE');
    return new ScopedFsError(`fs: ${code} on "${file}"`, code);
  };

  return {
    read(file) {
      const abs = resolve(file);
      let fd: number;
      try {
        fd = openSync(abs, constants.O_RDONLY | FLAG_NOFOLLOW);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw shown(file, e);
      }
      try {
        const st = fstatSync(fd);
        if (!st.isFile()) throw new ScopedFsError(`fs: "${file}" is not a file`, 'EISDIR');
        if (st.size > maxFileBytes) throw new ScopedFsError(`fs: "${file}" is larger than ${maxFileBytes} bytes`, 'EFSLIMIT');
        return readFileSync(fd, 'utf8');
      } finally {
        closeSync(fd);
      }
    },
    write(file, text) {
      if (typeof text !== 'string') throw new ScopedFsError('fs.write: the content must be a string', 'EFSARG');
      if (Buffer.byteLength(text) > maxFileBytes) throw new ScopedFsError(`fs.write: content is larger than ${maxFileBytes} bytes`, 'EFSLIMIT');
      const abs = resolve(file);
      try {
        mkdirSync(path.dirname(abs), { recursive: true });
        const fd = openSync(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | FLAG_NOFOLLOW, 0o644);
        try {
          writeFileSync(fd, text);
        } finally {
          closeSync(fd);
        }
      } catch (e) {
        throw shown(file, e);
      }
      return true;
    },
    remove(file) {
      const abs = resolve(file);
      try {
        if (!statSync(abs, { throwIfNoEntry: false })) return false;
        rmSync(abs);
        return true;
      } catch (e) {
        throw shown(file, e);
      }
    },
    exists(file) {
      return statSync(resolve(file), { throwIfNoEntry: false }) !== undefined;
    },
    list(dir = '') {
      const abs = resolve(dir, true);
      try {
        return readdirSync(abs).sort();
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw shown(dir, e);
      }
    },
  };
}
