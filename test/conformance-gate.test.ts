/**
 * The guest gate (binding/gate.ts), written once for every engine: nested entries never extend the
 * running deadline, the first violation is the one latched, a dispose waits for the last entry.
 * And both built-in engines obey a gate they were handed: once it is broken (by the host, e.g. the
 * re-entry cap met in a nested call), the next call fails with that same error, whatever engine.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { builtinEngines, createGate, PluginStackError, PluginTimeoutError, type LoadRequest } from 'terrarium-plugins/engine';
import { DEFAULT_LIMITS } from 'terrarium-plugins';

describe('the guest gate', () => {
  it('keeps the earliest deadline of the entries on the stack and restores the outer one on leave', () => {
    const gate = createGate();
    assert.equal(gate.deadline, Infinity);
    gate.enter(100);
    gate.enter(500); // a nested entry asking for more time gets none
    assert.equal(gate.deadline, 100);
    gate.enter(50);
    assert.equal(gate.deadline, 50);
    assert.equal(gate.depth, 3);
    gate.leave();
    assert.equal(gate.deadline, 100);
    gate.leave();
    gate.leave();
    assert.equal(gate.deadline, Infinity);
    assert.equal(gate.depth, 0);
  });

  it('latches the first violation: a later one does not replace it', () => {
    const gate = createGate();
    assert.equal(gate.broken, undefined);
    const first = new PluginStackError(1024, { plugin: 'p' });
    assert.equal(gate.breakWith(first), first);
    gate.breakWith(new PluginTimeoutError(10, 'call', { plugin: 'p' }));
    assert.equal(gate.broken, first);
  });

  it('runs a dispose at once with no entry on the stack, else when the last entry leaves, each once', () => {
    const gate = createGate();
    const ran: string[] = [];
    gate.deferDispose(() => ran.push('idle'));
    assert.deepEqual(ran, ['idle']);
    gate.enter(1000);
    gate.enter(1000);
    gate.deferDispose(() => ran.push('host'));
    gate.deferDispose(() => ran.push('engine'));
    gate.leave();
    assert.deepEqual(ran, ['idle'], 'an entry is still on the stack');
    gate.leave();
    assert.deepEqual(ran, ['idle', 'host', 'engine']);
    gate.enter(1000);
    gate.leave();
    assert.deepEqual(ran, ['idle', 'host', 'engine'], 'nothing runs twice');
  });
});

function request(ext: string, source: string, gate: ReturnType<typeof createGate>): LoadRequest {
  return {
    path: `/virtual/p${ext}`,
    file: `p${ext}`,
    defaultName: 'p',
    source,
    limits: { ...DEFAULT_LIMITS, callTimeoutMs: 5000, loadTimeoutMs: 5000 },
    capabilities: [],
    data: {},
    config: () => ({}),
    log: () => {},
    gate,
  };
}

const SOURCES: Record<string, string> = {
  '.js': 'export function ok() { return 1; }\n',
  '.lua': 'return { ok = function() return 1 end }\n',
};

describe('the built-in engines obey the gate they are handed', () => {
  for (const [ext, source] of Object.entries(SOURCES)) {
    it(`${ext}: a call after the host broke the gate fails with the latched violation (regression: each engine kept its own latch)`, async () => {
      const descriptor = builtinEngines.find((d) => d.extensions.includes(ext))!;
      const engine = await descriptor.load();
      const gate = createGate();
      const inst = await engine.load(request(ext, source, gate));
      try {
        assert.equal(inst.call('ok', [], performance.now() + 5000), 1);
        const violation = gate.breakWith(new PluginStackError(1024, { plugin: 'p', engine: engine.name }));
        assert.throws(() => inst.call('ok', [], performance.now() + 5000), (e: unknown) => e === violation);
      } finally {
        inst.dispose();
      }
    });
  }
});
