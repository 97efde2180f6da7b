/** Reading the start of a streaming response body without losing it (it is sent first). */
import type { Readable } from 'node:stream';
import type { NativeExchange } from './types.js';

/**
 * Read from `s` until at least `n` bytes are in hand or the body ends. The bytes read are kept in
 * `ex.resPrefix` (sent before the rest); a body that ended is moved to `ex.resBody` whole.
 * Resolves with everything read so far.
 */
export function peekBody(ex: NativeExchange, s: Readable, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const prefix = ex.resPrefix ?? [];
    let size = prefix.reduce((a, c) => a + c.length, 0);
    const onData = (c: Buffer) => {
      prefix.push(c);
      size += c.length;
      if (size < n) return;
      s.pause();
      s.off('data', onData);
      s.off('end', onEnd);
      ex.resPrefix = prefix;
      resolve(Buffer.concat(prefix));
    };
    const onEnd = () => {
      s.off('data', onData);
      ex.resBody = Buffer.concat(prefix);
      ex.resStream = undefined;
      ex.resPrefix = undefined;
      resolve(ex.resBody);
    };
    if (size >= n) {
      resolve(Buffer.concat(prefix));
      return;
    }
    s.on('data', onData);
    s.once('end', onEnd);
    s.resume();
  });
}
