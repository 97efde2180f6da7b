/**
 * Which errors are limit violations: the three after which an instance is thrown away and
 * recreated. The host's rule (guard, plugin rebuilds), so it lives with the host, not among the
 * public error classes of `./errors`.
 */
import { PluginMemoryError, PluginStackError, PluginTimeoutError } from '../errors.js';

/** True for the three violations after which an instance is thrown away and recreated. */
export function isLimitViolation(e: unknown): e is PluginTimeoutError | PluginMemoryError | PluginStackError {
  return e instanceof PluginTimeoutError || e instanceof PluginMemoryError || e instanceof PluginStackError;
}
