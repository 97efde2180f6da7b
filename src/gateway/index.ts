/**
 * `terrarium-plugins/gateway`: the Traefik-like HTTP gateway whose middlewares are plugins.
 * @example
 * import { createGateway } from 'terrarium-plugins/gateway'
 * const gw = await createGateway('gateway.yaml')
 * console.log(gw.entryPoints.web?.url)
 * await gw.close()
 */
export { createGateway } from './server.js';
export type { Gateway, GatewayOptions, BoundAddress, ReloadEvent } from './gateway-types.js';
export type { GatewayConfig, RouterConfig, MiddlewareConfig, ServiceConfig, PluginsConfig, Duration } from './config-types.js';
export type { EntryPointConfig } from './entrypoint.js';
export type { ServersTransportConfig } from './transport.js';
export type { TlsConfig } from './tls.js';
export type {
  Middleware,
  MiddlewareRequest,
  MiddlewareResponse,
  MiddlewareContext,
  RequestDecision,
  ResponseDecision,
  GatewayMeta,
  HeaderValue,
} from './middleware-contract.js';
