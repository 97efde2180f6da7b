/**
 * fengari's value type tags (defs.js constant_types, with the variant bits), in a file of their
 * own so that the hooks the patched fengari calls (hooks.ts, loaded before fengari) can use them.
 */
export const T = {
  NIL: 0,
  BOOLEAN: 1,
  LIGHTUSERDATA: 2,
  NUMFLT: 3,
  NUMINT: 3 | (1 << 4),
  SHRSTR: 4,
  LNGSTR: 4 | (1 << 4),
  TABLE: 5,
  LCL: 6,
  LCF: 6 | (1 << 4),
  CCL: 6 | (2 << 4),
  USERDATA: 7,
  THREAD: 8,
} as const;
