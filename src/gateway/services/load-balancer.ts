/**
 * A `loadBalancer` service: its servers (each forwarded to by proxy.ts's LoadBalancer over one
 * server, so timeouts, keep-alive and failure kinds stay in one place), chosen by `strategy`
 * (wrr with server `weight`s, or p2c), skipping servers a health check marked down, and keeping a
 * client on its server with a sticky cookie.
 */
import type { ResolvedService } from '../config/model.js';
import { LoadBalancer, type AgentPool, type Outgoing, type UpstreamCall } from './proxy.js';
import type { Logger } from '../../types.js';
import { pickP2c, pickWrr, type Candidate } from './balancer.js';
import { noServer, type Done, type Forwarder, type UpgradeDone } from './forwarder.js';
import { HealthChecker } from './health-check.js';
import { setStickyCookie, stickyIndex, stickyValue } from './sticky.js';

interface Server extends Candidate {
  url: URL;
  lb: LoadBalancer;
  sticky: string;
}

export class ServerPool implements Forwarder {
  private readonly servers: Server[];
  private readonly checker: HealthChecker | undefined;

  constructor(
    private readonly spec: Extract<ResolvedService, { kind: 'loadBalancer' }>,
    agents: AgentPool,
    logger: Logger,
  ) {
    this.servers = spec.servers.map((url, i) => ({
      url,
      lb: new LoadBalancer({ ...spec, servers: [url] }, agents),
      weight: spec.weights?.[i] ?? 1,
      inFlight: 0,
      up: true,
      current: 0,
      sticky: stickyValue(url.href),
    }));
    this.checker = spec.healthCheck ? new HealthChecker(spec.healthCheck, this.servers, spec.name, logger) : undefined;
  }

  healthy(): boolean {
    return this.servers.some((s) => s.up && s.weight > 0);
  }

  /** An Upgrade request goes to a server picked as for any request (no sticky cookie on a 101). */
  upgrade(out: Outgoing, done: UpgradeDone): UpstreamCall {
    const i = this.spec.strategy === 'p2c' ? pickP2c(this.servers) : pickWrr(this.servers);
    if (i < 0) {
      done(noServer(this.spec.name), undefined);
      return { abort() {} };
    }
    return this.servers[i]!.lb.upgrade(out, done);
  }

  forward(out: Outgoing, done: Done): UpstreamCall {
    const cookie = this.spec.sticky;
    let i = stickyIndex(out.headers, cookie, this.servers);
    const fromCookie = i >= 0;
    if (i < 0) i = this.spec.strategy === 'p2c' ? pickP2c(this.servers) : pickWrr(this.servers);
    if (i < 0) {
      done(noServer(this.spec.name), undefined);
      return { abort() {} };
    }
    const server = this.servers[i]!;
    const setCookie = cookie && !fromCookie ? cookie : undefined;
    if (this.spec.strategy !== 'p2c') {
      // wrr needs no in-flight count: no listener per response on the common path.
      if (!setCookie) return server.lb.forward(out, done);
      return server.lb.forward(out, (f, res) => {
        if (res) setStickyCookie(res, setCookie, server.sticky);
        done(f, res);
      });
    }
    server.inFlight++;
    let counted = true;
    const release = () => {
      if (counted) server.inFlight--;
      counted = false;
    };
    const call = server.lb.forward(out, (f, res) => {
      if (res) {
        res.once('close', release);
        if (setCookie) setStickyCookie(res, setCookie, server.sticky);
      } else release();
      done(f, res);
    });
    return {
      abort() {
        release();
        call.abort();
      },
    };
  }

  dispose(): void {
    this.checker?.dispose();
  }
}
