/**
 * Routing parity with Traefik v3: matcher names in any case, Query with one argument, wildcard
 * hosts, trailing dots, priority 0, Go regular expressions (translated where the meaning is the
 * same, refused with a clear error where not), ClientIP and QueryRegexp.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileRule } from '../dist/gateway/routing/rules.js';
import { goRegExp, GoRegexpError } from '../dist/gateway/routing/goregexp.js';
import { ConfigError } from '../dist/errors.js';
import { loadConfig } from '../dist/gateway/config/load.js';
import { baseConfig, gateway, matchInput, request, ruleError, tempDir } from './fixtures/gateway/helpers.js';

const input = matchInput;
const refused = (rule: string): string => ruleError(rule).message;

describe('rules: Traefik v3 parity', () => {
  it('accepts matcher names in any case (traefik/plugindemo writes host(...))', () => {
    assert.equal(compileRule('host(`a.example`) && pathprefix(`/api`)')(input()), true);
    assert.equal(compileRule('METHOD(`GET`)')(input()), true);
  });

  it('Query with one argument matches only an empty value', () => {
    const r = compileRule('Query(`mobile`)');
    assert.equal(r(input({ query: () => ({ mobile: '' }) })), true);
    assert.equal(r(input({ query: () => ({ mobile: 'yes' }) })), false);
    assert.equal(r(input({ query: () => ({}) })), false);
  });

  it('QueryRegexp matches a query value with a Go regexp', () => {
    const r = compileRule('QueryRegexp(`v`, `^[0-9]+$`)');
    assert.equal(r(input({ query: () => ({ v: '12' }) })), true);
    assert.equal(r(input({ query: () => ({ v: ['x', '3'] }) })), true);
    assert.equal(r(input({ query: () => ({ v: 'x' }) })), false);
  });

  it('Host wildcards: *.example.com is one label, **.example.com any depth, * any host', () => {
    const one = compileRule('Host(`*.example.com`)');
    assert.equal(one(input({ host: 'a.example.com' })), true);
    assert.equal(one(input({ host: 'a.b.example.com' })), false);
    assert.equal(one(input({ host: 'example.com' })), false);
    const deep = compileRule('Host(`**.example.com`)');
    assert.equal(deep(input({ host: 'a.b.example.com' })), true);
    assert.equal(deep(input({ host: 'example.com' })), false);
    assert.equal(compileRule('Host(`*`)')(input({ host: 'anything.test' })), true);
    assert.match(refused('Host(`a.*.com`)'), /wildcard is only allowed as the first label/);
  });

  it('ClientIP matches the peer address against addresses and CIDR ranges, IPv4 and IPv6', () => {
    const r = compileRule('ClientIP(`10.0.0.0/8`, `::1`)');
    assert.equal(r(input({ clientIp: '10.1.2.3' })), true);
    assert.equal(r(input({ clientIp: '::ffff:10.1.2.3' })), true, 'IPv4-mapped IPv6');
    assert.equal(r(input({ clientIp: '::1' })), true);
    assert.equal(r(input({ clientIp: '192.168.0.1' })), false);
    assert.match(refused('ClientIP(`10.0.0.0/33`)'), /prefix length \/33 is out of range/);
    assert.match(refused('ClientIP(`nope`)'), /expected an IP address or a CIDR range/);
  });
});

describe('rules: Go regular expressions', () => {
  it('translates (?i), \\z, \\A, (?P<name>), \\Q..\\E, POSIX classes', () => {
    assert.equal(goRegExp('(?i)^/API$').test('/api'), true);
    assert.equal(goRegExp('^/api\\z').test('/api'), true);
    assert.equal(goRegExp('^/api\\z').test('/apiz'), false, '\\z is end of text, not a literal z');
    assert.equal(goRegExp('\\A/x').test('/x'), true);
    assert.equal(goRegExp('^/(?P<id>[0-9]+)$').exec('/42')?.groups?.id, '42');
    assert.equal(goRegExp('^\\Q/a.b\\E$').test('/a.b'), true);
    assert.equal(goRegExp('^\\Q/a.b\\E$').test('/axb'), false);
    assert.equal(goRegExp('^[[:digit:]]+$').test('123'), true);
    assert.equal(goRegExp('^[]a]$').test(']'), true, 'a ] first in a class is a literal');
  });

  it("keeps Go's meaning of . and \\s (ASCII), where JavaScript's differ", () => {
    assert.equal(goRegExp('^a.b$').test('a\rb'), true, 'Go . matches \\r');
    assert.equal(goRegExp('^a.b$').test('a\nb'), false);
    assert.equal(goRegExp('(?s)^a.b$').test('a\nb'), true);
    assert.equal(goRegExp('^\\s$').test('\u00a0'), false, 'Go \\s is ASCII only');
  });

  it('refuses what JavaScript cannot mean the same way, saying what to write instead', () => {
    const cases: [string, RegExp][] = [
      ['^/a(?i)b', /only supported at the start/],
      ['(?U)a+', /ungreedy/],
      ['\\pL', /Unicode class/],
      ['(?=x)', /look-around/],
      ['(a)\\1', /back-references/],
    ];
    for (const [re, msg] of cases) {
      assert.throws(() => goRegExp(re), (e: unknown) => e instanceof GoRegexpError && msg.test(e.message), re);
    }
  });

  it("accepts the (?i) examples of Traefik's documentation in rules", () => {
    assert.equal(compileRule('HostRegexp(`(?i)^A\\.EXAMPLE$`)')(input()), true);
    assert.equal(compileRule('PathRegexp(`(?i)^/API/`)')(input()), true);
    assert.equal(compileRule('HeaderRegexp(`X-K`, `(?i)^VAL`)')(input({ headers: { 'x-k': 'value' } })), true);
    assert.match(refused('PathRegexp(`^/(?=admin)`)'), /regular expression `\^\/\(\?=admin\)` at 12: look-around/);
  });
});

describe('rules: priority and the request host', () => {
  it('priority 0 means the length of the rule, as in Traefik', async () => {
    const config = await loadConfig({
      entryPoints: { web: '127.0.0.1:0' },
      http: {
        routers: {
          short: { rule: 'PathPrefix(`/`)', service: 'e', priority: 0 },
          long: { rule: 'PathPrefix(`/api`)', service: 'e', priority: 0 },
        },
        services: { e: { echo: {} } },
      },
    });
    assert.deepEqual(
      config.routers.map((r) => [r.name, r.priority]),
      [
        ['long', 'PathPrefix(`/api`)'.length],
        ['short', 'PathPrefix(`/`)'.length],
      ],
    );
  });

  it('routes a Host with a trailing dot like the same Host without it', async (t) => {
    const files = await tempDir({});
    t.after(() => files.cleanup());
    const gw = await gateway(t, baseConfig(files.dir, { routers: { a: { rule: 'Host(`a.example`)', service: 'echo' } } }));
    const r = await request(`${gw.url}/x`, { headers: { host: 'A.Example.:8080' } });
    assert.equal(r.status, 200);
  });

  it('reports a refused regexp as a config problem with its path and line', async () => {
    await assert.rejects(
      loadConfig({ entryPoints: { web: '127.0.0.1:0' }, http: { routers: { r: { rule: 'PathRegexp(`\\pL`)', service: 'e' } }, services: { e: { echo: {} } } } }),
      (e: unknown) => e instanceof ConfigError && e.issues[0]!.path === 'http.routers.r.rule' && /Unicode class \\p/.test(e.issues[0]!.message),
    );
  });
});
