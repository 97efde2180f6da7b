/**
 * One request through the gateway, part 3: the middleware chain. `onRequest` runs from the first
 * middleware to the last, then the request is forwarded (exchange-upstream.ts), then `onResponse`
 * runs from the last to the first. Sync plugin calls stay on one stack; async ones continue in a
 * callback. A middleware that answers or fails stops the request phase, and the response phase
 * runs the ones before it.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import querystring from 'node:querystring';
import { MiddlewareResultError } from '../../errors.js';
import { applyHeaderChanges, bodyBytes, headerObject, pathOf, queryOf, requestDecision, responseDecision, stateOf, statusOf } from '../middleware/plugin.js';
import { JSON_TYPE } from './base.js';
import { repeatedHeaders } from '../middleware/envoy/index.js';
import type { Histogram } from '../stats/stats.js';
import { UpstreamExchange } from './upstream.js';

export class Exchange extends UpstreamExchange {
  /** Run the request: its body first when a middleware reads it (the smallest limit among them applies). */
  start(): void {
    const limit = this.router.requestBodyMax;
    if (limit > 0) this.readBody(limit, () => this.requestPhase(0));
    else this.requestPhase(0);
  }

  /** Run onRequest from chain index i; sync plugins stay on this stack, async ones continue in a callback. */
  requestPhase(i: number): void {
    const chain = this.router.chain;
    for (; i < chain.length; i++) {
      if (this.aborted) return;
      const mw = chain[i]!;
      if (mw.broken) {
        if (this.failed(i, 'request', undefined)) return;
        continue;
      }
      const fn = mw.onRequest;
      if (!fn) continue;
      const stats = mw.stats;
      stats.calls.request++;
      const t0 = performance.now();
      let r: unknown;
      try {
        if (mw.native) r = fn(this.pluginRequest(mw), this.ctx(mw, {})); // a built-in: no plugin version to pin
        else {
          const pin = this.pin(i, mw);
          r = pin.has('onRequest') ? pin.call('onRequest', [this.pluginRequest(mw), this.ctx(mw, {})]) : undefined;
        }
      } catch (e) {
        stats.duration.request.observe((performance.now() - t0) / 1000);
        if (this.failed(i, 'request', e)) return;
        continue;
      }
      if (r instanceof Promise) {
        const at = i;
        this.settle(r, stats.duration.request, t0, (ok, v) => {
          if (ok ? this.afterRequest(at, v) : !this.failed(at, 'request', v)) this.requestPhase(at + 1);
        });
        return;
      }
      stats.duration.request.observe((performance.now() - t0) / 1000);
      if (!this.afterRequest(i, r)) return;
    }
    this.forward();
  }

  /** Apply an onRequest result. False when the request is answered (respond, or fail-closed). */
  afterRequest(i: number, r: unknown): boolean {
    if (this.aborted) return false;
    try {
      const d = requestDecision(r);
      if (!d) return true;
      if (d.respond !== undefined) {
        const resp = d.respond as unknown;
        if (resp === null || typeof resp !== 'object' || Array.isArray(resp)) throw new MiddlewareResultError('respond must be an object: { status, headers, body }');
        const { status, headers, body } = resp as { status?: unknown; headers?: unknown; body?: unknown };
        const hs = headerObject(headers, 'respond.headers');
        const b = bodyBytes(body, 'respond.body');
        if (b.json && hs['content-type'] === undefined) hs['content-type'] = JSON_TYPE;
        this.status = statusOf(status, 'respond.status', 200);
        this.resHeaders = hs;
        this.resBody = b.bytes;
        this.stop = i;
        this.router.chain[i]!.stats.responded++;
        this.responsePhase(i - 1);
        return false;
      }
      const mw = this.router.chain[i]!;
      if (d.setHeaders !== undefined || d.removeHeaders !== undefined) applyHeaderChanges(this.ownHeaders(), d.setHeaders, d.removeHeaders, 'onRequest');
      if (d.path !== undefined) {
        this.path = pathOf(d.path);
        this.urlChanged = true;
        if (this.pluginReq) this.pluginReq.path = this.path;
      }
      if (d.query !== undefined) {
        this.query = queryOf(d.query);
        this.rawQuery = querystring.stringify(this.query);
        this.urlChanged = true;
        if (this.pluginReq) this.pluginReq.query = this.query;
      }
      if (d.body !== undefined) {
        if (mw.requestBodyMax === 0) throw new MiddlewareResultError('body: only plugins that declare meta.gateway.requestBody may replace the request body');
        this.body = bodyBytes(d.body, 'body').bytes;
      }
      if (d.state !== undefined) (this.states ??= [])[i] = stateOf(d.state);
      return true;
    } catch (e) {
      return !this.failed(i, 'request', e);
    }
  }

  /** Run onResponse from chain index i down to 0, then send. */
  responsePhase(i: number): void {
    const chain = this.router.chain;
    for (; i >= 0; i--) {
      if (this.aborted) return;
      const mw = chain[i]!;
      if (mw.broken) {
        this.failed(i, 'response', undefined);
        continue;
      }
      const fn = mw.onResponse;
      if (!fn) continue;
      const stats = mw.stats;
      stats.calls.response++;
      const res: { status: number; headers: OutgoingHttpHeaders; body?: string } = { status: this.status, headers: this.resHeaders };
      if (mw.responseBodyMax > 0 && this.resBody !== undefined && this.resBody.length <= mw.responseBodyMax) res.body = this.resBody.toString('utf8');
      // meta.gateway.repeatedHeaders: a header the upstream repeated, value by value (as on the request).
      if (mw.repeatedHeaders && this.upRes) res.headers = repeatedHeaders(res.headers as Record<string, string | string[]>, this.upRes);
      const t0 = performance.now();
      let r: unknown;
      try {
        if (mw.native) r = fn(res, this.ctx(mw, this.states?.[i] ?? {}));
        else {
          const pin = this.pin(i, mw);
          r = pin.has('onResponse') ? pin.call('onResponse', [res, this.ctx(mw, this.states?.[i] ?? {})]) : undefined;
        }
      } catch (e) {
        stats.duration.response.observe((performance.now() - t0) / 1000);
        this.failed(i, 'response', e);
        continue;
      }
      if (r instanceof Promise) {
        const at = i;
        this.settle(r, stats.duration.response, t0, (ok, v) => {
          if (ok) this.afterResponse(at, v);
          else this.failed(at, 'response', v);
          this.responsePhase(at - 1);
        });
        return;
      }
      stats.duration.response.observe((performance.now() - t0) / 1000);
      this.afterResponse(i, r);
    }
    this.send();
  }

  afterResponse(i: number, r: unknown): void {
    if (this.aborted) return;
    try {
      const d = responseDecision(r);
      if (!d) return;
      // Check everything before changing anything: a bad result leaves the response as it was.
      const status = d.status === undefined ? this.status : statusOf(d.status, 'status', this.status);
      const body = d.body === undefined ? undefined : bodyBytes(d.body, 'body');
      const changes = d.setHeaders !== undefined || d.removeHeaders !== undefined;
      // A copy to change (a bad change then leaves the response as it was), only when there is a change.
      const headers = changes || body ? Object.assign({}, this.resHeaders) : this.resHeaders;
      if (changes) applyHeaderChanges(headers, d.setHeaders, d.removeHeaders, 'onResponse');
      if (body) {
        this.dropUpstreamBody();
        this.resBody = body.bytes;
        if (body.json && headers['content-type'] === undefined) headers['content-type'] = JSON_TYPE;
        delete headers['content-encoding'];
      }
      this.status = status;
      this.resHeaders = headers;
    } catch (e) {
      this.failed(i, 'response', e);
    }
  }

  /** An async plugin call: when it settles, record its duration and continue (guarded) with its value or error. */
  private settle(p: Promise<unknown>, duration: Histogram, t0: number, then: (ok: boolean, value: unknown) => void): void {
    const done = (ok: boolean, value: unknown) =>
      this.guard(() => {
        duration.observe((performance.now() - t0) / 1000);
        then(ok, value);
      });
    p.then(
      (v) => done(true, v),
      (e) => done(false, e),
    );
  }
}
