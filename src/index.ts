/**
 * Terrarium: sandboxed script plugins for Node.js.
 * @example
 * import { createHost } from 'terrarium'
 * await using host = await createHost({ dir: './plugins' })
 * host.get<{ revert(s: string): string }>('revert').revert('Live on time, emit no evil')
 */
export { createHost } from './host/host.js';
export type { Host, HostOptions } from './host/host.js';
export type { PluginInfo } from './host/plugin.js';
export type { PluginProxy } from './binding/proxy.js';
export { PLUGIN_NAME } from './binding/proxy.js';
export { DEFAULT_LIMITS } from './host/limits.js';
export { registerEngine, registeredExtensions } from './engine.js';
export type { Engine, EngineInstance, LoadRequest } from './engine.js';
export type { CapabilityEntry } from './capabilities/index.js';
export { scopedFs } from './capabilities/fs.js';
export type { ScopedFs } from './capabilities/fs.js';
export type { HostEvent, HostEventName, HostListener } from './host/events.js';
export type { TrustOptions } from './host/trust.js';
export {
  ERROR_CODES,
  TerrariumError,
  PluginLoadError,
  PluginThrownError,
  PluginTimeoutError,
  PluginMemoryError,
  PluginStackError,
  MarshalError,
  NoExportError,
  NoPluginError,
  PluginUnavailableError,
  OptionsError,
  ApiVersionError,
  SelfTestError,
  SignatureError,
  ConfigError,
  MiddlewareResultError,
  GatewayError,
  ListenError,
} from './errors.js';
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
export { createGateway } from './gateway/server.js';
export type { Gateway, GatewayOptions, BoundAddress, ReloadEvent } from './gateway/server.js';
export type { GatewayConfig, RouterConfig, MiddlewareConfig, ServiceConfig, PluginsConfig, Duration } from './gateway/config.js';
export type {
  Middleware,
  MiddlewareRequest,
  MiddlewareResponse,
  MiddlewareContext,
  RequestDecision,
  ResponseDecision,
  GatewayMeta,
  HeaderValue,
} from './gateway/middleware.js';
