/**
 * Startup and memory per instance of one peer, in a fresh process (run.mjs starts one per peer):
 *
 *   node --expose-gc --import tsx bench/peers/mem-child.mjs <peer id> <N>
 *
 * Creates a first instance (its time includes the peer's one-time costs: module import, WASM
 * compile), then N more one after the other, each timed (create + load until it can serve a call),
 * makes one call on each, and reads RSS after global.gc() before and after the N. For the
 * child-process peers the plugin processes' memory is not in the host's RSS: their proportional set
 * size (Pss, /proc/<pid>/smaps_rollup) is added. Prints one JSON line prefixed with `RESULT `.
 */
import { readFileSync } from 'node:fs';
import { PEERS, pluginSources } from './peers.mjs';
import { REQS, median } from '../lib';

const [peerId, nArg = '50'] = process.argv.slice(2);
const N = Number(nArg);
const peer = PEERS.find((p) => p.id === peerId);
if (!peer) throw new Error(`unknown peer ${peerId}`);

const settle = () => new Promise((r) => setTimeout(r, 50));
async function rss() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.();
    await settle();
  }
  return process.memoryUsage().rss;
}
function pss(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

await peer.load();
const src = pluginSources();
let t = performance.now();
const firstInst = await peer.create(src, { mode: 'calls' });
await firstInst.call('onRequest', REQS[0]);
const firstMs = performance.now() - t;

const before = await rss();
const insts = [];
const times = [];
for (let i = 0; i < N; i++) {
  t = performance.now();
  insts.push(await peer.create(src, { mode: 'calls' }));
  times.push(performance.now() - t);
}
for (let i = 0; i < N; i++) await insts[i].call('onRequest', REQS[i & 1]);
const after = await rss();
const childPss = insts.reduce((s, x) => s + (x.pid ? pss(x.pid) : 0), 0);
const out = {
  peer: peerId,
  n: N,
  firstMs,
  startupMs: median(times),
  rssBefore: before,
  rssAfter: after,
  childPss,
  perInstance: (after - before + childPss) / N,
  gc: typeof globalThis.gc === 'function',
};
process.stdout.write(`RESULT ${JSON.stringify(out)}\n`, () => process.exit(0));
