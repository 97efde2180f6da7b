/**
 * Router rules in Traefik's syntax: matchers such as ``Host(`a.example`)`` or ``PathPrefix(`/api`)``
 * combined with `&&`, `||`, `!` and parentheses. A real tokenizer and a recursive-descent parser,
 * so that every error names the 1-based character position in the rule and what was expected; the
 * parsed rule is compiled once into a closure, so matching a request allocates nothing.
 */

import { BlockList } from 'node:net';
import { GoRegexpError, goRegExp } from './goregexp.js';
import { addToBlockList, ipIn } from './ipnet.js';
import type { MatchInput, RuleMatcher } from '../config/model.js';
/** Declared in the config model (model.ts), re-exported for the modules that use them with this one. */
export type { MatchInput, RuleMatcher };

/** A rule that does not parse: `message` says what was found and what was expected, `position` is 1-based. */
export class RuleSyntaxError extends Error {
  constructor(
    readonly detail: string,
    readonly position: number,
  ) {
    super(detail);
    this.name = 'RuleSyntaxError';
  }
}

type Token =
  | { kind: 'ident'; value: string; pos: number }
  | { kind: 'string'; value: string; pos: number }
  | { kind: '(' | ')' | ',' | '&&' | '||' | '!'; pos: number }
  | { kind: 'end'; pos: number };

const MATCHERS: Record<string, { min: number; max: number; build(args: Arg[]): RuleMatcher }> = {
  Host: { min: 1, max: Infinity, build: hostMatcher },
  HostRegexp: { min: 1, max: Infinity, build: (args) => anyRegexp(args, 'i', (i) => i.host) },
  Path: { min: 1, max: Infinity, build: (args) => oneOf(args.map(pathArg), (i) => i.path) },
  PathPrefix: {
    min: 1,
    max: Infinity,
    build: (args) => {
      const prefixes = args.map(pathArg);
      if (prefixes.length === 1) {
        const p = prefixes[0]!;
        return (i) => i.path.startsWith(p);
      }
      return (i) => prefixes.some((p) => i.path.startsWith(p));
    },
  },
  PathRegexp: { min: 1, max: Infinity, build: (args) => anyRegexp(args, '', (i) => i.path) },
  Method: { min: 1, max: Infinity, build: (args) => oneOf(args.map((a) => a.value.toUpperCase()), (i) => i.method) },
  Header: {
    min: 2,
    max: 2,
    build: ([name, value]) => {
      const k = name!.value.toLowerCase();
      const v = value!.value;
      return (i) => {
        const h = i.headers[k];
        return Array.isArray(h) ? h.includes(v) : h === v;
      };
    },
  },
  HeaderRegexp: {
    min: 2,
    max: 2,
    build: ([name, value]) => {
      const k = name!.value.toLowerCase();
      const re = regexpArg(value!, '');
      return (i) => {
        const h = i.headers[k];
        return h === undefined ? false : Array.isArray(h) ? h.some((x) => re.test(x)) : re.test(h);
      };
    },
  },
  // Traefik v3: `Query(`k`)` matches only `?k` / `?k=` (an empty value), not any value.
  Query: {
    min: 1,
    max: 2,
    build: ([name, value]) => {
      const k = name!.value;
      const v = value?.value ?? '';
      return (i) => {
        const q = i.query()[k];
        if (q === undefined) return false;
        return Array.isArray(q) ? q.includes(v) : q === v;
      };
    },
  },
  QueryRegexp: {
    min: 2,
    max: 2,
    build: ([name, value]) => {
      const k = name!.value;
      const re = regexpArg(value!, '');
      return (i) => {
        const q = i.query()[k];
        return q === undefined ? false : Array.isArray(q) ? q.some((x) => re.test(x)) : re.test(q);
      };
    },
  },
  ClientIP: { min: 1, max: Infinity, build: clientIpMatcher },
};

/** Matcher names by lower case: Traefik accepts `host(...)` as well as `Host(...)`. */
const BY_LOWER = new Map(Object.entries(MATCHERS).map(([k, v]) => [k.toLowerCase(), v]));

/** The matcher names rules may use, for error messages and docs. */
export const MATCHER_NAMES: readonly string[] = Object.keys(MATCHERS);

interface Arg {
  value: string;
  pos: number;
}

function oneOf(values: string[], pick: (i: MatchInput) => string): RuleMatcher {
  if (values.length === 1) {
    const v = values[0]!;
    return (i) => pick(i) === v;
  }
  const set = new Set(values);
  return (i) => set.has(pick(i));
}

function pathArg(a: Arg): string {
  if (!a.value.startsWith('/')) throw new RuleSyntaxError(`path \`${a.value}\` at ${a.pos} must start with '/'`, a.pos);
  return a.value;
}

function regexpArg(a: Arg, flags: string): RegExp {
  try {
    return goRegExp(a.value, flags);
  } catch (e) {
    if (!(e instanceof GoRegexpError)) throw e;
    throw new RuleSyntaxError(`regular expression \`${a.value}\` at ${a.pos}: ${e.detail}`, a.pos);
  }
}

/**
 * `Host(`a.example`)`, `Host(`*.example.com`)` (exactly one more label), `Host(`**.example.com`)`
 * (one or more labels) and `Host(`*`)` (any host), compared case-insensitively.
 */
function hostMatcher(args: Arg[]): RuleMatcher {
  const exact: string[] = [];
  const tests: ((h: string) => boolean)[] = [];
  for (const a of args) {
    const v = a.value.toLowerCase().replace(/\.$/, '');
    if (v === '*') tests.push(() => true);
    else if (v.startsWith('**.')) {
      const suffix = v.slice(2);
      tests.push((h) => h.length > suffix.length && h.endsWith(suffix));
    } else if (v.startsWith('*.')) {
      const suffix = v.slice(1);
      tests.push((h) => h.endsWith(suffix) && h.length > suffix.length && !h.slice(0, h.length - suffix.length).includes('.'));
    } else if (v.includes('*')) {
      throw new RuleSyntaxError(`host \`${a.value}\` at ${a.pos}: a wildcard is only allowed as the first label (*.example.com, **.example.com) or alone (*)`, a.pos);
    } else exact.push(v);
  }
  if (tests.length === 0) return oneOf(exact, (i) => i.host);
  const set = new Set(exact);
  return (i) => set.has(i.host) || tests.some((t) => t(i.host));
}

/** `ClientIP(`10.0.0.0/8`, `::1`)`: the connection's peer address, IPv4 or IPv6, address or CIDR. */
function clientIpMatcher(args: Arg[]): RuleMatcher {
  const list = new BlockList();
  for (const a of args) {
    const problem = addToBlockList(list, a.value);
    if (problem) throw new RuleSyntaxError(`ClientIP \`${a.value}\` at ${a.pos}: ${problem}`, a.pos);
  }
  return (i) => ipIn(list, i.clientIp);
}

function anyRegexp(args: Arg[], flags: string, pick: (i: MatchInput) => string): RuleMatcher {
  const res = args.map((a) => regexpArg(a, flags));
  return (i) => res.some((re) => re.test(pick(i)));
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'end':
      return 'end of rule';
    case 'ident':
      return `'${t.value}'`;
    case 'string':
      return `\`${t.value}\``;
    default:
      return `'${t.kind}'`;
  }
}

function tokenize(rule: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < rule.length) {
    const c = rule[i]!;
    const pos = i + 1;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '(' || c === ')' || c === ',' || c === '!') {
      tokens.push({ kind: c, pos });
      i++;
    } else if (c === '&' || c === '|') {
      if (rule[i + 1] !== c) throw new RuleSyntaxError(`unexpected '${c}' at ${pos}: expected '${c}${c}'`, pos);
      tokens.push({ kind: c === '&' ? '&&' : '||', pos });
      i += 2;
    } else if (c === '`' || c === '"') {
      const close = rule.indexOf(c, i + 1);
      if (close < 0) throw new RuleSyntaxError(`unterminated string starting at ${pos}: expected a closing ${c}`, pos);
      tokens.push({ kind: 'string', value: rule.slice(i + 1, close), pos });
      i = close + 1;
    } else if (/[A-Za-z]/.test(c)) {
      let j = i + 1;
      while (j < rule.length && /[A-Za-z0-9]/.test(rule[j]!)) j++;
      tokens.push({ kind: 'ident', value: rule.slice(i, j), pos });
      i = j;
    } else {
      throw new RuleSyntaxError(`unexpected '${c}' at ${pos}: expected a matcher such as PathPrefix(\`/api\`), '(', '!', '&&' or '||'`, pos);
    }
  }
  tokens.push({ kind: 'end', pos: rule.length + 1 });
  return tokens;
}

/**
 * Parse and compile a rule. Throws RuleSyntaxError with the position of the first problem.
 * @example
 * const match = compileRule('Host(`a.example`) && (PathPrefix(`/api`) || Method(`POST`))')
 * match({ host: 'a.example', path: '/api/x', method: 'GET', headers: {}, query: () => ({}), clientIp: '127.0.0.1' }) // true
 */
export function compileRule(rule: string): RuleMatcher {
  const tokens = tokenize(rule);
  let k = 0;
  const peek = (): Token => tokens[k]!;
  const next = (): Token => tokens[k++]!;
  const fail = (t: Token, expected: string): never => {
    throw new RuleSyntaxError(`unexpected ${describe(t)} at ${t.pos}: expected ${expected}`, t.pos);
  };

  const parseOr = (): RuleMatcher => {
    const parts = [parseAnd()];
    while (peek().kind === '||') {
      next();
      parts.push(parseAnd());
    }
    if (parts.length === 1) return parts[0]!;
    if (parts.length === 2) {
      const [a, b] = parts as [RuleMatcher, RuleMatcher];
      return (i) => a(i) || b(i);
    }
    return (i) => parts.some((p) => p(i));
  };
  const parseAnd = (): RuleMatcher => {
    const parts = [parseUnary()];
    while (peek().kind === '&&') {
      next();
      parts.push(parseUnary());
    }
    if (parts.length === 1) return parts[0]!;
    if (parts.length === 2) {
      const [a, b] = parts as [RuleMatcher, RuleMatcher];
      return (i) => a(i) && b(i);
    }
    return (i) => parts.every((p) => p(i));
  };
  const parseUnary = (): RuleMatcher => {
    if (peek().kind === '!') {
      next();
      const inner = parseUnary();
      return (i) => !inner(i);
    }
    return parsePrimary();
  };
  const parsePrimary = (): RuleMatcher => {
    const t = next();
    if (t.kind === '(') {
      const inner = parseOr();
      const close = next();
      if (close.kind !== ')') fail(close, "')', '&&' or '||'");
      return inner;
    }
    if (t.kind !== 'ident') return fail(t, `a matcher (${MATCHER_NAMES.join(', ')}), '(' or '!'`);
    const spec = BY_LOWER.get(t.value.toLowerCase());
    if (!spec) throw new RuleSyntaxError(`unknown matcher '${t.value}' at ${t.pos}: expected one of ${MATCHER_NAMES.join(', ')}`, t.pos);
    const open = next();
    if (open.kind !== '(') fail(open, `'(' after ${t.value}`);
    const args: Arg[] = [];
    if (peek().kind !== ')') {
      for (;;) {
        const a = next();
        if (a.kind !== 'string') fail(a, 'a string in backquotes, e.g. `/api`');
        args.push({ value: (a as { value: string }).value, pos: a.pos });
        const sep = next();
        if (sep.kind === ')') break;
        if (sep.kind !== ',') fail(sep, "',' or ')'");
      }
    } else next();
    if (args.length < spec.min || args.length > spec.max) {
      const want = spec.min === spec.max ? `${spec.min}` : spec.max === Infinity ? `at least ${spec.min}` : `${spec.min} or ${spec.max}`;
      throw new RuleSyntaxError(`${t.value} at ${t.pos} takes ${want} argument${spec.min === 1 && spec.max === 1 ? '' : 's'}, got ${args.length}`, t.pos);
    }
    return spec.build(args);
  };

  const matcher = parseOr();
  const end = peek();
  if (end.kind !== 'end') fail(end, "'&&', '||' or end of rule");
  return matcher;
}
