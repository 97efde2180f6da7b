/**
 * What `terrarium serve` and its cluster workers share: opening a gateway with its failure sorted
 * into what to print and the exit code, and process signal handlers that are removed again.
 */
import { ConfigError, TerrariumError, type ConfigIssue } from '../../errors.js';
import { createGateway } from './server.js';
import type { GatewayConfig } from '../config/model.js';
import type { Gateway, GatewayOptions } from './types.js';

/** Why a gateway did not start: a message, the config issues when it was the configuration, and the exit code. */
export interface StartFailure {
  message: string;
  /** Every problem of an invalid configuration (exit code 2). */
  issues?: ConfigIssue[];
  file?: string | undefined;
  exitCode: number;
}

/**
 * createGateway, with a refused configuration or bad options (exit code 2) or another coded error
 * (exit code 1) returned as a StartFailure; anything else (a bug) is thrown.
 * @example const r = await openGateway('gateway.yaml', { logger }); if ('failure' in r) process.exitCode = r.failure.exitCode
 */
export async function openGateway(config: string | GatewayConfig, options: GatewayOptions): Promise<{ gateway: Gateway } | { failure: StartFailure }> {
  try {
    return { gateway: await createGateway(config, options) };
  } catch (e) {
    const failure = startFailure(e);
    if (!failure) throw e;
    return { failure };
  }
}

/** A start error as a StartFailure, or undefined when it is not one of ours. */
export function startFailure(e: unknown): StartFailure | undefined {
  if (e instanceof ConfigError) return { message: e.message, issues: [...e.issues], file: e.file, exitCode: 2 };
  if (e instanceof TerrariumError) return { message: e.message, exitCode: e.code === 'ERR_OPTIONS' ? 2 : 1 };
  return undefined;
}

type ProcessEvent = NodeJS.Signals | 'message' | 'disconnect';

/**
 * Add process listeners (signals, IPC); returns a function that removes them all.
 * @example const off = onProcess({ SIGTERM: stop, SIGHUP: reload }); ...; off()
 */
export function onProcess(handlers: Partial<Record<ProcessEvent, (...args: never[]) => void>>): () => void {
  const added = Object.entries(handlers) as [ProcessEvent, (...args: unknown[]) => void][];
  for (const [event, fn] of added) process.on(event as NodeJS.Signals, fn);
  return () => {
    for (const [event, fn] of added) process.off(event as NodeJS.Signals, fn);
  };
}
