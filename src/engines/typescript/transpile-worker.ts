/**
 * Worker thread that strips TypeScript syntax with sucrase, so that a source which makes the
 * parser slow (sucrase's parser backtracks exponentially on some nestings of arrow functions in
 * parameter defaults) costs a worker that the host terminates at `loadTimeoutMs`, never the
 * host's own thread.
 */
import { parentPort } from 'node:worker_threads';
import { transform } from 'sucrase';

interface Job {
  id: number;
  source: string;
  file: string;
}

parentPort?.on('message', ({ id, source, file }: Job) => {
  try {
    // disableESTransforms: modern syntax (optional chaining, class fields) is left to QuickJS.
    const code = transform(source, { transforms: ['typescript'], disableESTransforms: true, filePath: file }).code;
    parentPort?.postMessage({ id, code });
  } catch (e) {
    const loc = (e as { loc?: { line: number; column: number } }).loc;
    parentPort?.postMessage({ id, error: String((e as Error)?.message ?? e), loc });
  }
});
