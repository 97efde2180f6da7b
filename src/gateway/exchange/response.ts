/**
 * An exchange's response phase: `onResponse` from the last middleware that ran down to the first
 * (sync plugin calls stay on one stack, async ones continue in a callback), then the write
 * (answer.ts send). A middleware's failure in either phase (fail open, or 502 naming it): in this
 * one it replaces the response, and the earlier middlewares still run.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { applyHeaderChanges, bodyBytes, reasonOf, responseDecision, statusOf } from '../middleware/plugin.js';
import type { Histogram } from '../stats/stats.js';
import { GatewayError } from '../../errors.js';
import { LogLimiter } from '../../shared/log-limit.js';
import { envoyError, repeatedHeaders } from '../middleware/envoy/index.js';
import { middlewareFailureBody } from '../middleware/plugin.js';
import { dropUpstreamBody, errorCode, guard, JSON_TYPE, local, send } from './answer.js';
import { ctx, pin } from './input.js';
import type { Exchange } from './state.js';

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
    // meta.gateway.repeatedHeaders: a header the upstream repeated, value by value (as on the request).
    if (mw.repeatedHeaders && x.upRes) res.headers = repeatedHeaders(res.headers as Record<string, string | string[]>, x.upRes);
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
    const reason = d.reason === undefined ? x.reason : reasonOf(d.reason);
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
    x.reason = reason;
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

/**
 * Middleware i failed (thrown, timeout, memory, unavailable, bad result, or broken binding).
 * failOpen: skip it (returns false). Otherwise answer 502 naming it (returns true); in the
 * response phase that replaces the response, and the earlier middlewares still run.
 */
export function failed(x: Exchange, i: number, phase: 'request' | 'response', thrown: unknown): boolean {
  const mw = x.router.chain[i]!;
  // An Envoy filter's refusal of a handle method carries its own code (middleware/envoy/).
  const e = envoyError(thrown);
  const code = e === undefined ? (mw.broken?.code ?? new GatewayError('middleware binding lost').code) : errorCode(e);
  const stats = mw.stats;
  const key = `${phase} ${code}`;
  stats.errors.set(key, (stats.errors.get(key) ?? 0) + 1);
  if (code === 'ERR_PLUGIN_TIMEOUT') stats.timeouts[phase]++;
  const message = e === undefined ? (mw.broken?.message ?? '') : e instanceof Error ? e.message : String(e);
  const logger = x.env.logger;
  mw.failureLog ??= new LogLimiter({ lines: 20, intervalMs: 1000 }, (dropped) =>
    logger.warn({ middleware: mw.name, plugin: mw.plugin, event: 'log-dropped', dropped }, `middleware "${mw.name}": ${dropped} more failures not logged (over 20 per second); see /metrics`),
  );
  if (mw.failureLog.allow())
    logger.warn(
      { middleware: mw.name, plugin: mw.plugin, router: x.router.name, phase, code, failOpen: mw.failOpen },
      `middleware "${mw.name}" failed in ${phase === 'request' ? 'onRequest' : 'onResponse'}${mw.failOpen ? ' (failOpen: skipped)' : ''}: ${message}`,
    );
  if (mw.failOpen) {
    stats.skipped++;
    return false;
  }
  local(x, 502, undefined, middlewareFailureBody(mw.name, code));
  if (phase === 'request') {
    x.stop = i;
    responsePhase(x, i - 1);
  }
  return true;
}
