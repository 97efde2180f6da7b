/**
 * The gateway's configuration: Traefik rule parsing, schema and reference checks with paths and
 * line numbers, plugin config schemas, reload (API and file watch) and `terrarium serve`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, configIssueText } from '../dist/errors.js';
import { createGateway } from '../dist/gateway/index.js';
import { compileRule } from '../dist/gateway/routing/rules.js';
import { loadConfig } from '../dist/gateway/config/load.js';
import { baseConfig, eventually, gateway, matchInput, memoryLogger, request, ruleError, tempDir } from './fixtures/gateway/helpers.js';

const input = matchInput;
const syntaxError = ruleError;

describe('router rules', () => {
  it('gives && precedence over ||, and supports ! and parentheses', () => {
    const r = compileRule('Host(`x.example`) || Host(`a.example`) && Method(`POST`)');
    assert.equal(r(input()), false);
    assert.equal(r(input({ method: 'POST' })), true);
    assert.equal(r(input({ host: 'x.example' })), true);
    const p = compileRule('(Host(`x.example`) || Host(`a.example`)) && !Method(`POST`)');
    assert.equal(p(input()), true);
    assert.equal(p(input({ method: 'POST' })), false);
    assert.equal(compileRule('!!PathPrefix(`/api`)')(input()), true);
  });

  it('matches the common matchers like Traefik does', () => {
    assert.equal(compileRule('PathPrefix(`/ap`)')(input()), true, 'PathPrefix is a plain prefix');
    assert.equal(compileRule('Path(`/api`)')(input()), false);
    assert.equal(compileRule('Path(`/a`, `/api/users`)')(input()), true, 'several arguments: any of them');
    assert.equal(compileRule('Method(`get`)')(input()), true);
    assert.equal(compileRule('Header(`x-k`, `v`)')(input({ headers: { 'x-k': 'v' } })), true);
    assert.equal(compileRule('Header(`X-K`, `v`)')(input({ headers: { 'x-k': 'w' } })), false);
    assert.equal(compileRule('HostRegexp(`^[a-z]+\\.example$`)')(input()), true);
    assert.equal(compileRule('PathRegexp(`^/api/[0-9]+$`)')(input()), false);
    assert.equal(compileRule('Query(`debug`)')(input({ query: () => ({ debug: '' }) })), true);
    assert.equal(compileRule('Query(`v`, `2`)')(input({ query: () => ({ v: ['1', '2'] }) })), true);
    assert.equal(compileRule('Host("a.example")')(input()), true, 'double quotes work too (Traefik v2)');
  });

  it('names the position and what was expected in every syntax error', () => {
    assert.equal(syntaxError('PathPrefix(`/api`))').message, "unexpected ')' at 19: expected '&&', '||' or end of rule");
    assert.equal(syntaxError('Host(`a`) && ').message, "unexpected end of rule at 14: expected a matcher (Host, HostRegexp, Path, PathPrefix, PathRegexp, Method, Header, HeaderRegexp, Query, QueryRegexp, ClientIP), '(' or '!'");
    assert.equal(syntaxError('Host(`a` `b`)').message, "unexpected `b` at 10: expected ',' or ')'");
    assert.equal(syntaxError('Host(`a)').message, 'unterminated string starting at 6: expected a closing `');
    assert.equal(syntaxError('Pathprefx(`/a`)').message, "unknown matcher 'Pathprefx' at 1: expected one of Host, HostRegexp, Path, PathPrefix, PathRegexp, Method, Header, HeaderRegexp, Query, QueryRegexp, ClientIP");
    assert.equal(syntaxError('Header(`x`)').message, 'Header at 1 takes 2 arguments, got 1');
    assert.equal(syntaxError('Path(`api`)').message, "path `api` at 6 must start with '/'");
    assert.equal(syntaxError('Host(`a`) & Path(`/`)').message, "unexpected '&' at 11: expected '&&'");
    assert.match(syntaxError('PathRegexp(`(`)').message, /^regular expression `\(` at 12: invalid regular expression: /);
    assert.equal(syntaxError('(Host(`a`)').position, 11);
  });
});

const MW = `
export const meta = { name: 'limiter', version: '1.0.0', apiVersion: 1,
  configSchema: { type: 'object', additionalProperties: false, required: ['limit'],
    properties: { limit: { type: 'integer', minimum: 1 }, window: { type: 'string', default: '1s' } } } };
export function onRequest(req, ctx) { return { setHeaders: { 'x-limit': String(ctx.config.limit), 'x-window': ctx.config.window } }; }
`;
const NOT_MW = `export const meta = { name: 'helper', version: '1.0.0', apiVersion: 1 };\nexport function help() { return 1; }\n`;
const V1 = `export const meta = { name: 'ver', version: '1.0.0', apiVersion: 1 };\nexport function onRequest() { return { setHeaders: { 'x-ver': '1' } }; }\n`;

describe('gateway configuration', () => {
  let files: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    files = await tempDir({ 'limiter.js': MW, 'helper.js': NOT_MW, 'ver.js': V1 });
  });
  after(() => files.cleanup());

  const write = async (name: string, text: string) => {
    const file = path.join(files.dir, name);
    await writeFile(file, text);
    return file;
  };
  const issuesOf = async (source: string | Parameters<typeof loadConfig>[0]) => {
    try {
      await createGateway(source as string);
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      assert.equal(e.code, 'ERR_CONFIG');
      // The lines as the user reads them; the issues' parts are fields (see 'keeps the parts of an issue as fields').
      return e.issues.map((i) => configIssueText(i, e.file));
    }
    assert.fail('expected a ConfigError');
  };

  it('reports every schema problem with its path in the file, its line and what is expected', async () => {
    const file = await write(
      'schema.yaml',
      [
        'entryPoints:', //                       1
        '  web:', //                             2
        '    adress: 127.0.0.1:0', //            3
        'http:', //                              4
        '  routers:', //                         5
        '    api:', //                           6
        '      rule: 42', //                     7
        '      priorty: 3', //                   8
        '  services:', //                        9
        '    s:', //                            10
        '      loadBalancer:', //               11
        '        servers: []', //               12
        'plugins:', //                          13
        '  watch: maybe', //                    14
      ].join('\n'),
    );
    assert.deepEqual(await issuesOf(file), [
      "entryPoints.web.address: is required (an address like 127.0.0.1:8080 or :8080) (line 2)",
      'entryPoints.web.adress: unknown key; expected one of: address, forwardedHeaders, transport, proxyProtocol, http (line 3)',
      'http.routers.api.service: is required (a service name) (line 6)',
      'http.routers.api.rule: must be a string (a rule such as PathPrefix(`/api`)) (line 7)',
      'http.routers.api.priorty: unknown key; expected one of: rule, entryPoints, middlewares, service, priority, tls (line 8)',
      'http.services.s.loadBalancer.servers: must NOT have fewer than 1 items (line 12)',
      'plugins.watch: must be true or false or a mapping (true, or { debounceMs }) (line 14)',
    ]);
  });

  it('keeps the parts of an issue as fields: line, message and hint, no line inside the message', async () => {
    // Regression: the line travelled as ' (line N)' text inside the message and was parsed back.
    const file = await write('fields.yaml', ['entryPoints:', '  web:', '    address: 127.0.0.1:0', '    adress: x', 'http: {}'].join('\n'));
    const e = await createGateway(file).then(
      () => assert.fail('expected a ConfigError'),
      (x: unknown) => x,
    );
    assert.ok(e instanceof ConfigError, String(e));
    const issue = e.issues.find((i) => i.path === 'entryPoints.web.adress');
    assert.ok(issue, 'the unknown key is reported');
    assert.equal(issue.line, 4);
    assert.equal(issue.message, 'unknown key');
    assert.equal(issue.hint, 'expected one of: address, forwardedHeaders, transport, proxyProtocol, http');
    assert.equal(issue.file, undefined, 'the config file itself is the error\'s file');
    for (const i of e.issues) assert.doesNotMatch(i.message, /\(line \d+/, `${i.path}: no place inside the message`);
  });

  it('refuses a config that names a plugin without plugins.dir and without a plugins/ folder (regression: every file next to it was loaded as a plugin)', async () => {
    const d = await tempDir({ 'upstream.js': 'export function onRequest() { throw new Error("not a plugin"); }\n' });
    try {
      const file = path.join(d.dir, 'gateway.yaml');
      await writeFile(file, ['entryPoints:', '  web: 127.0.0.1:0', 'http:', '  routers:', '    r: { rule: "PathPrefix(`/`)", service: s, middlewares: [lim] }', '  middlewares:', '    lim: { plugin: { limiter: { limit: 1 } } }', '  services:', '    s: { echo: {} }'].join('\n'));
      const e = await createGateway(file).then(
        (gw) => gw.close().then(() => assert.fail('started with the files next to the config as plugins')),
        (x: unknown) => x,
      );
      assert.ok(e instanceof ConfigError, String(e));
      assert.deepEqual(e.issues.map((i) => i.path), ['plugins.dir']);
      assert.match(e.issues[0]!.message, /is required: there is no plugins\/ folder/);
    } finally {
      await d.cleanup();
    }
  });

  it('loads the plugins of a plugins/ folder next to the file when plugins.dir is not set, and only those', async (t) => {
    const d = await tempDir({ 'upstream.js': 'export function onRequest() { return {}; }\n' });
    t.after(() => d.cleanup());
    await mkdir(path.join(d.dir, 'plugins'));
    await writeFile(path.join(d.dir, 'plugins', 'limiter.js'), MW);
    const file = path.join(d.dir, 'gateway.yaml');
    await writeFile(file, ['entryPoints:', '  web: 127.0.0.1:0', 'accessLog: false', 'http:', '  routers:', '    r: { rule: "PathPrefix(`/`)", service: s, middlewares: [lim] }', '  middlewares:', '    lim: { plugin: { limiter: { limit: 2 } } }', '  services:', '    s: { echo: {} }'].join('\n'));
    const gw = await gateway(t, file, { watchConfig: false });
    assert.deepEqual(gw.host.plugins.map((p) => p.name), ['limiter']);
    assert.equal((await request(`${gw.url}/`)).json<{ headers: Record<string, string> }>().headers['x-limit'], '2');
  });

  it('refuses a pluginLimits entry for a plugin that does not exist (regression: it was accepted without a word)', async () => {
    const config = baseConfig(files.dir, { routers: { r: { rule: 'PathPrefix(`/`)', service: 'echo' } } });
    config.plugins = { ...config.plugins, pluginLimits: { limitr: { memoryBytes: 16 << 20 } } };
    const e = await createGateway(config).then(
      (gw) => gw.close().then(() => assert.fail('accepted a limit for no plugin')),
      (x: unknown) => x,
    );
    assert.ok(e instanceof ConfigError, String(e));
    const issue = e.issues.find((i) => i.path === 'plugins.pluginLimits.limitr');
    assert.ok(issue, e.message);
    assert.match(issue.message, /names no plugin/);
    assert.match(issue.hint ?? '', /limiter/);
  });

  it('checks rules, references, addresses and URLs, all at once', async () => {
    const file = await write(
      'refs.yaml',
      [
        'entryPoints:',
        '  web: 127.0.0.1:99999', //                                 2
        'http:',
        '  routers:',
        '    api:',
        '      rule: "PathPrefix(`/api`))"', //                       6
        '      entryPoints: [web, websecure]', //                     7
        '      middlewares: [missing]', //                            8
        '      service: nope', //                                     9
        '  services:',
        '    s:',
        '      loadBalancer:',
        '        servers:',
        '          - url: ftp://x', //                                14
        '        forwardingTimeouts: { dialTimeout: 0s }', //         15
        '    both: { echo: {}, loadBalancer: { servers: [{ url: "http://a" }] } }', // 16
      ].join('\n'),
    );
    assert.deepEqual(await issuesOf(file), [
      'entryPoints.web: port 99999 is out of range (0-65535) (line 2)',
      "http.routers.api.rule: unexpected ')' at 19: expected '&&', '||' or end of rule (line 6)",
      'http.routers.api.entryPoints[1]: unknown entry point "websecure"; defined: web (line 7)',
      'http.routers.api.middlewares[0]: unknown middleware "missing"; none is defined under http.middlewares (line 8)',
      'http.routers.api.service: unknown service "nope"; defined: s, both (line 9)',
      'http.services.s.loadBalancer.servers[0].url: must be an http:// or https:// URL, e.g. http://127.0.0.1:3000 (got "ftp://x") (line 14)',
      'http.services.s.loadBalancer.forwardingTimeouts.dialTimeout: must be a positive duration, e.g. 500ms or 30s (line 15)',
      'http.services.both: must define only one of: echo, loadBalancer, weighted, mirroring, failover (line 16)',
    ]);
  });

  it('reports YAML syntax errors with their line and column', async () => {
    const file = await write('syntax.yaml', 'entryPoints:\n  web: [unclosed\n');
    const issues = await issuesOf(file);
    assert.equal(issues.length >= 1, true);
    assert.match(issues[0]!, /^\(yaml\): .*\(line \d+, column \d+\)$/);
  });

  it("checks each middleware's config against the JSON schema its plugin declares, and fills the schema's defaults", async (t) => {
    const file = await write(
      'mw.yaml',
      [
        'entryPoints: { web: "127.0.0.1:0" }',
        'http:',
        '  routers:',
        '    r: { rule: "PathPrefix(`/`)", middlewares: [lim, helper, ghost], service: echo }',
        '  middlewares:',
        '    lim:',
        '      plugin:',
        '        limiter:',
        '          limit: many', //      9
        '          burst: 3', //         10
        '    helper: { plugin: { helper: {} } }', // 11
        '    ghost: { plugin: { ghost: {} } }', //  12
        '  services: { echo: { echo: {} } }',
        'plugins: { dir: . }',
      ].join('\n'),
    );
    assert.deepEqual(await issuesOf(file), [
      'http.middlewares.lim.plugin.limiter.limit: must be an integer (line 9)',
      'http.middlewares.lim.plugin.limiter.burst: unknown key; expected one of: limit, window (line 10)',
      'http.middlewares.helper.plugin.helper: plugin "helper" is not a middleware: it exports neither onRequest nor onResponse (line 11)',
      'http.middlewares.ghost.plugin.ghost: no plugin named "ghost" is loaded; loaded plugins: helper, limiter, ver (line 12)',
    ]);
    const ok = await gateway(t, baseConfig(files.dir, { routers: { r: { rule: 'PathPrefix(`/`)', middlewares: ['lim'], service: 'echo' } }, middlewares: { lim: { plugin: { limiter: { limit: 5 } } } } }));
    const echoed = (await request(`${ok.url}/`)).json<{ headers: Record<string, string> }>();
    assert.equal(echoed.headers['x-limit'], '5');
    assert.equal(echoed.headers['x-window'], '1s', 'the default from the plugin schema');
  });

  it('reports rule and reference problems together with the middleware config problems, in file order', async () => {
    const file = await write(
      'together.yaml',
      [
        'entryPoints: { web: "127.0.0.1:0" }',
        'http:',
        '  routers:',
        '    r: { rule: "Path(`/x`))", middlewares: [lim, nope], service: echo }', // 4
        '  middlewares:',
        '    lim: { plugin: { limiter: { limit: 0 } } }', //                       6
        '  services: { echo: { echo: {} } }',
        'plugins: { dir: . }',
      ].join('\n'),
    );
    assert.deepEqual(await issuesOf(file), [
      "http.routers.r.rule: unexpected ')' at 11: expected '&&', '||' or end of rule (line 4)",
      'http.routers.r.middlewares[1]: unknown middleware "nope"; defined: lim (line 4)',
      'http.middlewares.lim.plugin.limiter.limit: must be >= 1 (line 6)',
    ]);
  });

  it('reload() swaps the routing table atomically, and a bad config is rejected with its issues while the running one keeps serving', async (t) => {
    const log = memoryLogger();
    const good = baseConfig(files.dir, { routers: { a: { rule: 'PathPrefix(`/a`)', service: 'echo' } } });
    const gw = await gateway(t, good, { logger: log });
    const events: boolean[] = [];
    gw.on('reload', (e) => events.push(e.ok));
    assert.equal((await request(`${gw.url}/b`)).status, 404);
    const bad = baseConfig(files.dir, { routers: { b: { rule: 'PathPrefix(`/b`', service: 'echo' } } });
    await assert.rejects(gw.reload(bad), (e: unknown) => e instanceof ConfigError && /http\.routers\.b\.rule: unexpected end of rule at 16: expected ',' or '\)'/.test(e.message));
    assert.equal((await request(`${gw.url}/a`)).status, 200, 'the running config is kept');
    assert.equal((await request(`${gw.url}/b`)).status, 404);
    await gw.reload(baseConfig(files.dir, { routers: { b: { rule: 'PathPrefix(`/b`)', middlewares: ['v'], service: 'echo' } }, middlewares: { v: { plugin: { ver: {} } } } }));
    assert.equal((await request(`${gw.url}/a`)).status, 404);
    const r = await request(`${gw.url}/b`);
    assert.equal(r.json<{ headers: Record<string, string> }>().headers['x-ver'], '1');
    assert.deepEqual(events, [false, true]);
    assert.ok(log.lines.some((l) => l.level === 'error' && /configuration rejected/.test(l.msg ?? '')));
  });

  it('reports changes to entryPoints, admin and plugins on reload as needing a restart, and applies the rest', async (t) => {
    const gw = await gateway(t, baseConfig(files.dir, { routers: { a: { rule: 'PathPrefix(`/a`)', service: 'echo' } } }));
    let ignored: string[] | undefined;
    gw.on('reload', (e) => (ignored = e.ignored));
    await gw.reload({ ...baseConfig(files.dir, { routers: { c: { rule: 'PathPrefix(`/c`)', service: 'echo' } } }), entryPoints: { web: '127.0.0.2:0' }, admin: '127.0.0.1:0' });
    assert.deepEqual(ignored, ['entryPoints', 'admin']);
    assert.equal((await request(`${gw.url}/c`)).status, 200);
    assert.equal(gw.admin, undefined);
  });

  it('follows the config file: a change is reloaded, a broken save is rejected and the running config stays', async (t) => {
    const file = await write('watched.yaml', yamlFor('/one'));
    const gw = await gateway(t, file, { watchConfig: true });
    const results: boolean[] = [];
    gw.on('reload', (e) => results.push(e.ok));
    assert.equal((await request(`${gw.url}/one`)).status, 200);
    await writeFile(file, yamlFor('/two'));
    await eventually(async () => (await request(`${gw.url}/two`)).status === 200, 'the new route is served');
    assert.equal((await request(`${gw.url}/one`)).status, 404);
    await writeFile(file, `${yamlFor('/three')}\n  oops: [`);
    await eventually(() => results.includes(false), 'the broken save is rejected');
    assert.equal((await request(`${gw.url}/two`)).status, 200);
  });

  function yamlFor(prefix: string): string {
    return ['entryPoints: { web: "127.0.0.1:0" }', 'accessLog: false', 'http:', '  routers:', `    r: { rule: "PathPrefix(\`${prefix}\`)", service: echo }`, '  services: { echo: { echo: {} } }', 'plugins: { dir: . }'].join('\n');
  }

  it('terrarium serve prints every issue of a bad config and exits 2', async () => {
    const file = await write('cli-bad.yaml', 'entryPoints: { web: "127.0.0.1:0" }\nhttp:\n  routers:\n    r: { rule: "Path(`/x`", service: nope }\n');
    const r = await cli(['serve', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /invalid configuration in .*cli-bad\.yaml:/);
    assert.match(r.stderr, /http\.routers\.r\.rule: unexpected end of rule at 10: expected ',' or '\)' \(line 4\)/);
    assert.match(r.stderr, /http\.routers\.r\.service: unknown service "nope"/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  it('terrarium serve serves, then shuts down gracefully on SIGTERM with exit code 0', async () => {
    const file = await write('cli-good.yaml', yamlFor('/'));
    const r = await cli(['--log-level', 'warn', 'serve', file], async (stdout, child) => {
      const m = /web\s+(http:\/\/\S+)/.exec(stdout);
      if (!m) return false;
      const reply = await request(`${m[1]}/hello`);
      assert.equal(reply.status, 200);
      assert.equal(reply.json<{ path: string }>().path, '/hello');
      child.kill('SIGTERM');
      return true;
    });
    assert.equal(r.code, 0, r.stderr);
  });
});

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

/** Run the built CLI; `onOutput` is called with stdout until it returns true. */
function cli(args: string[], onOutput?: (stdout: string, child: ReturnType<typeof spawn>) => Promise<boolean>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let handled = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (onOutput && !handled) {
        handled = true;
        onOutput(stdout, child).then(
          (done) => {
            handled = done;
          },
          (e: unknown) => {
            child.kill('SIGKILL');
            reject(e);
          },
        );
      }
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}
