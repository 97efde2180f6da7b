/**
 * An exchange's request phase: the body when a middleware reads it, then `onRequest` from the first
 * middleware to the last (sync plugin calls stay on one stack, async ones continue in a callback),
 * then the upstream (upstream.ts). A middleware that answers or fails stops it, and the response
 * phase (response.ts) runs the ones before it.
 */
import querystring from 'node:querystring';
import { MiddlewareResultError } from '../../errors.js';
import { applyHeaderChanges, bodyBytes, headerObject, pathOf, queryOf, requestDecision, stateOf, statusOf } from '../middleware/plugin.js';
import { JSON_TYPE } from './answer.js';
import { ctx, ownHeaders, pin, pluginRequest, readBody } from './input.js';
import { failed, responsePhase, settle } from './response.js';
import type { Exchange } from './state.js';
import { forward } from './upstream.js';

/** Run the request: its body first when a middleware reads it (the smallest limit among them applies). */
export function startRequest(x: Exchange): void {
  const limit = x.router.requestBodyMax;
  if (limit > 0) readBody(x, limit, () => requestPhase(x, 0));
  else requestPhase(x, 0);
}

/** Run onRequest from chain index i; sync plugins stay on this stack, async ones continue in a callback. */
export function requestPhase(x: Exchange, i: number): void {
  const chain = x.router.chain;
  for (; i < chain.length; i++) {
    if (x.aborted) return;
    const mw = chain[i]!;
    if (mw.broken) {
      if (failed(x, i, 'request', undefined)) return;
      continue;
    }
    const fn = mw.onRequest;
    if (!fn) continue;
    const stats = mw.stats;
    stats.calls.request++;
    const t0 = performance.now();
    let r: unknown;
    try {
      if (mw.native) r = fn(pluginRequest(x, mw), ctx(x, mw, {})); // a built-in: no plugin version to pin
      else if (!mw.onResponse) {
        // One call per request: nothing to keep on one version (the call holds its version while
        // it runs, async part included), so no pin is taken; the serving version answers, through
        // the catalog's proxy.
        r = fn(pluginRequest(x, mw), ctx(x, mw, undefined));
      } else {
        const p = pin(x, i, mw);
        r = p.has('onRequest') ? p.call('onRequest', [pluginRequest(x, mw), ctx(x, mw, undefined)]) : undefined;
      }
    } catch (e) {
      stats.duration.request.observe((performance.now() - t0) / 1000);
      if (failed(x, i, 'request', e)) return;
      continue;
    }
    if (r instanceof Promise) {
      const at = i;
      settle(x, r, stats.duration.request, t0, (ok, v) => {
        if (ok ? afterRequest(x, at, v) : !failed(x, at, 'request', v)) requestPhase(x, at + 1);
      });
      return;
    }
    stats.duration.request.observe((performance.now() - t0) / 1000);
    if (!afterRequest(x, i, r)) return;
  }
  forward(x);
}

/** Apply an onRequest result. False when the request is answered (respond, or fail-closed). */
export function afterRequest(x: Exchange, i: number, r: unknown): boolean {
  if (x.aborted) return false;
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
      x.status = statusOf(status, 'respond.status', 200);
      x.resHeaders = hs;
      x.resBody = b.bytes;
      x.stop = i;
      x.router.chain[i]!.stats.responded++;
      responsePhase(x, i - 1);
      return false;
    }
    const mw = x.router.chain[i]!;
    if (d.setHeaders !== undefined || d.removeHeaders !== undefined) applyHeaderChanges(ownHeaders(x), d.setHeaders, d.removeHeaders, 'onRequest');
    if (d.path !== undefined) {
      x.path = pathOf(d.path);
      x.urlChanged = true;
      if (x.pluginReq) x.pluginReq.path = x.path;
    }
    if (d.query !== undefined) {
      x.query = queryOf(d.query);
      x.rawQuery = querystring.stringify(x.query);
      x.urlChanged = true;
      if (x.pluginReq) x.pluginReq.query = x.query;
    }
    if (d.body !== undefined) {
      if (mw.requestBodyMax === 0) throw new MiddlewareResultError('body: only plugins that declare meta.gateway.requestBody may replace the request body');
      x.body = bodyBytes(d.body, 'body').bytes;
    }
    if (d.state !== undefined) (x.states ??= [])[i] = stateOf(d.state);
    return true;
  } catch (e) {
    return !failed(x, i, 'request', e);
  }
}

