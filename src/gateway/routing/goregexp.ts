/**
 * Go regular expressions (RE2 syntax, as Traefik's HostRegexp, PathRegexp, HeaderRegexp and
 * QueryRegexp take them) translated to JavaScript RegExp where the meaning is the same, and refused
 * where it is not, so a rule never silently matches something else than it does in Traefik.
 *
 * Translated: leading flags `(?i)` `(?s)` `(?m)`, `(?P<name>...)`, `\A` and `\z`, `\Q...\E`,
 * `\x{hh}`, `\a`, POSIX classes such as `[[:alpha:]]`, Go's `\s` (ASCII space only) and `.` (every
 * character but `\n`), a `]` first in a class. Refused: flags anywhere but the start, `(?U)`,
 * Unicode classes `\p`, octal escapes, and what Go itself refuses (look-arounds, back-references).
 */

/** A Go regexp JavaScript cannot mean the same way: what, where (0-based in the pattern), what to write. */
export class GoRegexpError extends Error {
  constructor(
    readonly detail: string,
    readonly index: number,
  ) {
    super(detail);
    this.name = 'GoRegexpError';
  }
}

const POSIX: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

const GO_SPACE = '\\t\\n\\f\\r ';

function escapeLiteral(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

/**
 * Translate a Go regexp to a JavaScript RegExp. `extraFlags` are added (e.g. 'i' for hosts).
 * @example
 * goRegExp('(?i)^/API/v[0-9]+\\z').test('/api/v2') // true
 * goRegExp('^/(?=admin)')                         // throws GoRegexpError: look-ahead ...
 */
export function goRegExp(pattern: string, extraFlags = ''): RegExp {
  const flags = new Set(extraFlags.split('').filter(Boolean));
  let i = 0;
  // Leading flag groups: `(?i)`, `(?is)`.
  for (;;) {
    const m = /^\(\?([a-zA-Z]+)\)/.exec(pattern.slice(i));
    if (!m) break;
    for (const f of m[1]!) {
      if (f === 'i' || f === 's' || f === 'm') flags.add(f);
      else if (f === 'U') throw new GoRegexpError(`the ungreedy flag (?U) at ${i + 1} has no JavaScript equivalent: write lazy quantifiers (*? +? ??) instead`, i);
      else throw new GoRegexpError(`unknown flag '${f}' in (?${m[1]}) at ${i + 1}: Go accepts i, m, s and U`, i);
    }
    i += m[0].length;
  }
  const dotAll = flags.has('s');
  let out = '';
  let inClass = false;
  let classStart = false;
  while (i < pattern.length) {
    const c = pattern[i]!;
    const at = i + 1;
    if (c === '\\') {
      const n = pattern[i + 1];
      if (n === undefined) throw new GoRegexpError(`trailing backslash at ${at}`, i);
      i += 2;
      switch (n) {
        case 'A':
          if (inClass) throw new GoRegexpError(`\\A at ${at} is not allowed in a character class`, i - 2);
          out += '(?<![\\s\\S])';
          break;
        case 'z':
          if (inClass) throw new GoRegexpError(`\\z at ${at} is not allowed in a character class`, i - 2);
          out += '(?![\\s\\S])';
          break;
        case 'Q': {
          const end = pattern.indexOf('\\E', i);
          const lit = end < 0 ? pattern.slice(i) : pattern.slice(i, end);
          out += escapeLiteral(lit);
          i = end < 0 ? pattern.length : end + 2;
          break;
        }
        case 'E':
          break;
        case 'a':
          out += '\\x07';
          break;
        case 's':
          out += inClass ? GO_SPACE : `[${GO_SPACE}]`;
          break;
        case 'S':
          if (inClass) throw new GoRegexpError(`\\S inside a character class at ${at} cannot be translated: write the class without it`, i - 2);
          out += `[^${GO_SPACE}]`;
          break;
        case 'x': {
          if (pattern[i] === '{') {
            const end = pattern.indexOf('}', i);
            const hex = end < 0 ? '' : pattern.slice(i + 1, end);
            if (!/^[0-9A-Fa-f]{1,6}$/.test(hex)) throw new GoRegexpError(`invalid \\x{...} escape at ${at}`, i - 2);
            const code = parseInt(hex, 16);
            if (code > 0xffff) throw new GoRegexpError(`\\x{${hex}} at ${at} is outside the Basic Multilingual Plane: not supported`, i - 2);
            out += `\\u${code.toString(16).padStart(4, '0')}`;
            i = end + 1;
          } else {
            const hex = pattern.slice(i, i + 2);
            if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new GoRegexpError(`invalid \\x escape at ${at}: write \\x41 or \\x{41}`, i - 2);
            out += `\\x${hex}`;
            i += 2;
          }
          break;
        }
        case 'p':
        case 'P':
          throw new GoRegexpError(`Unicode class \\${n} at ${at} is not supported: write an explicit range such as [a-zA-Z]`, i - 2);
        case 'C':
          throw new GoRegexpError(`\\C at ${at} (any byte) is not supported`, i - 2);
        case 'b':
        case 'B':
          if (inClass) throw new GoRegexpError(`\\${n} at ${at} is not allowed in a character class`, i - 2);
          out += `\\${n}`;
          break;
        case 'd':
        case 'D':
        case 'w':
        case 'W':
        case 'f':
        case 't':
        case 'n':
        case 'r':
        case 'v':
          out += `\\${n}`;
          break;
        default:
          if (n >= '0' && n <= '9') {
            throw new GoRegexpError(`\\${n} at ${at}: Go has no back-references and reads digits as octal; write \\x escapes instead`, i - 2);
          }
          if (/[A-Za-z]/.test(n)) throw new GoRegexpError(`invalid escape \\${n} at ${at}`, i - 2);
          out += `\\${n}`;
      }
      classStart = false;
      continue;
    }
    if (inClass) {
      if (c === '[' && pattern[i + 1] === ':') {
        const end = pattern.indexOf(':]', i + 2);
        const name = end < 0 ? '' : pattern.slice(i + 2, end);
        const neg = name.startsWith('^');
        const range = POSIX[neg ? name.slice(1) : name];
        if (!range || neg) throw new GoRegexpError(`POSIX class [:${name}:] at ${at} is not supported`, i);
        out += range;
        i = end + 2;
      } else if (c === ']' && !classStart) {
        out += ']';
        inClass = false;
        i++;
      } else if (c === ']' || c === '[' || c === '/') {
        out += `\\${c}`;
        i++;
      } else {
        out += c;
        i++;
      }
      classStart = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      classStart = true;
      out += '[';
      i++;
      if (pattern[i] === '^') {
        out += '^';
        i++;
      }
      continue;
    }
    if (c === '(' && pattern[i + 1] === '?') {
      const rest = pattern.slice(i + 2);
      if (rest.startsWith(':')) {
        out += '(?:';
        i += 3;
      } else if (rest.startsWith('P<') || (rest.startsWith('<') && !rest.startsWith('<=') && !rest.startsWith('<!'))) {
        const start = i + (rest.startsWith('P<') ? 4 : 3);
        const end = pattern.indexOf('>', start);
        const name = end < 0 ? '' : pattern.slice(start, end);
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new GoRegexpError(`invalid group name at ${at}`, i);
        out += `(?<${name}>`;
        i = end + 1;
      } else if (/^(=|!|<=|<!)/.test(rest)) {
        throw new GoRegexpError(`look-around (?${/^(<?[=!])/.exec(rest)![1]}...) at ${at} is not Go syntax (RE2 has no look-arounds)`, i);
      } else if (/^[a-zA-Z-]+[:)]/.test(rest)) {
        throw new GoRegexpError(`flags (?${/^[a-zA-Z-]+/.exec(rest)![0]}...) at ${at} are only supported at the start of the expression, e.g. (?i)^/api`, i);
      } else {
        throw new GoRegexpError(`invalid group syntax (? at ${at}`, i);
      }
      continue;
    }
    if (c === '.') {
      out += dotAll ? '[\\s\\S]' : '[^\\n]';
      i++;
      continue;
    }
    if (c === '/') {
      out += '\\/';
      i++;
      continue;
    }
    out += c;
    i++;
  }
  if (inClass) throw new GoRegexpError(`missing closing ] of a character class`, pattern.length);
  flags.delete('s');
  try {
    return new RegExp(out, [...flags].join(''));
  } catch (e) {
    throw new GoRegexpError(`invalid regular expression: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`, 0);
  }
}
