/** Error codes are stable and documented. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as api from 'terrarium';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('error codes', () => {
  it('documents every code in the README errors table', () => {
    for (const code of api.ERROR_CODES) assert.match(readme, new RegExp(`\\| \`${code}\` \\|`), `${code} is not in the README`);
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
      new api.ListenError('entryPoints.web', '127.0.0.1:8080', Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' })),
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
