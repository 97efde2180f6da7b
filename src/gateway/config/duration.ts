/**
 * Durations as Traefik reads them: Go's `time.ParseDuration` syntax (`1m30s`, `1.5h`, `300ms`,
 * `2h45m`, `10us`), and a bare integer (a YAML number or a numeric string) as seconds, which is
 * what Traefik's `ptypes.Duration` does. Everything is returned in milliseconds (fractions kept).
 */

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** The JSON-schema pattern of a Go duration string (or an integer of seconds written as a string). */
export const GO_DURATION_PATTERN = '^([-+]?[0-9]+|[-+]?0|[-+]?(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$';

/**
 * Parse a Go duration string. Returns milliseconds, or a message saying what is wrong.
 * @example
 * parseGoDuration('1m30s') // 90000
 * parseGoDuration('1.5h')  // 5400000
 * parseGoDuration('10')    // 'missing unit ...' (a string of digits is seconds only through traefikDuration)
 */
export function parseGoDuration(text: string): number | string {
  let s = text.trim();
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return `invalid duration "${text}"`;
  const part = /([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([a-zµμ]*)/y;
  let total = 0;
  let at = 0;
  while (at < s.length) {
    part.lastIndex = at;
    const m = part.exec(s);
    if (!m) return `invalid duration "${text}": expected a number at position ${at + 1}`;
    const unit = m[2]!;
    if (unit === '') return `missing unit in duration "${text}" (use ns, us, ms, s, m or h, e.g. 1m30s)`;
    const f = UNIT_MS[unit];
    if (f === undefined) return `unknown unit "${unit}" in duration "${text}" (use ns, us, ms, s, m or h)`;
    total += Number(m[1]) * f;
    at = part.lastIndex;
  }
  return sign * total;
}

/**
 * A Traefik duration option: a number (or a string of digits) is seconds; a string is a Go
 * duration. Returns milliseconds, or a message.
 * @example
 * traefikDuration(10)      // 10000 (ten seconds, as in Traefik)
 * traefikDuration('250ms') // 250
 */
export function traefikDuration(v: unknown): number | string {
  if (typeof v === 'number') return Number.isFinite(v) && Number.isInteger(v) ? v * 1000 : `a duration number must be whole seconds (got ${v}); write a string like "1.5s"`;
  if (typeof v !== 'string') return 'must be a duration: seconds as a number, or a string like 1m30s, 500ms';
  if (/^[-+]?[0-9]+$/.test(v.trim())) return Number(v.trim()) * 1000;
  return parseGoDuration(v);
}

/** JSON schema of a Traefik duration option. */
export const traefikDurationSchema = {
  type: ['number', 'string'],
  pattern: GO_DURATION_PATTERN,
  description: 'a duration: seconds as a number, or a Go duration string like 1m30s, 500ms, 2h',
} as const;
