/**
 * Worker side of the worker_threads peers of bench/peers (plain JS, no tsx): imports the plugin
 * module, says 'ready', then serves calls either as messages (mode 'async') or through a
 * SharedArrayBuffer the host blocks on with Atomics.wait (mode 'sab').
 */
import { parentPort, workerData } from 'node:worker_threads';

const { file, mode, sab } = workerData;
const plugin = await import(file);

function run(name, arg) {
  try {
    return { r: arg === undefined ? plugin[name]() : plugin[name](arg) };
  } catch (e) {
    return { e: { name: e?.name, code: e?.code ?? e?.name, message: String(e?.message ?? e).slice(0, 200) } };
  }
}

if (mode === 'async') {
  parentPort.on('message', (m) => parentPort.postMessage({ id: m.id, ...run(m.name, m.arg) }));
  parentPort.postMessage('ready');
} else {
  const ctrl = new Int32Array(sab, 0, 2);
  const buf = Buffer.from(sab, 8);
  parentPort.postMessage('ready');
  for (;;) {
    Atomics.wait(ctrl, 0, 0);
    if (Atomics.load(ctrl, 0) !== 1) continue;
    const m = JSON.parse(buf.toString('utf8', 0, Atomics.load(ctrl, 1)));
    const n = buf.write(JSON.stringify(run(m.name, m.arg)), 0);
    Atomics.store(ctrl, 1, n);
    Atomics.store(ctrl, 0, 2);
    Atomics.notify(ctrl, 0);
  }
}
