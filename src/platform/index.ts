/**
 * The Web platform inside the sandbox: host-side implementations (host.ts) and the guest glue
 * each engine installs before plugin code runs (QuickJS: the JS sources below, evaluated as part
 * of the glue, so a snapshot of the glue-ready instance includes them; Lua: lua.ts).
 */
import { GUEST_PRIMS } from './prims.js';
import { GUEST_ENCODING } from './encoding.js';
import { GUEST_CRYPTO } from './crypto.js';
import { GUEST_URL } from './url.js';
import { GUEST_MISC } from './misc.js';
import { GUEST_FETCH } from './fetch.js';
import { GUEST_TIMERS } from './timers.js';

export { platformCall, PlatformInputTooLarge, PlatformError } from './host.js';

/**
 * Definitions evaluated in the glue's closure (needs guest-codec.ts's primordials, MAXD and
 * hostError), and `installPlatform(pcall)` that defines the globals; `pcall(op, ...args)` is the
 * glue's synchronous platform host call, `ocall(op, args, id)` its outbound one (fetch: a promise).
 */
export const GUEST_PLATFORM = `${GUEST_PRIMS}${GUEST_ENCODING}${GUEST_CRYPTO}${GUEST_URL}${GUEST_MISC}${GUEST_FETCH}${GUEST_TIMERS}
const installPlatform = (pcall, ocall) => {
  platformCall = pcall;
  const crypto = makeCrypto(pcall);
  defineGlobals({ TextEncoder, TextDecoder, URL, URLSearchParams, CryptoKey });
  defineGlobals({ atob, btoa, structuredClone, queueMicrotask, crypto, performance: makePerformance(pcall) });
  defineGlobals(makeTimers(ocall));
  defineGlobals({ Headers, Request, Response, AbortController, AbortSignal, fetch: makeFetch(ocall) });
};
`;
