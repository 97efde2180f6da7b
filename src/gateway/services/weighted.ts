/**
 * A `weighted` service: requests spread over other services by `weight` (smooth weighted round
 * robin), optionally sticky by cookie, and, with `healthCheck: {}`, skipping children that have no
 * server up.
 */
import type { Outgoing, UpstreamCall } from './proxy.js';
import { pickWrr, type Candidate } from './balancer.js';
import type { CompositeService } from '../config/model.js';
import { noServer, type Done, type Forwarder } from './forwarder.js';
import { setStickyCookie, stickyIndex, stickyValue } from './sticky.js';

interface Child extends Candidate {
  name: string;
  fwd: Forwarder;
  sticky: string;
}

export class WeightedService implements Forwarder {
  private readonly children: Child[];

  constructor(
    private readonly spec: Extract<CompositeService, { kind: 'weighted' }>,
    get: (name: string) => Forwarder,
  ) {
    this.children = spec.services.map((s) => ({ name: s.name, fwd: get(s.name), weight: s.weight, inFlight: 0, up: true, current: 0, sticky: stickyValue(s.name) }));
  }

  healthy(): boolean {
    return this.children.some((c) => c.weight > 0 && c.fwd.healthy());
  }

  forward(out: Outgoing, done: Done): UpstreamCall {
    if (this.spec.healthCheck) for (const c of this.children) c.up = c.fwd.healthy();
    const cookie = this.spec.sticky;
    let i = stickyIndex(out.headers, cookie, this.children);
    const fromCookie = i >= 0;
    if (i < 0) i = pickWrr(this.children);
    if (i < 0) {
      done(noServer(this.spec.name), undefined);
      return { abort() {} };
    }
    const child = this.children[i]!;
    return child.fwd.forward(out, (f, res) => {
      if (res && cookie && !fromCookie) setStickyCookie(res, cookie, child.sticky);
      done(f, res);
    });
  }

  dispose(): void {}
}
