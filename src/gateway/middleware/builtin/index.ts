/**
 * The built-in middlewares, by their Traefik key (one file each, like hono's middleware folder).
 * A `http.middlewares.<name>` entry holds exactly one of these keys, or `plugin`.
 */
import addPrefix from './add-prefix.js';
import basicAuth from './basic-auth.js';
import buffering from './buffering.js';
import circuitBreaker from './circuit-breaker.js';
import compress from './compress.js';
import contentType from './content-type.js';
import forwardAuth from './forward-auth.js';
import retry from './retry.js';
import chain from './chain.js';
import headers from './headers.js';
import inFlightReq from './in-flight-req.js';
import ipAllowList from './ip-allow-list.js';
import rateLimit from './rate-limit.js';
import redirectRegex from './redirect-regex.js';
import redirectScheme from './redirect-scheme.js';
import replacePath from './replace-path.js';
import replacePathRegex from './replace-path-regex.js';
import stripPrefix from './strip-prefix.js';
import stripPrefixRegex from './strip-prefix-regex.js';
import type { BuiltinDefinition } from './types.js';

export const BUILTINS: ReadonlyMap<string, BuiltinDefinition> = new Map(
  [addPrefix, basicAuth, buffering, chain, circuitBreaker, compress, contentType, forwardAuth, retry, headers, inFlightReq, ipAllowList, rateLimit, redirectRegex, redirectScheme, replacePath, replacePathRegex, stripPrefix, stripPrefixRegex].map((d) => [d.type, d]),
);

/** Traefik middleware types that are refused with a pointer to what to do instead. */
export const UNSUPPORTED: Readonly<Record<string, string>> = {
  digestAuth: 'digestAuth is not supported; use basicAuth or forwardAuth',
  errors: 'the errors middleware is not supported; write a plugin that replaces the body in onResponse',
  grpcWeb: 'grpcWeb is not supported',
  passTLSClientCert: 'passTLSClientCert is not supported',
  ipWhiteList: 'ipWhiteList was renamed ipAllowList in Traefik v3; use ipAllowList',
};

export type { BuiltinDefinition, BuiltinMiddleware, BuiltinContext, NativeExchange } from './types.js';
