/**
 * An exchange's response phase: `onResponse` from the last middleware that ran down to the first
 * (sync plugin calls stay on one stack, async ones continue in a callback), then the write
 * (answer.ts send). A middleware that fails here replaces the response with its 502 (or is
 * skipped, failOpen), and the earlier middlewares still run.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { applyHeaderChanges, bodyBytes, responseDecision, statusOf } from '../middleware/plugin.js';
import type { Histogram } from '../stats/stats.js';
import { dropUpstreamBody, failed, guard, JSON_TYPE, send } from './answer.js';
import type { Exchange } from './exchange.js';
import { ctx, pin } from './request.js';

/** Run onResponse from chain index i down to 0, then send. */
export function responsePhase(x: Exchange, i: number): void {
  const chain = x.router.chain;
  for (; i >= 0; i--) {
    if (x.aborted) return;
    const mw = chain[i]!;
    if (mw.broken) {
      failed(x, i, 'response', undefined);
      continue;
    }
    const fn = mw.onResponse;
    if (!fn) continue;
    const stats = mw.stats;
    stats.calls.response++;
    const res: { status: number; headers: OutgoingHttpHeaders; body?: string } = { status: x.status, headers: x.resHeaders };
    if (mw.responseBodyMax > 0 && x.resBody !== undefined && x.resBody.length <= mw.responseBodyMax) res.body = x.resBody.toString('utf8');
    const t0 = performance.now();
    let r: unknown;
    try {
      const c = ctx(x, mw, x.states?.[i] ?? {});
      if (mw.native) r = fn(res, c);
      else {
        const p = pin(x, i, mw);
        r = p.has('onResponse') ? p.call('onResponse', [res, c]) : undefined;
      }
    } catch (e) {
      stats.duration.response.observe((performance.now() - t0) / 1000);
      failed(x, i, 'response', e);
      continue;
    }
    if (r instanceof Promise) {
      const at = i;
      settle(x, r, stats.duration.response, t0, (ok, v) => {
        if (ok) afterResponse(x, at, v);
        else failed(x, at, 'response', v);
        responsePhase(x, at - 1);
      });
      return;
    }
    stats.duration.response.observe((performance.now() - t0) / 1000);
    afterResponse(x, i, r);
  }
  send(x);
}

export function afterResponse(x: Exchange, i: number, r: unknown): void {
  if (x.aborted) return;
  try {
    const d = responseDecision(r);
    if (!d) return;
    // Check everything before changing anything: a bad result leaves the response as it was.
    const status = d.status === undefined ? x.status : statusOf(d.status, 'status', x.status);
    const body = d.body === undefined ? undefined : bodyBytes(d.body, 'body');
    const changes = d.setHeaders !== undefined || d.removeHeaders !== undefined;
    // A copy to change (a bad change then leaves the response as it was), only when there is a change.
    const headers = changes || body ? Object.assign({}, x.resHeaders) : x.resHeaders;
    if (changes) applyHeaderChanges(headers, d.setHeaders, d.removeHeaders, 'onResponse');
    if (body) {
      dropUpstreamBody(x);
      x.resBody = body.bytes;
      if (body.json && headers['content-type'] === undefined) headers['content-type'] = JSON_TYPE;
      delete headers['content-encoding'];
    }
    x.status = status;
    x.resHeaders = headers;
  } catch (e) {
    failed(x, i, 'response', e);
  }
}

/** An async plugin call: when it settles, record its duration and continue (guarded) with its value or error. */
export function settle(x: Exchange, p: Promise<unknown>, duration: Histogram, t0: number, then: (ok: boolean, value: unknown) => void): void {
  const done = (ok: boolean, value: unknown) =>
    guard(x, () => {
      duration.observe((performance.now() - t0) / 1000);
      then(ok, value);
    });
  p.then(
    (v) => done(true, v),
    (e) => done(false, e),
  );
}
