/**
 * Shared helpers of the profiling benches (not a scenario): where a sampled function lives, and the
 * self time of a V8 CPU profile grouped that way (bench/gateway-profile.ts, bench/gateway-inproc.ts).
 */

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Where a function lives, by its script URL and name. */
export function groupOf(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)') return 'idle';
  if (fn === '(program)') return '(program: V8/native, unattributed)';
  if (url.includes('/gateway/exchange/')) return 'exchange';
  if (url.includes('/gateway/middleware/')) return 'middleware adapter (plugin.ts, builtins)';
  if (url.includes('/gateway/')) return 'gateway (routing, stats, services)';
  if (/marshal|guest-codec|\/binding\//.test(url)) return 'marshal';
  if (url.includes('node_modules/fengari')) return 'fengari';
  if (url.includes('node_modules/quickjs') || url.includes('@jitl') || fn.startsWith('wasm') || url.startsWith('wasm://')) return 'QuickJS (WASM + emscripten glue)';
  if (url.includes('/engines/') || url.includes('/host/') || url.includes('/platform/') || url.includes('/shared/')) return 'engine + host gate';
  if (url.startsWith('node:')) return /http|net|stream|events|timers|url|buffer/.test(url) ? 'node http/net/streams' : 'node (other)';
  if (url.includes('/bench/')) return 'the bench itself (stubs, loop)';
  // Natives without a script: in the gateway, the socket writes (writev, writeLatin1String) are most of it.
  if (url === '') return `native (${fn || 'anonymous'})`;
  return 'other';
}

/** Self time (µs) per function key and per group; `skip` leaves groups out (idle, the profiler's own frames). */
export function selfTimes(p: CpuProfile, skip: (group: string) => boolean = (g) => g === 'idle'): { groups: Map<string, number>; fns: Map<string, { group: string; us: number }> } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const groups = new Map<string, number>();
  const fns = new Map<string, { group: string; us: number }>();
  for (let i = 0; i < p.samples.length; i++) {
    const { functionName, url, lineNumber } = byId.get(p.samples[i]!)!.callFrame;
    const g = groupOf(url, functionName);
    if (skip(g)) continue;
    const us = p.timeDeltas[i] ?? 0;
    groups.set(g, (groups.get(g) ?? 0) + us);
    const key = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(src|dist|node_modules)\//, '$1/')}:${lineNumber + 1}`;
    const f = fns.get(key) ?? { group: g, us: 0 };
    f.us += us;
    fns.set(key, f);
  }
  return { groups, fns };
}
