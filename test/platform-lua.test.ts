/**
 * The platform's Lua libraries (src/platform/lua.ts): json (cjson names, the marshalling rules'
 * null and empty-table handling), base64, hex, crypto (digest, hmac, random_bytes) and the safe
 * os subset. Spec data: WPT forgiving-base64 (valid cases) and RFC 4231.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { createHost, type Host } from 'terrarium-plugins';
import { expectCode, fixtureDir } from './engines/conformance.js';

const LIMITS = { memoryBytes: 8 * 1024 * 1024, callTimeoutMs: 20_000, loadTimeoutMs: 20_000, stackBytes: 256 * 1024 };
const data = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/platform/${name}`, import.meta.url), 'utf8'));

const PLUGIN = `
local M = {}
function M.encode(v) return json.encode(v) end
function M.encodeLua() return json.encode({ a = 1, list = { 1, 'two', json.null }, empty = {}, obj = host.object({}), arr = host.array({}) }) end
function M.roundtrip(s) return json.encode(json.decode(s)) end
function M.decodeNull() local d = json.decode('{"x":null,"y":[null,1]}') return host.array({ d.x == json.null, d.y[1] == json.null, d.y[2], json.null == host.null }) end
function M.encodeError(kind)
  local v
  if kind == 'bytes' then v = { s = '\\255\\254' } elseif kind == 'nan' then v = { n = 0/0 } else v = { f = print } end
  local ok, err = pcall(json.encode, v)
  return host.array({ ok, tostring(err) })
end
function M.decodeError(s) local ok, err = pcall(json.decode, s) return host.array({ ok, tostring(err) }) end
function M.b64(s) return base64.encode(s) end
function M.unb64(s) local r = base64.decode(s) if r == nil then return 'nil' end return hex.encode(r) end
function M.hexRound() local s = '\\0\\1\\255abc' return host.array({ hex.encode(s), hex.decode(hex.encode(s)) == s, hex.decode('zz') == nil, hex.decode('abc') == nil }) end
function M.digest(alg, s) return hex.encode(crypto.digest(alg, s)) end
function M.hmac(alg, keyHex, s) return hex.encode(crypto.hmac(alg, hex.decode(keyHex), s)) end
function M.badAlg() local ok, err = pcall(crypto.digest, 'md5', 'x') return host.array({ ok, tostring(err) }) end
function M.random() local a, b = crypto.random_bytes(32), crypto.random_bytes(32) return host.array({ #a, a ~= b, #crypto.random_bytes(0) }) end
function M.os()
  return host.array({ math.type(os.time()), os.time({ year = 2000, month = 1, day = 1, hour = 12 }) ~= nil, type(os.clock()), os.date('%Y-%m-%d', 86400 * 365),
    os.execute == nil, os.getenv == nil, os.exit == nil, os.remove == nil, os.rename == nil, os.tmpname == nil, os.setlocale == nil, type(os.difftime(2, 1)) })
end
return M
`;

const HOG = `
local M = {}
local n = 0
function M.huge()
  -- a string near the cap, encoded: base64 of it is bigger than the plugin may hold
  local s = string.rep('x', 5 * 1024 * 1024)
  return #base64.encode(s .. s)
end
function M.ok() n = n + 1 return n end
return M
`;

describe('platform libraries in Lua plugins', () => {
  let dir: string;
  let host: Host;
  before(async () => {
    dir = await fixtureDir({ 'web.lua': PLUGIN, 'hog.lua': HOG });
    host = await createHost({ dir, limits: LIMITS, quarantine: { maxViolations: Infinity } });
  });
  after(async () => {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  });
  const web = () => host.get<Record<string, any>>('web');

  it('json.encode follows the marshalling rules: {} is [], host.object({}) is {}, json.null is null', async () => {
    assert.deepEqual(JSON.parse(await web().encodeLua()), { a: 1, list: [1, 'two', null], empty: [], obj: {}, arr: [] });
    assert.equal(await web().encode('x'), '"x"');
  });

  it('json.decode keeps null as json.null (host.null) and {} as an object', async () => {
    assert.deepEqual(await web().decodeNull(), [true, true, 1, true]);
    assert.equal(await web().roundtrip('{"z":{},"y":[],"s":"h\\u00e9","n":-1.5}'), JSON.stringify({ z: {}, y: [], s: 'hé', n: -1.5 }));
  });

  it('json refuses non-UTF-8 strings, NaN and functions, and bad JSON, as catchable errors', async () => {
    const [ok1, e1] = await web().encodeError('bytes');
    assert.equal(ok1, false);
    assert.match(e1, /not valid UTF-8/);
    assert.match((await web().encodeError('nan'))[1], /NaN/);
    assert.equal((await web().encodeError('fn'))[0], false);
    const [ok2, e2] = await web().decodeError('{bad');
    assert.equal(ok2, false);
    assert.match(e2, /json\.decode/);
  });

  it('base64 encodes bytes and decodes forgiving-base64 (WPT base64.json); invalid input gives nil', async () => {
    assert.equal(await web().b64('hello'), 'aGVsbG8=');
    for (const [input, want] of data('base64.json') as [string, number[] | null][]) {
      assert.equal(await web().unb64(input), want === null ? 'nil' : Buffer.from(want).toString('hex'), JSON.stringify(input));
    }
    assert.equal(await web().unb64('a'), 'nil');
    assert.equal(await web().unb64('ab\u00a0cd'), 'nil');
  });

  it('hex round-trips raw bytes and refuses odd or non-hex input with nil', async () => {
    assert.deepEqual(await web().hexRound(), ['0001ff616263', true, true, true]);
  });

  it('crypto.digest and crypto.hmac match node:crypto and RFC 4231', async () => {
    assert.equal(await web().digest('sha256', 'abc'), createHash('sha256').update('abc').digest('hex'));
    assert.equal(await web().digest('SHA-1', ''), createHash('sha1').digest('hex'));
    assert.equal(await web().digest('sha512', 'é'), createHash('sha512').update('é').digest('hex'));
    for (const c of data('hmac-rfc4231.json') as Record<string, string>[]) {
      for (const [alg, key] of [['sha256', 'SHA-256'], ['sha384', 'SHA-384'], ['sha512', 'SHA-512']]) {
        if (c[key!]) assert.equal(await web().hmac(alg, c.keyHex, c.data), c[key!], `case ${c.case} ${alg}`);
      }
    }
    const [ok, err] = await web().badAlg();
    assert.equal(ok, false);
    assert.match(err, /unsupported hash/);
  });

  it('crypto.random_bytes gives fresh bytes of the asked length', async () => {
    assert.deepEqual(await web().random(), [32, true, 0]);
  });

  it('os keeps time, clock, date and difftime only', async () => {
    assert.deepEqual(await web().os(), ['integer', true, 'number', '1971-01-01', true, true, true, true, true, true, true, 'number']);
  });

  it('host work on input beyond the memory cap ends in ERR_PLUGIN_MEMORY and a fresh instance', async () => {
    const hog = host.get<Record<string, any>>('hog');
    await expectCode(() => hog.huge(), 'ERR_PLUGIN_MEMORY');
    await host.ready();
    assert.equal(await hog.ok(), 1);
  });
});
