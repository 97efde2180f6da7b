/**
 * `terrarium-plugins/gateway`: the Traefik-like HTTP gateway whose middlewares are plugins.
 * @example
 * import { createGateway } from 'terrarium-plugins/gateway'
 * const gw = await createGateway('gateway.yaml')
 * console.log(gw.entryPoints.web?.url)
 * await gw.close()
 */
export { createGateway } from './serve/server.js';
export type { Gateway, GatewayOptions, BoundAddress, ReloadEvent } from './serve/types.js';
export type { GatewayConfig, RouterConfig, MiddlewareConfig, ServiceConfig, PluginsConfig, Duration } from './config/model.js';
export type { EntryPointConfig } from './config/entrypoint.js';
export type { ServersTransportConfig } from './config/transport.js';
export type { TlsConfig } from './config/tls.js';
export type {
  Middleware,
  MiddlewareRequest,
  MiddlewareResponse,
  MiddlewareContext,
  RequestDecision,
  ResponseDecision,
  GatewayMeta,
  HeaderValue,
} from './middleware/contract.js';
