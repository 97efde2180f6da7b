/**
 * Signature verification never works on more than the plugin could hold: a 64 MiB input to
 * verify (ECDSA, HMAC, Lua's crypto.verify) is refused against the plugin's memory cap, as
 * ERR_PLUGIN_MEMORY in the plugin (and a fresh instance after), PlatformInputTooLarge in the host
 * functions themselves (so the check holds whatever an engine lets a guest hand over).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { generateKeyPairSync } from 'node:crypto';
import { createHost, type Host } from 'terrarium-plugins';
import { PlatformInputTooLarge, platformCall } from '../dist/platform/host.js';
import { joseVerify, verifyAsymmetric } from '../dist/platform/keys.js';
import { luaPlatformLibs } from '../dist/platform/lua.js';
import { expectCode, fixtureDir } from './engines/conformance.js';

const MiB = 1024 * 1024;
const CAP = 16 * MiB;

const JS = `
export async function hugeVerify(spki) {
  const vk = await crypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  return crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, vk, new Uint8Array(64), new Uint8Array(64 * 1024 * 1024));
}
let n = 0;
export function ok() { return ++n; }
`;
const LUA = `
local M = {}
local n = 0
function M.hugeVerify(key) return crypto.verify('HS256', key, string.rep('x', 64 * 1024 * 1024), 'sig') end
function M.ok() n = n + 1 return n end
return M
`;

describe('verify of a 64 MiB input against the memory cap', () => {
  let dir: string;
  let host: Host;
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = new Uint8Array(ec.publicKey.export({ format: 'der', type: 'spki' }) as Buffer);
  before(async () => {
    dir = await fixtureDir({ 'bigjs.js': JS, 'biglua.lua': LUA });
    host = await createHost({ dir, limits: { memoryBytes: CAP, callTimeoutMs: 20_000, loadTimeoutMs: 20_000 } });
  });
  after(async () => {
    await host?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the host verify functions refuse 64 MiB of data under a 16 MiB cap before hashing it', () => {
    const big = new Uint8Array(64 * MiB);
    const params = { alg: 'ECDSA', hash: 'SHA-256', saltLength: 0 };
    assert.throws(() => verifyAsymmetric(params, spki, new Uint8Array(64), big, CAP), PlatformInputTooLarge);
    assert.throws(() => platformCall('hmacVerify', ['SHA-256', new Uint8Array(32), new Uint8Array(32), big], CAP), PlatformInputTooLarge);
    assert.throws(() => platformCall('verify', [['ECDSA', 'SHA-256', 0], spki, new Uint8Array(64), big], CAP), PlatformInputTooLarge);
    const pem = ec.publicKey.export({ format: 'pem', type: 'spki' }) as string;
    assert.throws(() => joseVerify('ES256', pem, big, new Uint8Array(64), CAP), PlatformInputTooLarge);
    assert.throws(() => luaPlatformLibs(CAP).crypto!.verify!('HS256', 'k', big, 'sig'), PlatformInputTooLarge);
    // the same call with the cap above the input is a plain false
    assert.equal(verifyAsymmetric(params, spki, new Uint8Array(64), big, 128 * MiB), false);
  });

  it('a JS plugin verifying 64 MiB ends in ERR_PLUGIN_MEMORY and a fresh instance', async () => {
    const p = host.get<Record<string, (...a: unknown[]) => Promise<unknown>>>('bigjs');
    await expectCode(() => p.hugeVerify!(spki), 'ERR_PLUGIN_MEMORY');
    await host.ready();
    assert.equal(await p.ok!(), 1);
  });

  it('a Lua plugin crypto.verify of 64 MiB ends in ERR_PLUGIN_MEMORY and a fresh instance', async () => {
    const p = host.get<Record<string, (...a: unknown[]) => Promise<unknown>>>('biglua');
    await expectCode(() => p.hugeVerify!('secret'), 'ERR_PLUGIN_MEMORY');
    await host.ready();
    assert.equal(await p.ok!(), 1);
  });
});
