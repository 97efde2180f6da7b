/** Small helpers of the QuickJS engine's error handling. */

/** What describeThrown reports: the engine's own violation signal, and the thrown value copied. */
export interface Described {
  engine: '' | 'stack' | 'memory';
  value: unknown;
}

export const now = () => performance.now();
