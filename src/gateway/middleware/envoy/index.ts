/**
 * Envoy's HTTP Lua filters as gateway middlewares (docs/envoy.md). A `.lua` plugin that defines
 * `envoy_on_request` and/or `envoy_on_response` and returns nothing is loaded by the Lua engine
 * with this adapter's prelude (prelude.ts), which makes it an ordinary middleware plugin: the
 * gateway's binding, limits, failure policy and reloads apply unchanged. This file registers the
 * adapter with the engine and maps the prelude's refusals to ERR_ENVOY_UNSUPPORTED.
 */
import { registerGlobalModule } from '../../../engines/lua/global-modules.js';
import { EnvoyUnsupportedError, PluginThrownError } from '../../../errors.js';
import { ENVOY_PRELUDE_BODY } from './prelude.js';

export { envoyCapability } from './capability.js';
export { repeatedHeaders } from './headers.js';

/** Largest body an Envoy filter buffers with `body()` (request and response); Envoy's answer past its buffer limit, 413, is the gateway's too. */
export const ENVOY_MAX_BODY_BYTES = 1 << 20;

const DEFINES = /\benvoy_on_(request|response)\b/;
/** Only a filter that reads a body gets one: copying bodies into the sandbox is the dearest part of a call. */
const READS_BODY = /:\s*body(Chunks)?\s*\(/;

registerGlobalModule({
  name: 'envoy-filter',
  globals: ['envoy_on_request', 'envoy_on_response'],
  prelude: ENVOY_PRELUDE_BODY,
  detect: (source) => DEFINES.test(source),
  args: (source) => [READS_BODY.test(source), ENVOY_MAX_BODY_BYTES],
});

/** The prelude's `{ envoyUnsupported, where }` error as ERR_ENVOY_UNSUPPORTED; anything else as it is. */
export function envoyError(e: unknown): unknown {
  if (!(e instanceof PluginThrownError)) return e;
  const t = e.thrown as { envoyUnsupported?: unknown; where?: unknown } | null | undefined;
  if (!t || typeof t !== 'object' || typeof t.envoyUnsupported !== 'string') return e;
  const where = typeof t.where === 'string' ? t.where : '';
  const m = /^(.*):(\d+)$/.exec(where);
  return new EnvoyUnsupportedError(t.envoyUnsupported, where, {
    ...(e.plugin !== undefined ? { plugin: e.plugin } : {}),
    ...(e.engine !== undefined ? { engine: e.engine } : {}),
    ...(m ? { file: m[1]!, line: Number(m[2]) } : e.file !== undefined ? { file: e.file } : {}),
    ...(e.exportName !== undefined ? { exportName: e.exportName } : {}),
    cause: e,
  });
}
