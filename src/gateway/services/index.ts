/**
 * Building the forwarders of a configuration's services (everything but `echo`): loadBalancer
 * pools, and weighted, mirroring and failover services over them. A service used by several others
 * is built once (one set of health checks).
 */
import type { ResolvedService } from '../config/model.js';
import type { AgentPool } from './proxy.js';
import type { Logger } from '../../types.js';
import { FailoverService } from './failover.js';
import type { Forwarder } from './forwarder.js';
import { ServerPool } from './load-balancer.js';
import { MirroringService } from './mirroring.js';
import { WeightedService } from './weighted.js';

export type { Forwarder } from './forwarder.js';

/** A service that cannot be built because the configuration check already found it broken. */
export class UnbuildableService extends Error {
  constructor(readonly service: string) {
    super(`service "${service}" refers to a missing service, the echo service, or itself`);
  }
}

/** A function that builds (once) the forwarder of a service by name. */
export function forwarderFactory(services: ReadonlyMap<string, ResolvedService>, agents: AgentPool, logger: Logger): (name: string) => Forwarder {
  const built = new Map<string, Forwarder>();
  const building = new Set<string>();
  const get = (name: string): Forwarder => {
    let f = built.get(name);
    if (f) return f;
    const s = services.get(name);
    // Unknown names, echo children and cycles were reported by the config check.
    if (!s || s.kind === 'echo' || building.has(name)) throw new UnbuildableService(name);
    building.add(name);
    if (s.kind === 'loadBalancer') f = new ServerPool(s, agents, logger);
    else if (s.kind === 'weighted') f = new WeightedService(s, get);
    else if (s.kind === 'mirroring') f = new MirroringService(s, get);
    else f = new FailoverService(s, get);
    building.delete(name);
    built.set(name, f);
    return f;
  };
  return get;
}
