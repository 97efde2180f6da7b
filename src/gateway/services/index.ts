/**
 * Building the forwarders of a configuration's services (everything but `echo`): loadBalancer
 * pools, and weighted, mirroring and failover services over them. A service used by several others
 * is built once (one set of health checks).
 */
import type { ResolvedService } from '../config.js';
import type { AgentPool } from '../proxy.js';
import type { Logger } from '../../types.js';
import { FailoverService } from './failover.js';
import type { Forwarder } from './forwarder.js';
import { ServerPool } from './load-balancer.js';
import { MirroringService } from './mirroring.js';
import { WeightedService } from './weighted.js';

export type { Forwarder } from './forwarder.js';

/** A function that builds (once) the forwarder of a service by name. */
export function forwarderFactory(services: ReadonlyMap<string, ResolvedService>, agents: AgentPool, logger: Logger): (name: string) => Forwarder {
  const built = new Map<string, Forwarder>();
  const get = (name: string): Forwarder => {
    let f = built.get(name);
    if (f) return f;
    const s = services.get(name);
    if (!s || s.kind === 'echo') throw new Error(`service "${name}" cannot be forwarded to`);
    if (s.kind === 'loadBalancer') f = new ServerPool(s, agents, logger);
    else if (s.kind === 'weighted') f = new WeightedService(s, get);
    else if (s.kind === 'mirroring') f = new MirroringService(s, get);
    else f = new FailoverService(s, get);
    built.set(name, f);
    return f;
  };
  return get;
}
