/**
 * A `mirroring` service: every request goes to `service`, whose answer the client gets; a copy goes
 * to each mirror for `percent` of the requests (counted, not drawn at random), its answer dropped.
 * The body is copied to the mirrors when `mirrorBody` (default true) and not larger than
 * `maxBodySize` (-1: no limit); the request body is then read whole before forwarding.
 */
import type { Readable } from 'node:stream';
import type { Outgoing, UpstreamCall } from './proxy.js';
import type { CompositeService } from '../config/model.js';
import type { Done, Forwarder } from './forwarder.js';

interface Mirror {
  fwd: Forwarder;
  percent: number;
  sent: number;
}

function readAll(s: Readable, then: (body: Buffer | undefined) => void): void {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  s.on('end', () => then(Buffer.concat(chunks)));
  s.on('error', () => then(undefined));
}

export class MirroringService implements Forwarder {
  private readonly main: Forwarder;
  private readonly mirrors: Mirror[];
  private total = 0;

  constructor(
    private readonly spec: Extract<CompositeService, { kind: 'mirroring' }>,
    get: (name: string) => Forwarder,
  ) {
    this.main = get(spec.service);
    this.mirrors = spec.mirrors.map((m) => ({ fwd: get(m.name), percent: m.percent, sent: 0 }));
  }

  healthy(): boolean {
    return this.main.healthy();
  }

  forward(out: Outgoing, done: Done): UpstreamCall {
    this.total++;
    const chosen = this.mirrors.filter((m) => {
      // Mirror while the share sent is below percent of all requests.
      if (m.sent * 100 < m.percent * this.total) {
        m.sent++;
        return true;
      }
      return false;
    });
    if (chosen.length === 0) return this.main.forward(out, done);
    const body = out.body;
    if (body !== undefined && !Buffer.isBuffer(body)) {
      let aborted = false;
      let inner: UpstreamCall | undefined;
      readAll(body, (buf) => {
        if (aborted) return;
        inner = this.send({ ...out, body: buf }, chosen, done);
      });
      return {
        abort() {
          aborted = true;
          inner?.abort();
        },
      };
    }
    return this.send(out, chosen, done);
  }

  private send(out: Outgoing, chosen: Mirror[], done: Done): UpstreamCall {
    const body = out.body as Buffer | undefined;
    const withBody = this.spec.mirrorBody && (this.spec.maxBodySize < 0 || (body?.length ?? 0) <= this.spec.maxBodySize);
    const copy = (): Outgoing => {
      const headers = { ...out.headers };
      if (!withBody) {
        delete headers['content-length'];
        delete headers['transfer-encoding'];
      }
      return { method: out.method, url: out.url, headers, body: withBody ? body : undefined };
    };
    // Mirrors are sent only when their copy is faithful: the whole body, or a body-less request.
    if (withBody || body === undefined || body.length === 0) {
      for (const m of chosen) m.fwd.forward(copy(), (_f, res) => res?.resume());
    }
    return this.main.forward(out, done);
  }

  dispose(): void {}
}
