/**
 * setTimeout / clearTimeout / setInterval in QuickJS plugins (src/platform/timers.ts): timers fire
 * in order, a cleared one never fires, an interval repeats until cleared, and a timer beyond the
 * call's deadline never fires: the call ends with ERR_PLUGIN_TIMEOUT.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { createHost, type Host } from 'terrarium-plugins';
import { expectCode, fixtureDir } from './engines/conformance.js';

const PLUGIN = `
export async function order() {
  const seen = [];
  await new Promise((resolve) => {
    setTimeout(() => seen.push('b'), 30);
    const x = setTimeout(() => seen.push('never'), 10);
    setTimeout((v) => seen.push(v), 0, 'a');
    clearTimeout(x);
    setTimeout(() => resolve(), 60);
  });
  return seen;
}
export async function interval() {
  let n = 0;
  await new Promise((resolve) => { const id = setInterval(() => { if (++n === 3) { clearInterval(id); resolve(); } }, 5); });
  return n;
}
export async function tooLate() { await new Promise((r) => setTimeout(r, 60000)); return 'fired'; }
export function badCallback() { try { setTimeout('1+1', 0); return 'accepted'; } catch (e) { return e.name; } }
`;

describe('timers in JavaScript plugins', () => {
  let dir = '';
  let host: Host;
  before(async () => {
    dir = await fixtureDir({ 't.js': PLUGIN });
    host = await createHost({ dir, limits: { memoryBytes: 16 << 20, callTimeoutMs: 1500, loadTimeoutMs: 20_000, stackBytes: 256 * 1024 }, quarantine: { maxViolations: Infinity } });
  });
  after(async () => {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  });
  const t = () => host.get<Record<string, any>>('t');

  it('fires timers in order of their delay, with arguments, and never a cleared one', async () => {
    assert.deepEqual(await t().order(), ['a', 'b']);
  });
  it('repeats an interval until it is cleared', async () => {
    assert.equal(await t().interval(), 3);
  });
  it('a timer beyond the call deadline never fires: the call ends with ERR_PLUGIN_TIMEOUT', async () => {
    await expectCode(() => t().tooLate(), 'ERR_PLUGIN_TIMEOUT');
  });
  it('refuses a string callback (no eval)', async () => {
    assert.equal(await t().badCallback(), 'TypeError');
  });
});
