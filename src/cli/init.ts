/**
 * `terrarium init <dir> --lang js|ts|lua [--middleware | --envoy]`: scaffolds a plugin that loads and passes
 * `terrarium test` as written, so an author starts from something that works and changes it.
 * The templates live here as text (not as files in the package) so the command has nothing to
 * find at run time, wherever the package is installed.
 */
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const INIT_LANGS = ['js', 'ts', 'lua'] as const;
export type InitLang = (typeof INIT_LANGS)[number];

/** Why init refused (a usage error: the CLI prints it on one line and exits 2). */
export class InitError extends Error {}

/** The plugin name from the directory's name: lower-case letters, digits and dashes. */
export function pluginNameFor(dir: string): string {
  const name = path
    .basename(path.resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return name || 'my-plugin';
}

const EXT: Record<InitLang, string> = { js: 'js', ts: 'ts', lua: 'lua' };

/**
 * Creates `dir` (refusing one that exists and is not empty) and writes the plugin and its README;
 * returns the files written. `envoy`: an Envoy-style Lua filter (docs/envoy.md), a middleware too.
 */
export function initPlugin(dir: string, lang: InitLang, middleware: boolean, envoy = false): string[] {
  if (envoy && lang !== 'lua') throw new InitError(`--envoy scaffolds an Envoy Lua filter: use --lang lua (not ${lang})`);
  let exists = false;
  try {
    const st = statSync(dir);
    if (!st.isDirectory()) throw new InitError(`${dir} exists and is not a directory`);
    exists = true;
  } catch (e) {
    if (e instanceof InitError) throw e;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new InitError(`cannot use ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (exists && readdirSync(dir).length > 0) throw new InitError(`${dir} is not empty; init writes only into a new or empty directory`);
  const name = pluginNameFor(dir);
  const file = `${name}.${EXT[lang]}`;
  const files: Record<string, string> = {
    [file]: envoy ? envoySource(name) : middleware ? middlewareSource(lang, name) : pluginSource(lang, name),
    'README.md': envoy ? envoyReadme(name, file) : readme(lang, name, file, middleware),
  };
  files[`${name}.test.json`] = envoy ? envoyFixture(name) : fixture(name, middleware);
  if (lang === 'ts') files['tsconfig.json'] = TSCONFIG;
  try {
    mkdirSync(dir, { recursive: true });
    for (const [f, text] of Object.entries(files)) writeFileSync(path.join(dir, f), text, { flag: 'wx' });
  } catch (e) {
    throw new InitError(`cannot write into ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return Object.keys(files).map((f) => path.join(dir, f));
}

/** The fixture file `terrarium test` runs next to the plugin (src/cli/fixtures.ts): passes as written. */
function fixture(name: string, middleware: boolean): string {
  const doc = middleware
    ? {
        config: { status: 451, greeting: 'hi' },
        cases: [
          { name: 'blocks a request with x-block, with the configured status', request: { method: 'GET', path: '/admin', headers: { 'x-block': '1' } }, expect: { respond: { status: 451, body: { error: 'blocked' } } } },
          { name: 'tags the others', request: { path: '/' }, expect: { setHeaders: { 'x-greeting': 'hi' }, state: { tagged: true } } },
          { name: 'marks the response of a tagged request', response: { status: 200 }, state: { tagged: true }, expect: { setHeaders: { 'x-served-by': name } } },
          { name: 'leaves an untagged response alone', response: { status: 200 }, expect: null },
        ],
      }
    : {
        cases: [{ name: 'greets by name', export: 'greet', args: ['Grace'], expect: 'Hello, Grace!' }],
      };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

// The TS scaffold type-checks against the package's author types (terrarium-plugins/plugin);
// NodeNext resolution is what reads the package's "exports" map.
const TSCONFIG = `{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "lib": ["ES2023", "DOM"],
    "types": [],
    "strict": true,
    "noEmit": true,
    "skipLibCheck": true
  },
  "include": ["*.ts"]
}
`;

function pluginSource(lang: InitLang, name: string): string {
  if (lang === 'lua') {
    return `-- ${name}: a Terrarium plugin (Lua). Exports are the function fields of the returned table.
-- Editor types: see README.md (types/terrarium.lua of the terrarium-plugins package).
local M = {
  meta = {
    name = '${name}',
    version = '0.1.0',
    apiVersion = 1,
    description = 'Greets people',
    -- Self-tests: run on every load and by \`terrarium test\`; a failure blocks activation.
    tests = {
      greet = { { args = { 'Ada' }, expect = 'Hello, Ada!' } },
    },
  },
}

function M.greet(who)
  -- host.config is this plugin's config from the host (nil when none is given).
  local greeting = (host.config and host.config.greeting) or 'Hello'
  return greeting .. ', ' .. tostring(who) .. '!'
end

-- Free-form self-test: error() or return false to fail.
function M.selftest()
  return M.greet('x') == 'Hello, x!'
end

return M
`;
  }
  const ts = lang === 'ts';
  return `${ts ? '/// <reference types="terrarium-plugins/plugin" />\n' : ''}// ${name}: a Terrarium plugin (${ts ? 'TypeScript' : 'JavaScript'}). Every exported function is part of its API.
${ts ? "import type { PluginMeta } from 'terrarium-plugins/plugin';\n\n" : ''}export const meta${ts ? ': PluginMeta' : ''} = {
  name: '${name}',
  version: '0.1.0',
  apiVersion: 1,
  description: 'Greets people',
  // Self-tests: run on every load and by \`terrarium test\`; a failure blocks activation.
  tests: {
    greet: [{ args: ['Ada'], expect: 'Hello, Ada!' }],
  },
};

${ts ? 'interface Config {\n  greeting?: string;\n}\n\n' : ''}export function greet(who${ts ? ': string' : ''})${ts ? ': string' : ''} {
  // host.config is this plugin's config from the host (undefined when none is given).
  const config = host.config${ts ? ' as Config | undefined' : ''};
  return \`\${config?.greeting ?? 'Hello'}, \${who}!\`;
}

// Free-form self-test: throw or return false to fail.
export function selftest()${ts ? ': boolean' : ''} {
  return greet('x') === 'Hello, x!';
}
`;
}

// The example request and context of the self-tests: what the gateway passes (src/gateway/middleware/contract.ts).
const REQ_BLOCKED = `{ method: 'GET', path: '/', query: {}, headers: { 'x-block': '1' }, client: { address: '127.0.0.1', port: 40000 } }`;
const REQ_PLAIN = `{ method: 'GET', path: '/', query: {}, headers: {}, client: { address: '127.0.0.1', port: 40000 } }`;
const CTX = `{ config: { status: 403, greeting: 'hi' }, state: {}, router: 'r', middleware: 'm' }`;

/** `{ a: 1 }` JavaScript literals to Lua table constructors (the examples above only). */
function luaTable(js: string): string {
  return js
    .replace(/\{\s*\}/g, 'host.object({})')
    .replace(/'([a-z-]+)': /g, "['$1'] = ")
    .replace(/(\w+): /g, '$1 = ');
}

function middlewareSource(lang: InitLang, name: string): string {
  if (lang === 'lua') {
    return `-- ${name}: a Terrarium gateway middleware (Lua). The gateway calls onRequest(req, ctx) and
-- onResponse(res, ctx); see docs/gateway.md, "Writing a middleware", for what they may return.
-- Editor types: see README.md (types/terrarium.lua of the terrarium-plugins package).
---@type terrarium.Middleware
local M = {
  meta = {
    name = '${name}',
    version = '0.1.0',
    apiVersion = 1,
    description = 'Blocks requests carrying x-block; tags the others',
    -- The gateway checks this middleware's config against the schema and fills in the defaults.
    configSchema = {
      type = 'object',
      additionalProperties = false,
      properties = {
        status = { type = 'integer', minimum = 400, maximum = 499, default = 403 },
        greeting = { type = 'string', default = 'hello' },
      },
    },
    -- Only these request headers are copied into req.headers (copying is most of a call's cost):
    -- a header read but not listed here is never seen.
    gateway = { requestHeaders = { 'x-block' } },
    -- Self-tests: run on every load and by \`terrarium test\`; a failure blocks activation.
    tests = {
      onRequest = {
        { args = { ${luaTable(REQ_BLOCKED)}, ${luaTable(CTX)} },
          expect = { respond = { status = 403, body = { error = 'blocked' } } } },
        { args = { ${luaTable(REQ_PLAIN)}, ${luaTable(CTX)} },
          expect = { setHeaders = { ['x-greeting'] = 'hi' }, state = { tagged = true } } },
      },
      onResponse = {
        { args = { { status = 200, headers = host.object({}) }, { config = ${luaTable("{ status: 403, greeting: 'hi' }")}, state = { tagged = true }, router = 'r', middleware = 'm' } },
          expect = { setHeaders = { ['x-served-by'] = '${name}' } } },
      },
    },
  },
}

function M.onRequest(req, ctx)
  -- Answer now: the rest of the chain and the upstream are skipped.
  if req.headers['x-block'] then
    return { respond = { status = ctx.config.status, body = { error = 'blocked' } } }
  end
  -- Otherwise add a header for the upstream, and remember something for onResponse.
  return { setHeaders = { ['x-greeting'] = ctx.config.greeting }, state = { tagged = true } }
end

function M.onResponse(res, ctx)
  if ctx.state.tagged then
    return { setHeaders = { ['x-served-by'] = '${name}' } }
  end
end

return M
`;
  }
  const ts = lang === 'ts';
  const T = (s: string) => (ts ? s : '');
  return `${T('/// <reference types="terrarium-plugins/plugin" />\n')}// ${name}: a Terrarium gateway middleware (${ts ? 'TypeScript' : 'JavaScript'}). The gateway calls onRequest(req, ctx)
// and onResponse(res, ctx); see docs/gateway.md, "Writing a middleware", for what they may return.
${T(
  "import type { MiddlewareContext, MiddlewareRequest, MiddlewareResponse, PluginMeta, RequestDecision, ResponseDecision } from 'terrarium-plugins/plugin';\n",
)}
export const meta${T(': PluginMeta')} = {
  name: '${name}',
  version: '0.1.0',
  apiVersion: 1,
  description: 'Blocks requests carrying x-block; tags the others',
  // The gateway checks this middleware's config against the schema and fills in the defaults.
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      status: { type: 'integer', minimum: 400, maximum: 499, default: 403 },
      greeting: { type: 'string', default: 'hello' },
    },
  },
  // Only these request headers are copied into req.headers (copying is most of a call's cost):
  // a header read but not listed here is never seen.
  gateway: { requestHeaders: ['x-block'] },
  // Self-tests: run on every load and by \`terrarium test\`; a failure blocks activation.
  tests: {
    onRequest: [
      { args: [${REQ_BLOCKED}, ${CTX}], expect: { respond: { status: 403, body: { error: 'blocked' } } } },
      { args: [${REQ_PLAIN}, ${CTX}], expect: { setHeaders: { 'x-greeting': 'hi' }, state: { tagged: true } } },
    ],
    onResponse: [
      { args: [{ status: 200, headers: {} }, { config: { status: 403, greeting: 'hi' }, state: { tagged: true }, router: 'r', middleware: 'm' }], expect: { setHeaders: { 'x-served-by': '${name}' } } },
    ],
  },
};
${T('\ninterface Config {\n  status: number;\n  greeting: string;\n}\n')}
export function onRequest(req${T(': MiddlewareRequest')}, ctx${T(': MiddlewareContext')})${T(': RequestDecision | undefined')} {
  const config = ctx.config${T(' as Config')};
  // Answer now: the rest of the chain and the upstream are skipped.
  if (req.headers['x-block'] !== undefined) return { respond: { status: config.status, body: { error: 'blocked' } } };
  // Otherwise add a header for the upstream, and remember something for onResponse.
  return { setHeaders: { 'x-greeting': config.greeting }, state: { tagged: true } };
}

export function onResponse(res${T(': MiddlewareResponse')}, ctx${T(': MiddlewareContext')})${T(': ResponseDecision | undefined')} {
  if (ctx.state.tagged) return { setHeaders: { 'x-served-by': '${name}' } };
  return undefined;
}
`;
}

function readme(lang: InitLang, name: string, file: string, middleware: boolean): string {
  const types =
    lang === 'ts'
      ? `## Types

\`${file}\` references the author types of the package (\`/// <reference types="terrarium-plugins/plugin" />\`:
the \`host\` global, the middleware contract, \`PluginMeta\`). With \`terrarium-plugins\` installed
next to it (\`npm install -D terrarium-plugins typescript\`), \`npx tsc -p .\` type-checks the plugin
(tsconfig.json is strict). The host itself only strips the types; it never checks them.
`
      : lang === 'lua'
        ? `## Editor types

The package ships \`types/terrarium.lua\`, a \`---@meta\` file for lua-language-server declaring
\`host\`, the platform libraries (json, base64, hex, crypto, os) and the middleware tables. Point
the language server at it, e.g. in \`.luarc.json\`:
\`{ "workspace.library": ["node_modules/terrarium-plugins/types"] }\`.
`
        : `## Types

For editor help in JavaScript, add \`/// <reference types="terrarium-plugins/plugin" />\` at the top
of \`${file}\` (with \`terrarium-plugins\` installed): it declares the \`host\` global and the
middleware contract.
`;
  const use = middleware
    ? `${useInGateway(name, file, '{ status: 403, greeting: hello }   # checked against meta.configSchema')}
Then list \`${name}\` in a router's \`middlewares\`. A request with \`x-block\` gets 403; the others
reach the upstream with \`x-greeting\`, and the response gets \`x-served-by\`.
`
    : `## Call it

\`\`\`sh
npx terrarium call ${file} greet '"Ada"'
npx terrarium call ${file} greet '"Ada"' --config '{"greeting":"Hi"}'
\`\`\`
`;
  return `# ${name}

A Terrarium plugin${middleware ? ' (gateway middleware)' : ''}, written in ${lang === 'ts' ? 'TypeScript' : lang === 'lua' ? 'Lua' : 'JavaScript'}; made by \`terrarium init\`.

## Test it

\`\`\`sh
npx terrarium test ${file}
\`\`\`

runs the self-tests in \`meta.tests\` and \`selftest()\` (they also run on every load and reload:
a failing one keeps the new version from serving), then the fixtures in \`${name}.test.json\`:
${middleware ? 'requests in, decisions out' : 'an export, its arguments and the result'}, with the config to use, in the same sandbox and limits as
production. A mismatch prints the JSON path with what was expected and what came back.${lang === 'ts' ? ' A type\nerror against the author types fails it too.' : ''}

\`\`\`sh
npx terrarium cost ${file} --fixtures ${name}.test.json   # µs per call, memory, load time
\`\`\`

${use}
${types}`;
}

/**
 * An Envoy HTTP Lua filter: the globals envoy_on_request/envoy_on_response and a handle, run by the
 * gateway's adapter (src/gateway/middleware/envoy/) as an ordinary middleware, so the fixtures below
 * are middleware decisions. It keeps to handle methods the adapter supports (docs/envoy.md).
 */
function envoySource(name: string): string {
  return `-- ${name}: an Envoy-style HTTP Lua filter, run by the Terrarium gateway as a middleware
-- (docs/envoy.md lists the handle methods it supports). It returns nothing and has no meta: the
-- plugin's name is the file's name. handle:metadata() reads the middleware config's \`metadata\`.

function envoy_on_request(handle)
  local metadata = handle:metadata()
  -- Answer now: the rest of the chain and the upstream are skipped.
  if handle:headers():get("x-block") ~= nil then
    handle:respond({ [":status"] = tostring(metadata:get("status") or 403) }, "blocked")
    return
  end
  -- Otherwise add a header for the upstream.
  handle:headers():add("x-greeting", metadata:get("greeting") or "hello")
end

function envoy_on_response(handle)
  handle:headers():add("x-served-by", "${name}")
end
`;
}

/** The filter's fixtures: what the adapter turns its handle calls into (respond, setHeaders). */
function envoyFixture(name: string): string {
  const doc = {
    config: { metadata: { status: 451, greeting: 'hi' } },
    cases: [
      { name: 'blocks a request with x-block, with the configured status', request: { method: 'GET', path: '/admin', headers: { 'x-block': '1' } }, expect: { respond: { status: 451, headers: {}, body: 'blocked' } } },
      { name: 'adds x-greeting to the others', request: { path: '/' }, expect: { setHeaders: { 'x-greeting': 'hi' } } },
      { name: 'marks every response', response: { status: 200 }, expect: { setHeaders: { 'x-served-by': name } } },
    ],
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function envoyReadme(name: string, file: string): string {
  return `# ${name}

An Envoy-style HTTP Lua filter for the Terrarium gateway; made by \`terrarium init --envoy\`.
The gateway runs \`envoy_on_request\` / \`envoy_on_response\` unchanged, as a middleware (see
docs/envoy.md of terrarium-plugins for the handle methods it supports and where it differs).

## Test it

\`\`\`sh
npx terrarium test ${file}
\`\`\`

runs the fixtures in \`${name}.test.json\`: requests in, middleware decisions out (what the
filter's \`respond\` and \`headers():add\` become), with the config to use (\`metadata\` is what
\`handle:metadata():get\` reads), in the same sandbox and limits as production. A mismatch
prints the JSON path with what was expected and what came back.

\`\`\`sh
npx terrarium cost ${file}   # µs and work units (Lua VM instructions) per call, memory, load time
\`\`\`

${useInGateway(name, file, '{ metadata: { status: 403, greeting: hello } }')}
Then list \`${name}\` in a router's \`middlewares\`. A request with \`x-block\` gets 403; the others
reach the upstream with \`x-greeting\`, and every response gets \`x-served-by\`.
`;
}

/** The README's gateway config for a middleware scaffold, with `config` as its middleware config. */
function useInGateway(name: string, file: string, config: string): string {
  return `## Use it in the gateway

\`\`\`yaml
plugins:
  dir: ./plugins          # put ${file} there
http:
  middlewares:
    ${name}:
      plugin:
        ${name}: ${config}
\`\`\`
`;
}
