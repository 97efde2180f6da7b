/**
 * Reading a plugin file as a *version*: its bytes and signature, only when the file is complete.
 * An editor's save is several steps (truncate then write, write in chunks, the .sig after the
 * file); a read in between must never become a version. Three rules:
 * - a zero-length file is not a version (a truncate in progress): it is skipped;
 * - a file that changed while it was read (size or mtime of it or its .sig) is read again;
 * - with `quietMs` (the watcher), a file changed less than quietMs ago is not read yet.
 * What is left (a writer that pauses longer than quietMs half way) is caught by the contract gate
 * of the host: a half file that parses but drops exports is rejected with ERR_EXPORTS_REMOVED.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { signaturePath } from './trust.js';

/** One plugin file as read from disk: its bytes and its signature (if any). */
export interface FileRead {
  bytes: Buffer;
  sig: string | undefined;
  hash: string;
}

/** Why a file was not read as a version (`readSettled`, `readStable`). */
export type NotAVersion = 'unsettled' | 'empty';

export async function readPluginFile(file: string): Promise<FileRead | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const sig = await readFile(signaturePath(file), 'utf8').catch(() => undefined);
  const hash = createHash('sha256').update(bytes).update('\0').update(sig ?? '').digest('hex');
  return { bytes, sig, hash };
}

/** Last modification of a plugin file or its signature (size -1 when the file does not exist). */
async function modifiedAt(file: string): Promise<{ mtimeMs: number; size: number }> {
  const [a, b] = await Promise.all([stat(file).catch(() => undefined), stat(signaturePath(file)).catch(() => undefined)]);
  return { mtimeMs: Math.max(a?.mtimeMs ?? 0, b?.mtimeMs ?? 0), size: (a?.size ?? -1) + (b?.size ?? 0) };
}

/** Read once; 'unsettled' when the file changed during the read, 'empty' for zero bytes, undefined when it is gone. */
async function readOnce(file: string): Promise<FileRead | undefined | NotAVersion> {
  const before = await modifiedAt(file);
  const read = await readPluginFile(file);
  const after = await modifiedAt(file);
  if (after.mtimeMs !== before.mtimeMs || after.size !== before.size) return 'unsettled';
  if (read && read.bytes.length === 0) return 'empty';
  return read;
}

/** Whether a file (and its .sig) has been unchanged for quietMs (a missing file is quiet). */
export async function isQuiet(file: string, quietMs: number): Promise<boolean> {
  const { mtimeMs } = await modifiedAt(file);
  return mtimeMs <= Date.now() - quietMs;
}

/**
 * The watcher's read: only a file unchanged for `quietMs`, and unchanged while it was read.
 * 'unsettled' is tried again later; 'empty' waits for the write that follows (its own event).
 */
export async function readSettled(file: string, quietMs: number): Promise<FileRead | undefined | NotAVersion> {
  const { mtimeMs } = await modifiedAt(file);
  if (mtimeMs > Date.now() - quietMs) return 'unsettled';
  return readOnce(file);
}

/**
 * host.reload()'s read: the caller says the files are written, so no quiet period; a file that
 * changes while read is read again, up to `attempts` times.
 */
export async function readStable(file: string, attempts = 5): Promise<FileRead | undefined | NotAVersion> {
  let r: FileRead | undefined | NotAVersion = 'unsettled';
  for (let i = 0; i < attempts && r === 'unsettled'; i++) r = await readOnce(file);
  return r;
}
