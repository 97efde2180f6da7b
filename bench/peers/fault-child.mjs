/**
 * One containment case of `npm run bench:peers`, in a fresh process (run.mjs starts it with
 * --max-old-space-size=512, a kill timer and a memory watchdog):
 *
 *   node --max-old-space-size=512 --import tsx bench/peers/fault-child.mjs <peer id> <fault id>
 *
 * Creates one instance of the peer with the bench plugin plus the fault function, checks a normal
 * call, prints `FAULT_START` on stdout, calls the fault, then checks that the host can still answer a
 * normal call (on the same instance, or on a new one when the peer's instance died: that is what a
 * host would do), and prints one JSON line (FaultResult) prefixed with `RESULT `.
 */
import { readFileSync } from 'node:fs';
import { PEERS, pluginSources, shortError } from './peers.mjs';
import { REQ_PASS } from '../lib';

const [peerId, faultId] = process.argv.slice(2);
const peer = PEERS.find((p) => p.id === peerId);
if (!peer) throw new Error(`unknown peer ${peerId}`);

function peakRss() {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}

const expected = JSON.stringify({ setHeader: { 'x-plugin': '1' } });
const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms).unref())]);

const out = { peer: peerId, fault: faultId };
await peer.load();
const src = pluginSources(faultId, 'plugin');
let inst = await peer.create(src, { mode: 'fault' });
const first = await inst.call('onRequest', REQ_PASS);
if (JSON.stringify(first) !== expected) throw new Error(`sanity call returned ${JSON.stringify(first)}`);

process.stdout.write('FAULT_START\n');
const t0 = performance.now();
try {
  const r = await inst.call('fault');
  out.outcome = 'returned';
  out.returned = String(JSON.stringify(r)).slice(0, 80);
} catch (e) {
  out.outcome = 'error';
  out.error = shortError(e);
}
out.stoppedMs = performance.now() - t0;

// Did the host survive? It must answer a normal call afterwards.
try {
  if (inst.recover) await withTimeout(inst.recover(), 10_000, 'recover');
  const r = await withTimeout(Promise.resolve(inst.call('onRequest', REQ_PASS)), 5_000, 'call after the fault');
  out.survived = JSON.stringify(r) === expected;
  out.recovery = 'same instance';
} catch (e) {
  out.sameInstanceError = shortError(e);
  try {
    try {
      await withTimeout(Promise.resolve(inst.close()), 2_000, 'close');
    } catch {
      /* a dead instance may not close cleanly */
    }
    inst = await withTimeout(peer.create(pluginSources(faultId, 'plugin2'), { mode: 'fault' }), 10_000, 'recreate');
    const r = await withTimeout(Promise.resolve(inst.call('onRequest', REQ_PASS)), 5_000, 'call on a new instance');
    out.survived = JSON.stringify(r) === expected;
    out.recovery = 'new instance';
  } catch (e2) {
    out.survived = false;
    out.recovery = 'failed';
    out.recoveryError = shortError(e2);
  }
}
out.peakRss = peakRss();
process.stdout.write(`RESULT ${JSON.stringify(out)}\n`, () => process.exit(0));
