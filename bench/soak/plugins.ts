/**
 * What the soak's gateway serves: the two hot-reloaded middleware plugins (one per engine, two
 * alternating versions, each counting in the kv store), the hostile plugins (one file per limit
 * class, each on its own route), and the gateway YAML that binds them.
 */

/** One limit class a hostile plugin breaks on every request, and the code the gateway answers with. */
export interface Attack {
  key: string;
  engine: 'js' | 'lua';
  /** What the plugin does, for the report. */
  label: string;
  /** The code the gateway's 502 body should carry (ERR_PLUGIN_UNAVAILABLE is also expected: quarantine). */
  expect: string;
  source: string;
}

const jsMeta = (name: string) => `export const meta = { name: '${name}', version: '1.0.0', apiVersion: 1, gateway: { requestHeaders: [] } };`;
const luaHead = (name: string) => `local M = { meta = { name = '${name}', version = '1.0.0', apiVersion = 1, gateway = { requestHeaders = {} } } }`;

const js = (key: string, label: string, expect: string, prelude: string, body: string): Attack => ({
  key,
  engine: 'js',
  label,
  expect,
  source: `${jsMeta(key)}\n${prelude}\nexport function onRequest(req) {\n  ${body}\n}\n`,
});
const lua = (key: string, label: string, expect: string, prelude: string, body: string): Attack => ({
  key,
  engine: 'lua',
  label,
  expect,
  source: `${luaHead(key)}\n${prelude}\nfunction M.onRequest(req)\n  ${body}\nend\nreturn M\n`,
});

/** Every limit class, in the order the hostile client cycles through them. */
export const ATTACKS: readonly Attack[] = [
  js('js-timeout', 'JS: for (;;) {}', 'ERR_PLUGIN_TIMEOUT', '', 'for (;;) {}'),
  js('js-recursion', 'JS: unbounded recursion', 'ERR_PLUGIN_STACK', 'function f(n) { return f(n + 1) + 1; }', 'return f(0);'),
  js('js-memory', 'JS: keep 1 MiB Uint8Arrays until the cap', 'ERR_PLUGIN_MEMORY', '', 'const keep = []; for (;;) keep.push(new Uint8Array(1 << 20));'),
  js('js-spread', 'JS: [...a] of 2^20 elements, in a loop', 'ERR_PLUGIN_TIMEOUT', 'const a = new Array(1 << 20).fill(1);', 'let n = 0; for (;;) n += [...a].length;'),
  // BigInt is off unless granted (a literal in the file fails its load): the attack builds one at
  // run time through eval, which refuses it; the plugin sees a SyntaxError (ERR_PLUGIN_THROWN).
  js('js-bigint', 'JS: BigInt multiply of 500,000-bit numbers built by eval, in a loop', 'ERR_PLUGIN_THROWN', '', "const b = (0, eval)('3' + 'n ** 315000' + 'n'); let n = b; for (;;) n ^= b * b;"),
  lua('lua-timeout', 'Lua: while true do end', 'ERR_PLUGIN_TIMEOUT', '', 'while true do end'),
  lua('lua-recursion', 'Lua: unbounded recursion', 'ERR_PLUGIN_STACK', 'local function f(n) return f(n + 1) + 1 end', 'return f(1)'),
  lua('lua-memory', 'Lua: a string doubled until the cap, every step kept', 'ERR_PLUGIN_MEMORY', '', "local s, keep = string.rep('x', 65536), {} while true do s = s .. s keep[#keep + 1] = s end"),
  lua('lua-pcall', 'Lua: pcall around a spin, in a loop', 'ERR_PLUGIN_TIMEOUT', '', 'while true do pcall(function() while true do end end) end'),
];

/**
 * A hot-reloaded middleware at generation `gen`: the two versions alternate (A on even, B on
 * odd generations) and differ in code, not only in the string they answer, and every version
 * tags the response with its generation so the load generator sees which one served it. Each
 * request also bumps a kv counter; while the kv store is down (Redis restarting) the plugin
 * serves on, telling so in x-soak-kv, the fallback a plugin author is told to write.
 */
export function taggedSource(engine: 'js' | 'lua', gen: number): string {
  const variant = gen % 2 === 0 ? 'A' : 'B';
  const name = `soak-${engine}`;
  if (engine === 'js') {
    const body =
      variant === 'A'
        ? `let kv;\n  try { kv = String(host.kv.incr('soak:js')); } catch (e) { kv = e.code === 'ERR_KV_UNAVAILABLE' ? 'down' : 'error:' + e.code; }\n  return { setHeaders: { 'x-soak-gen': '${gen}', 'x-soak-variant': 'A', 'x-soak-kv': kv } };`
        : `const headers = { 'x-soak-gen': String(${gen}), 'x-soak-variant': 'B' };\n  try { headers['x-soak-kv'] = String(host.kv.incr('soak:js', 1)); } catch (e) { headers['x-soak-kv'] = e.code === 'ERR_KV_UNAVAILABLE' ? 'down' : 'error:' + e.code; }\n  return { setHeaders: headers };`;
    return `export const meta = { name: '${name}', version: '1.0.${gen}', apiVersion: 1, gateway: { requestHeaders: [] } };\nexport function onResponse(res) {\n  ${body}\n}\n`;
  }
  const body =
    variant === 'A'
      ? `local ok, kv = pcall(host.kv.incr, 'soak:lua')\n  if ok then kv = tostring(kv) elseif tostring(kv):find('ERR_KV_UNAVAILABLE', 1, true) then kv = 'down' else kv = 'error:' .. tostring(kv) end\n  return { setHeaders = { ['x-soak-gen'] = '${gen}', ['x-soak-variant'] = 'A', ['x-soak-kv'] = kv } }`
      : `local h = { ['x-soak-gen'] = tostring(${gen}), ['x-soak-variant'] = 'B' }\n  local ok, kv = pcall(function() return host.kv.incr('soak:lua', 1) end)\n  h['x-soak-kv'] = ok and tostring(kv) or (tostring(kv):find('ERR_KV_UNAVAILABLE', 1, true) and 'down' or 'error:' .. tostring(kv))\n  return { setHeaders = h }`;
  return `local M = { meta = { name = '${name}', version = '1.0.${gen}', apiVersion = 1, gateway = { requestHeaders = {} } } }\nfunction M.onResponse(res)\n  ${body}\nend\nreturn M\n`;
}

export interface GatewayYamlOptions {
  pluginDir: string;
  upstreamUrl: string;
  attacks: readonly Attack[];
  /** A redis:// URL for the kv backend; the memory backend without. */
  redisUrl?: string;
  /** callTimeoutMs of the hostile plugins that spin (the well-behaved ones keep the defaults). */
  hostileTimeoutMs: number;
  /**
   * callTimeoutMs of the hostile plugins that break the memory or stack limit: long enough that
   * they meet that limit before their time budget, even on a loaded machine (the Lua memory cap is
   * checked by a walk of the state, not at every allocation).
   */
  hostileBudgetMs: number;
  /** memoryBytes of the hostile plugins. */
  hostileMemoryBytes: number;
}

/** The gateway configuration: /js and /lua through the hot-reloaded plugins, /hostile/<key> through one attack each. */
export function gatewayYaml(o: GatewayYamlOptions): string {
  const routers = [
    `    js:\n      rule: "PathPrefix(\`/js\`)"\n      middlewares: [soak-js]\n      service: upstream`,
    `    lua:\n      rule: "PathPrefix(\`/lua\`)"\n      middlewares: [soak-lua]\n      service: upstream`,
    ...o.attacks.map((a) => `    ${a.key}:\n      rule: "Path(\`/hostile/${a.key}\`)"\n      middlewares: [${a.key}]\n      service: upstream`),
  ];
  const middlewares = ['soak-js', 'soak-lua', ...o.attacks.map((a) => a.key)].map((n) => `    ${n}:\n      plugin:\n        ${n}: {}`);
  const limits = o.attacks.map(
    (a) => `    ${a.key}:\n      callTimeoutMs: ${a.expect === 'ERR_PLUGIN_TIMEOUT' ? o.hostileTimeoutMs : o.hostileBudgetMs}\n      memoryBytes: ${o.hostileMemoryBytes}`,
  );
  const kv = o.redisUrl
    ? `    kv:\n      backend: redis\n      redis:\n        url: ${o.redisUrl}\n        keyPrefix: "soak:"\n        timeout: 200ms`
    : `    kv: true`;
  return `entryPoints:
  web:
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
accessLog: false
http:
  routers:
${routers.join('\n')}
  middlewares:
${middlewares.join('\n')}
  services:
    upstream:
      loadBalancer:
        servers:
          - url: ${o.upstreamUrl}
plugins:
  dir: ${JSON.stringify(o.pluginDir)}
  watch:
    debounceMs: 50
  pluginLimits:
${limits.length ? limits.join('\n') : '    {}'}
  capabilities:
${kv}
`;
}
