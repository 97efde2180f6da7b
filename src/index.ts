/**
 * Terrarium: sandboxed script plugins for Node.js. The root entry is the host alone; the gateway
 * (`terrarium-plugins/gateway`), the error subclasses (`terrarium-plugins/errors`) and the engine interface
 * (`terrarium-plugins/engine`) are subpaths, so embedding the host never loads the gateway's dependencies.
 * @example
 * import { createHost } from 'terrarium-plugins'
 * const host = await createHost({ dir: './plugins' })
 * host.get<{ revert(s: string): string }>('revert').revert('Live on time, emit no evil')
 * await host.close()
 */
export { createHost } from './host/host.js';
export type { Host, HostOptions } from './host/host.js';
export type { PluginInfo } from './host/plugin.js';
export type { PluginPin } from './host/pin.js';
export type { PluginProxy } from './binding/proxy.js';
export { PLUGIN_NAME } from './binding/proxy.js';
export { DEFAULT_LIMITS } from './host/limits.js';
export type { CapabilityEntry } from './capabilities/index.js';
export { scopedFs } from './capabilities/fs.js';
export type { ScopedFs } from './capabilities/fs.js';
export { keyScoped } from './capabilities/kv-scope.js';
export type { PluginGrants } from './capabilities/grants.js';
export type { HostEvent, HostEventName, HostListener } from './host/events.js';
export type { TrustOptions } from './host/trust.js';
export { ERROR_CODES, TerrariumError } from './errors.js';
export type { ErrorCode, ErrorContext } from './errors.js';
export type {
  Capabilities,
  CapabilityFn,
  ExportInfo,
  Limits,
  Logger,
  LogLevel,
  PluginCounters,
  PluginMeta,
  PluginStatus,
} from './types.js';
