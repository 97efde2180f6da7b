/**
 * The Lua copy fast path (src/engines/lua/marshal.ts): tables appended directly, decoded keys
 * cached by their fengari hash, host text remembered per interned Lua string, plain stores into
 * copied-out objects. Each case checks that a shortcut gives what the plain copy gave.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHost, type Host } from 'terrarium-plugins';
import { LIMITS, expectCode, fixtureDir } from './engines/conformance.js';

type Api = Record<string, (...a: unknown[]) => unknown>;

describe('lua copy fast path', () => {
  let host: Host;
  let api: Api;
  before(async () => {
    const dir = await fixtureDir({
      'fast.lua': `
local M = {}
local kept
function M.echoKeys(req)
  local out = {}
  for k, v in pairs(req.headers) do out['x-echo-' .. k] = v end
  return out
end
function M.protoNames()
  local t = {}
  t['__proto__'] = { polluted = 'yes' }
  t['toString'] = 'str'
  t['constructor'] = 'ctor'
  t['hasOwnProperty'] = 1
  t['plain'] = true
  return t
end
function M.badKey(n) local t = {} t['k' .. string.char(255) .. n] = 1 return t end
function M.keep(req) kept = req; req.headers.host = 'changed'; req.extra = 1; return true end
function M.readKept() return { host = kept.headers.host, extra = kept.extra } end
function M.same(s) return s end
function M.eq(s) return s == 'h\\195\\169llo' end
function M.built(n) return string.rep('\\226\\130\\172', n) end
return M
`,
    });
    host = await createHost({ dir, limits: LIMITS, quarantine: { maxViolations: Infinity } });
    api = host.get<Api>('fast') as unknown as Api;
  });
  after(() => host.close());

  it('copies keys built in Lua the same way on every call (the key cache)', () => {
    const req = { headers: { host: 'a.example', 'user-agent': 'x'.repeat(300), accept: '*/*', 'x-é': 'ü' } };
    const want = { 'x-echo-host': 'a.example', 'x-echo-user-agent': 'x'.repeat(300), 'x-echo-accept': '*/*', 'x-echo-x-é': 'ü' };
    for (let i = 0; i < 3; i++) assert.deepEqual(api.echoKeys!(req), want);
    const other = { headers: { host: 'b.example' } };
    assert.deepEqual(api.echoKeys!(other), { 'x-echo-host': 'b.example' });
  });

  it('makes Object.prototype names own data properties and pollutes nothing', () => {
    const out = api.protoNames!() as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, { polluted: 'yes' });
    assert.equal(Object.getOwnPropertyDescriptor(out, 'toString')?.value, 'str');
    assert.equal(Object.getOwnPropertyDescriptor(out, 'constructor')?.value, 'ctor');
    assert.equal(Object.getOwnPropertyDescriptor(out, 'hasOwnProperty')?.value, 1);
    assert.equal(out.plain, true);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(typeof Object.prototype.toString, 'function');
  });

  it('refuses a key that is not valid UTF-8 on every call (never cached)', async () => {
    for (let i = 0; i < 3; i++) {
      const e = await expectCode(() => api.badKey!(1), 'ERR_MARSHAL');
      assert.match(e.message, /not valid UTF-8/);
    }
  });

  it('gives the plugin copies: mutations and kept references never reach the host value', () => {
    const req = { headers: { host: 'orig' } };
    assert.equal(api.keep!(req), true);
    assert.deepEqual(req, { headers: { host: 'orig' } });
    assert.deepEqual(api.readKept!(), { host: 'changed', extra: 1 });
    const req2 = { headers: { host: 'second' } };
    api.keep!(req2);
    assert.deepEqual(req2, { headers: { host: 'second' } });
  });

  it('returns host text unchanged and compares it byte for byte with Lua literals', () => {
    assert.equal(api.same!('héllo'), 'héllo');
    assert.equal(api.eq!('héllo'), true);
    const long = 'é'.repeat(400);
    assert.equal(api.same!(long), long);
    assert.equal(api.built!(3), '€€€');
  });
});
