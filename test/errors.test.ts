/** Error codes are stable and documented: docs/errors.md holds the table (README links to it). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as api from 'terrarium-plugins/errors';

const table = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');

describe('error codes', () => {
  it('documents every code in the errors table of docs/errors.md', () => {
    for (const code of api.ERROR_CODES) assert.match(table, new RegExp(`\\| \`${code}\` \\|`), `${code} is not in docs/errors.md`);
  });

  it('documents no code that does not exist, and every documented class is raised somewhere in src', () => {
    const rows = [...table.matchAll(/^\| `(ERR_[A-Z_]+)` \| `(\w+)` \|/gm)].map((m) => ({ code: m[1]!, cls: m[2]! }));
    assert.deepEqual(rows.map((r) => r.code).sort(), [...api.ERROR_CODES].sort(), 'docs/errors.md table and ERROR_CODES differ');
    const srcDir = fileURLToPath(new URL('../src', import.meta.url));
    const sources = (readdirSync(srcDir, { recursive: true }) as string[])
      .filter((f) => f.endsWith('.ts') && path.basename(f) !== 'errors.ts')
      .map((f) => readFileSync(path.join(srcDir, f), 'utf8'))
      .join('\n');
    for (const { code, cls } of rows) assert.ok(sources.includes(`new ${cls}(`), `${code} (${cls}) is documented but never raised in src/`);
  });

  it('has one exported subclass per code, each setting its own code', () => {
    const ctx = { plugin: 'p', engine: 'quickjs', file: 'p.js', exportName: 'f', line: 3 };
    const made = [
      new api.PluginLoadError('bad', ctx),
      new api.PluginThrownError('boom', ctx),
      new api.PluginTimeoutError(10, 'call', ctx),
      new api.PluginMemoryError(16 << 20, ctx),
      new api.PluginStackError(1024, ctx),
      new api.MarshalError('$.a', 'a function', 'argument 1', ctx),
      new api.NoExportError(['g'], ctx),
      new api.NoPluginError('q', ['p']),
      new api.PluginUnavailableError('is restarting', ctx),
      new api.OptionsError('bad option', 'fix it'),
      new api.ApiVersionError('2', ['1'], ctx),
      new api.SelfTestError(['f#1: expected 1, got 2'], ctx),
      new api.SignatureError('is not signed', ctx),
      new api.ConfigError('gateway.yaml', [{ path: 'http.routers.api.rule', message: "unexpected ')' at 23" }]),
      new api.MiddlewareResultError('onRequest returned an unknown key "setHeader"', ctx),
      new api.GatewayError('unexpected'),
      new api.KvUnavailableError('timeout', 'incr', 'no answer within 100 ms'),
      new api.ExportsRemovedError(['onResponse'], { next: '2', serving: '1', required: false }, ctx),
      new api.FixtureError('case 2 has no expect', { file: 'p.test.json', line: 4 }),
      new api.TypeCheckError(['p.ts:3:5 Type mismatch'], ctx),
      new api.ListenError('entryPoints.web', '127.0.0.1:8080', Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' })),
      new api.UnsupportedProviderError('docker', 'traefik.yml'),
      new api.EnvoyUnsupportedError('handle:route()', 'filter.lua:3', ctx),
      new api.AdminInsecureError('0.0.0.0:8081', 'no auth on a public address', 'Add admin.auth'), // the admin's own refusal (admin-auth.test.ts)
      new api.FetchDeniedError('origin', 'https://evil.example/', 'p', 'not allowlisted'),
      new api.FetchLimitError('size', 'https://a.example/', 'p', 1024, 'too big'),
      new api.FetchFailedError('https://a.example/', 'p', 'ECONNREFUSED'),
      new api.PermissionError(['fetch https://a.example'], ctx, 'grant it'),
    ];
    assert.deepEqual(made.map((e) => e.code).sort(), [...api.ERROR_CODES].sort());
    for (const e of made) {
      assert.ok(e instanceof api.TerrariumError);
      assert.ok(e instanceof Error);
      assert.ok(e.message.startsWith(`${e.code}: `), e.message);
    }
  });

  it('names the plugin, the export and file:line in messages', () => {
    const e = new api.PluginThrownError('boom', { plugin: 'p', engine: 'lua', file: 'p.lua', exportName: 'f', line: 7 });
    assert.match(e.message, /plugin "p" export "f" \(lua, p\.lua:7\)/);
    assert.equal(e.location, 'p.lua:7');
  });
});
