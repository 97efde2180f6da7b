/**
 * `ipAllowList`: only clients whose address (by `ipStrategy`: the peer address by default) is in
 * `sourceRange` get through; the others get 403 (or `rejectStatusCode`).
 * @example
 * ipAllowList: { sourceRange: ['127.0.0.1/32', '192.168.1.7'] }
 */
import { excludedList, ipStrategySchema, inList, rangeList, strategyIp, type IpStrategy } from './ip-strategy.js';
import { STATUS_TEXT } from './util.js';
import { defineBuiltin, obj, strList, textResponse } from './types.js';

export default defineBuiltin<{ sourceRange: string[]; ipStrategy?: IpStrategy; rejectStatusCode?: number }>(
  'ipAllowList',
  obj({ sourceRange: { ...strList, minItems: 1 }, ipStrategy: ipStrategySchema, rejectStatusCode: { type: 'integer', minimum: 400, maximum: 599 } }, ['sourceRange']),
  (o, env) => {
    const allowed = rangeList(o.sourceRange, ['sourceRange'], env);
    const excluded = excludedList(o.ipStrategy, ['ipStrategy'], env);
    const status = o.rejectStatusCode ?? 403;
    return {
      onRequest(req) {
        const ip = strategyIp(o.ipStrategy, excluded, req);
        if (ip && inList(allowed, ip)) return undefined;
        return textResponse(status, STATUS_TEXT[status] ?? 'Forbidden');
      },
    };
  },
);
