/**
 * The guest gate, written once for every engine (the interface is `GuestGate` in src/engine.ts).
 * The host creates one per instance (host/guard.ts) and hands it to the engine in the load
 * request; the host's calls and the engine's own guest entries (promise jobs, polls, host-driven
 * guest work) go through the same gate, so there is one entry depth, one deadline stack (a nested
 * entry never extends the one it is nested in), one broken latch, and one deferred dispose: a
 * dispose asked for while any entry is on the stack runs when the last one leaves (freeing an
 * interpreter under a running call would corrupt it).
 */
import type { GuestGate } from '../engine.js';
import type { TerrariumError } from '../errors.js';

class Gate implements GuestGate {
  broken: TerrariumError | undefined;
  deadline = Infinity;
  /** The deadline of each entry on the stack, restored when it leaves (its length is the depth). */
  private readonly outer: number[] = [];
  private readonly deferred: (() => void)[] = [];

  get depth(): number {
    return this.outer.length;
  }

  enter(deadline: number): void {
    this.outer.push(this.deadline);
    if (deadline < this.deadline) this.deadline = deadline;
  }

  leave(): void {
    this.deadline = this.outer.pop() ?? Infinity;
    if (this.outer.length !== 0 || this.deferred.length === 0) return;
    // Each deferred dispose runs once, oldest first (the host's before the engine's own).
    for (const dispose of this.deferred.splice(0)) dispose();
  }

  breakWith<E extends TerrariumError>(error: E): E {
    this.broken ??= error;
    return error;
  }

  deferDispose(dispose: () => void): void {
    if (this.outer.length === 0) dispose();
    else this.deferred.push(dispose);
  }
}

/**
 * A fresh gate: what the host makes per instance, and what an engine uses when it is loaded
 * directly (no host, no `LoadRequest.gate`).
 * @example const gate = req.gate ?? createGate()
 */
export function createGate(): GuestGate {
  return new Gate();
}

/**
 * An instance's `dispose`: the first call asks the gate to run `free` (now, or once the last entry
 * leaves); later calls do nothing.
 * @example private readonly disposeOnce = onceDisposer(this.gate, () => this.free())
 */
export function onceDisposer(gate: GuestGate, free: () => void): () => void {
  let asked = false;
  return () => {
    if (asked) return;
    asked = true;
    gate.deferDispose(free);
  };
}
