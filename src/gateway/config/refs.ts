/** Checking the references between services: names that exist, no echo inside a composite, no cycle. */
import type { ResolvedService } from './model.js';
import { localName } from '../middleware/builtin/resolve.js';
import { compositeRefs } from './services.js';

export const SERVICE_KINDS = ['echo', 'loadBalancer', 'weighted', 'mirroring', 'failover'] as const;

export function checkServiceRefs(services: Map<string, ResolvedService>, issue: (segs: (string | number)[], message: string) => void): void {
  const edges = new Map<string, string[]>();
  for (const s of services.values()) {
    if (s.kind !== 'weighted' && s.kind !== 'mirroring' && s.kind !== 'failover') continue;
    // `name@file` is `name`.
    if (s.kind === 'weighted') s.services.forEach((c) => (c.name = localName(c.name)));
    else if (s.kind === 'mirroring') {
      s.service = localName(s.service);
      s.mirrors.forEach((m) => (m.name = localName(m.name)));
    } else {
      s.service = localName(s.service);
      s.fallback = localName(s.fallback);
    }
    const out: string[] = [];
    for (const ref of compositeRefs(s)) {
      const target = services.get(ref.name);
      if (!target) issue(ref.path, `unknown service "${ref.name}"; defined: ${[...services.keys()].join(', ')}`);
      else if (target.kind === 'echo') issue(ref.path, `service "${ref.name}" is the echo service, which cannot be part of a ${s.kind} service; use a loadBalancer`);
      else out.push(ref.name);
    }
    edges.set(s.name, out);
  }
  // A cycle would recurse forever when building the forwarders.
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (n: string, trail: string[]): void => {
    if (state.get(n) === 'done') return;
    if (state.get(n) === 'visiting') {
      issue(['http', 'services', n], `services refer to each other in a cycle: ${[...trail.slice(trail.indexOf(n)), n].join(' -> ')}`);
      return;
    }
    state.set(n, 'visiting');
    for (const m of edges.get(n) ?? []) visit(m, [...trail, n]);
    state.set(n, 'done');
  };
  for (const n of edges.keys()) visit(n, []);
}
