// The few WebAssembly JS API types the QuickJS engine uses (Node has them at run time; @types/node
// does not declare them, and the DOM lib would pull in far more than this).
declare namespace WebAssembly {
  class Module {
    constructor(bytes: ArrayBufferView | ArrayBuffer);
  }
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number });
    readonly buffer: ArrayBuffer;
    grow(delta: number): number;
  }
  class RuntimeError extends Error {}
}
