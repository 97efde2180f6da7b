/**
 * A `failover` service: requests go to `service` while it has a server up (its loadBalancer's
 * healthCheck), else to `fallback`. With `errors.status`, an answer of `service` in those ranges
 * is dropped and the request is sent to `fallback` instead (its body is then read whole first, up
 * to `errors.maxRequestBodyBytes`, -1: no limit; a larger one is not failed over).
 */
import type { Readable } from 'node:stream';
import type { Outgoing, UpstreamCall } from './proxy.js';
import type { CompositeService } from '../config/model.js';
import type { Done, Forwarder } from './forwarder.js';

export class FailoverService implements Forwarder {
  private readonly main: Forwarder;
  private readonly fallback: Forwarder;

  constructor(
    private readonly spec: Extract<CompositeService, { kind: 'failover' }>,
    get: (name: string) => Forwarder,
  ) {
    this.main = get(spec.service);
    this.fallback = get(spec.fallback);
  }

  healthy(): boolean {
    return this.main.healthy() || this.fallback.healthy();
  }

  forward(out: Outgoing, done: Done): UpstreamCall {
    if (!this.main.healthy()) return this.fallback.forward(out, done);
    const errors = this.spec.errors;
    if (!errors || errors.ranges.length === 0) return this.main.forward(out, done);
    let current: UpstreamCall | undefined;
    let aborted = false;
    const run = (o: Outgoing, replayable: boolean) => {
      current = this.main.forward(o, (f, res) => {
        const code = res?.statusCode ?? 0;
        if (replayable && res && errors.ranges.some(([a, b]) => code >= a && code <= b)) {
          res.resume();
          if (!aborted) current = this.fallback.forward(o, done);
          return;
        }
        done(f, res);
      });
    };
    const body = out.body;
    if (body !== undefined && !Buffer.isBuffer(body)) {
      readBody(body, errors.maxRequestBodyBytes, (buf, whole) => {
        if (aborted) return;
        if (!whole) {
          // Too large to keep for a second try: send it once, as it streams.
          run({ ...out, body: buf }, false);
          return;
        }
        run({ ...out, body: buf }, true);
      });
    } else run(out, true);
    return {
      abort() {
        aborted = true;
        current?.abort();
      },
    };
  }

  dispose(): void {}
}

/** Read a body whole, or stop keeping it past `max` bytes (-1: no limit); `whole` says which. */
function readBody(s: Readable, max: number, then: (body: Buffer, whole: boolean) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  s.on('data', (c: Buffer) => {
    size += c.length;
    if (max >= 0 && size > max) over = true;
    chunks.push(c);
  });
  s.on('end', () => then(Buffer.concat(chunks), !over));
}
