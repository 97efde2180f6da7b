/**
 * Every access to quickjs-emscripten's internals, in one file: the raw emscripten module
 * (`_malloc`/`_free`), the raw FFI (`QTS_*` functions on JSValue pointers), the context's private
 * pointer and handle factory, and the NaN-boxed value tags of the exact build. The rest of the
 * engine uses quickjs-emscripten's public API, or the small `RawVM` below.
 *
 * These internals are not a public contract, so the versions are pinned exactly in package.json
 * and checked at startup (`probe`): a different quickjs-emscripten, a private member that moved, or
 * a build that boxes values differently makes the engine refuse to start (ERR_PLUGIN_LOAD naming
 * the mismatch) instead of running on guesses.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSContext,
  type QuickJSHandle,
  type QuickJSSyncVariant,
  type QuickJSWASMModule,
} from 'quickjs-emscripten-core';
import RELEASE_SYNC_MODULE from '@jitl/quickjs-wasmfile-release-sync';
import { GuestMemory, type Layout, NOT_SCALAR } from './ffi-memory.js';

export { CLASS_ARRAY, CLASS_OBJECT, CLASS_OTHER, NOT_SCALAR } from './ffi-memory.js';

/** The quickjs-emscripten release this file was written against (package.json pins it exactly). */
export const PINNED_VERSION = '0.32.0';

// The package's types describe its CommonJS entry; under ESM the default export is the variant itself.
const RELEASE_SYNC = RELEASE_SYNC_MODULE as unknown as QuickJSSyncVariant;

const require = createRequire(import.meta.url);
/**
 * WebAssembly pages a fresh instance's memory starts with on the synchronous path. The build
 * declares 256 (16 MiB, emscripten's INITIAL_MEMORY), but it only needs its data (below 88 KiB),
 * its 5 MiB stack (the stack pointer starts at 5,333,088) and the heap above it, which grows
 * through emscripten's own resize (the memory guard sees every grow). A smaller memory is cheaper
 * to create and to collect (bench/results/load-js-2.md); the cap (`maximum`) is unchanged.
 */
export const FRESH_PAGES = Number(process.env.TERRARIUM_QJS_FRESH_PAGES ?? 96);

let compiled: WebAssembly.Module | undefined;
/**
 * The release build's WebAssembly module, compiled once per process, with its memory import's
 * minimum lowered to FRESH_PAGES (see lowerMemoryMinimum).
 */
export function wasmModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(lowerMemoryMinimum(readFileSync(require.resolve('@jitl/quickjs-wasmfile-release-sync/wasm')), FRESH_PAGES) as Uint8Array<ArrayBuffer>);
  return compiled;
}

/** The async factory's module (ffi.ts newModule): the build as installed, 256 pages minimum. */
let compiledAsInstalled: WebAssembly.Module | undefined;
function wasmModuleAsInstalled(): WebAssembly.Module {
  compiledAsInstalled ??= new WebAssembly.Module(readFileSync(require.resolve('@jitl/quickjs-wasmfile-release-sync/wasm')));
  return compiledAsInstalled;
}

/**
 * The module bytes with the minimum of its one memory import set to `pages`, written in place as a
 * LEB128 of the same length (a padded LEB is valid WebAssembly), so no offset moves. Throws when the
 * import section is not the expected shape (one memory import whose minimum takes >= 2 bytes and
 * is at least `pages`).
 */
export function lowerMemoryMinimum(bytes: Uint8Array, pages: number): Uint8Array {
  const b = Uint8Array.from(bytes);
  let p = 8;
  const leb = (): number => {
    let r = 0;
    let shift = 0;
    let x: number;
    do {
      x = b[p++]!;
      r |= (x & 127) << shift;
      shift += 7;
    } while (x & 128);
    return r >>> 0;
  };
  while (p < b.length) {
    const id = b[p++]!;
    const len = leb();
    const end = p + len;
    if (id === 2) {
      const n = leb();
      for (let i = 0; i < n; i++) {
        for (let name = 0; name < 2; name++) {
          const length = leb(); // module, then field name
          p += length;
        }
        const kind = b[p++]!;
        if (kind === 0) leb();
        else if (kind === 1) {
          p++;
          const flags = b[p++]!;
          leb();
          if (flags & 1) leb();
        } else if (kind === 3) p += 2;
        else if (kind === 2) {
          p++; // limits flags
          const at = p;
          const min = leb();
          const width = p - at;
          if (width < 2 || min < pages || pages >= 1 << (7 * width)) throw new Error(`the memory import's minimum (${min} pages) cannot be lowered to ${pages}`);
          for (let k = 0; k < width; k++) b[at + k] = ((pages >>> (7 * k)) & 127) | (k < width - 1 ? 128 : 0);
          return b;
        } else throw new Error(`unknown import kind ${kind}`);
      }
    }
    p = end;
  }
  throw new Error('the module imports no memory');
}

/** Versions of the packages whose internals this file uses, read from their package.json. */
function installedVersions(): Record<string, string> {
  const core = join(dirname(require.resolve('quickjs-emscripten-core')), '..', 'package.json');
  const wasm = require.resolve('@jitl/quickjs-wasmfile-release-sync/package.json');
  const read = (p: string) => (JSON.parse(readFileSync(p, 'utf8')) as { version: string }).version;
  return { 'quickjs-emscripten-core': read(core), '@jitl/quickjs-wasmfile-release-sync': read(wasm) };
}

/**
 * Why this process cannot run the QuickJS engine, or '' when it can (checked once, by the first
 * load). Callers turn a reason into ERR_PLUGIN_LOAD.
 */
let versionProblem: string | undefined;
export function startupProblem(): string {
  if (versionProblem === undefined) {
    versionProblem = '';
    for (const [name, v] of Object.entries(installedVersions())) {
      if (v !== PINNED_VERSION) versionProblem += `${name} is ${v}, the engine was written for ${PINNED_VERSION}; `;
    }
  }
  return versionProblem;
}

/** A fresh WebAssembly instance of QuickJS: the release build in `memory`, or a debug variant (tests). */
export async function newModule(memory: WebAssembly.Memory, debugVariant?: QuickJSSyncVariant): Promise<QuickJSWASMModule> {
  return debugVariant
    ? newQuickJSWASMModuleFromVariant(debugVariant)
    : newQuickJSWASMModuleFromVariant(newVariant(RELEASE_SYNC, { wasmModule: wasmModuleAsInstalled(), wasmMemory: memory }));
}

/** Debug builds only: true when the module's leak sanitizer finds memory not freed. */
export function leakCheckOf(qjs: QuickJSWASMModule): boolean {
  return (qjs.getFFI() as unknown as RawFFI).QTS_RecoverableLeakCheck() !== 0;
}

/** The parts of the emscripten module the hot path needs. */
interface RawModule {
  _malloc(n: number): number;
  _free(p: number): void;
}
/** The raw FFI functions used here, on JSValue pointers (`number`s into the WebAssembly memory). */
export interface RawFFI {
  QTS_NewString(ctx: number, ptr: number): number;
  QTS_Call(ctx: number, fn: number, thisVal: number, argc: number, argv: number): number;
  QTS_ResolveException(ctx: number, ptr: number): number;
  QTS_FreeValuePointer(ctx: number, ptr: number): void;
  QTS_DupValuePointer(ctx: number, ptr: number): number;
  QTS_GetString(ctx: number, ptr: number): number;
  QTS_FreeCString(ctx: number, ptr: number): void;
  QTS_GetUndefined(): number;
  QTS_GetNull(): number;
  QTS_GetTrue(): number;
  QTS_GetFalse(): number;
  QTS_NewFloat64(ctx: number, n: number): number;
  QTS_GetFloat64(ctx: number, ptr: number): number;
  QTS_RecoverableLeakCheck(): number;
  QTS_NewObjectProto(ctx: number, proto: number): number;
  QTS_NewObject(ctx: number): number;
  QTS_SetProp(ctx: number, obj: number, key: number, value: number): void;
  QTS_GetProp(ctx: number, obj: number, key: number): number;
  QTS_GetPropNumber(ctx: number, obj: number, index: number): number;
  QTS_GetLength(ctx: number, outLen: number, value: number): number;
}

/** An argument of the direct path: a scalar the host creates in the guest without the codec. */
export type Scalar = string | number | boolean | null | undefined;
/** An argument already in the guest, by JSValue pointer (borrowed: the caller frees it). */
export interface Ptr {
  ptr: number;
}

const encoder = new TextEncoder();
const NOT_C_STRING = /[\ud800-\udfff\u0000]/;
const decoder = new TextDecoder();

/** What the release build's probe found (every release instance shares the build). */
let releaseProbed: { problem: string; layout: Layout } | undefined;

/**
 * Raw access to one context: create and read values by pointer, call functions with an argv in
 * a scratch buffer of guest memory. Pointers it returns are owned by the caller unless said.
 */
export class RawVM {
  /** Reads values straight from the WebAssembly memory (owned: one per context). */
  readonly mem: GuestMemory;
  readonly ffi: RawFFI;
  readonly ctxPtr: number;
  /** The guest's `undefined` (a constant; never freed). */
  readonly undef: number;
  private readonly raw: RawModule;
  private readonly handles: { heapValueHandle(p: number): QuickJSHandle };
  /** The guest's null, true and false (constants: never freed). */
  readonly nul: number;
  readonly yes: number;
  readonly no: number;
  /** A 4-byte slot in guest memory for out-parameters. */
  private outSlot = 0;
  /** Scratch buffer in guest memory for argument text and argv; grown on demand. */
  private scratch = 0;
  private scratchSize = 0;

  constructor(qjs: QuickJSWASMModule, ctx: QuickJSContext, memory: WebAssembly.Memory) {
    this.raw = (qjs as unknown as { module: RawModule }).module;
    this.ffi = qjs.getFFI() as unknown as RawFFI;
    this.ctxPtr = (ctx as unknown as { ctx: { value: number } }).ctx.value;
    this.handles = (ctx as unknown as { memory: { heapValueHandle(p: number): QuickJSHandle } }).memory;
    this.undef = this.ffi.QTS_GetUndefined();
    this.nul = this.ffi.QTS_GetNull();
    this.yes = this.ffi.QTS_GetTrue();
    this.no = this.ffi.QTS_GetFalse();
    this.mem = new GuestMemory(memory, (ptr) => this.ffi.QTS_GetFloat64(this.ctxPtr, ptr));
  }

  // The memory's readers, for the marshalling code that holds a RawVM (see GuestMemory).
  probeClasses(samples: readonly { ptr: number; kind: 'object' | 'array' | 'other' }[]): boolean {
    return this.mem.probeClasses(samples);
  }
  classOf(ptr: number): number {
    return this.mem.classOf(ptr);
  }
  tag(ptr: number): number {
    return this.mem.tag(ptr);
  }
  isString(ptr: number): boolean {
    return this.mem.isString(ptr);
  }
  isObject(ptr: number): boolean {
    return this.mem.isObject(ptr);
  }
  identity(ptr: number): number {
    return this.mem.identity(ptr);
  }
  readString(ptr: number): string {
    return this.mem.readString(ptr);
  }
  readScalar(ptr: number): unknown {
    return this.mem.readScalar(ptr);
  }

  /**
   * Check that the private members used here exist and that the build boxes values as readScalar
   * expects. Returns what is wrong, or ''. Release instances share one build: probed once.
   */
  probe(release: boolean): string {
    if (release && releaseProbed !== undefined) {
      this.mem.layout = releaseProbed.layout;
      return releaseProbed.problem;
    }
    let problem = '';
    if (typeof this.raw?._malloc !== 'function' || typeof this.raw._free !== 'function') problem = 'the emscripten module has no _malloc/_free';
    else if (typeof this.ctxPtr !== 'number') problem = 'QuickJSContext has no raw context pointer';
    else if (typeof this.handles?.heapValueHandle !== 'function') problem = 'QuickJSContext has no heapValueHandle';
    else if (!this.tagsMatch()) problem = 'the WebAssembly build boxes values with different tags';
    else if (!this.findLayout()) problem = 'the WebAssembly build lays out strings differently';
    if (release) releaseProbed = { problem, layout: this.mem.layout };
    return problem;
  }

  /** Find the string and object tags and where a JSString keeps its characters; false if unknown. */
  private findLayout(): boolean {
    const { ffi, ctxPtr } = this;
    const obj = ffi.QTS_NewObject(ctxPtr);
    const objectTag = this.tag(obj);
    ffi.QTS_FreeValuePointer(ctxPtr, obj);
    const samples = ['', 'x', 'probe: ASCII text', 'Latin-1 \u00e9\u00ff', 'wide \u0100\u65e5\u672c', 'pair \ud83e\udd80 end', 'k'.repeat(300)];
    const ptrs = samples.map((s) => this.newString(s));
    try {
      const stringTag = this.tag(ptrs[0]!);
      if (stringTag === objectTag || ptrs.some((p) => this.tag(p) !== stringTag)) return false;
      for (const offset of [16, 24]) {
        this.mem.layout = { stringTag, objectTag, stringData: offset };
        if (samples.every((s, i) => this.readString(ptrs[i]!) === s)) return true;
      }
      this.mem.layout = { stringTag: NaN, objectTag: NaN, stringData: 0 };
      return false;
    } finally {
      for (const p of ptrs) ffi.QTS_FreeValuePointer(ctxPtr, p);
    }
  }

  /** The WebAssembly memory as words (for the interrupt counter, see interrupt-counter.ts). */
  readonly memoryWords = (): Uint32Array => this.mem.heap32();

  /** A fresh object with a null prototype (filling it runs no setter); owned. */
  newObject(): number {
    return this.ffi.QTS_NewObjectProto(this.ctxPtr, this.nul);
  }

  /** A number value; owned. */
  newNumber(n: number): number {
    return this.ffi.QTS_NewFloat64(this.ctxPtr, n);
  }

  /** obj[key] = value with [[Set]] (the caller keeps its references). */
  setProp(obj: number, key: number, value: number): void {
    this.ffi.QTS_SetProp(this.ctxPtr, obj, key, value);
  }

  /** obj[key] (a getter runs); owned, possibly an exception (see `exception`). */
  getProp(obj: number, key: number): number {
    return this.ffi.QTS_GetProp(this.ctxPtr, obj, key);
  }

  getIndex(obj: number, index: number): number {
    return this.ffi.QTS_GetPropNumber(this.ctxPtr, obj, index);
  }

  /** An array's length (the guest's own arrays only: no getter can run), or -1. */
  arrayLength(arr: number): number {
    if (!this.outSlot) this.outSlot = this.raw._malloc(8);
    if (!this.outSlot) throw new ScratchError();
    if (this.ffi.QTS_GetLength(this.ctxPtr, this.outSlot, arr) !== 0) return -1;
    return this.mem.heap32()[this.outSlot >> 2]!;
  }

  /** A new reference to the same value (owned). */
  dup(ptr: number): number {
    return this.ffi.QTS_DupValuePointer(this.ctxPtr, ptr);
  }

  /** Free a value unless it is one of the constants. */
  release(ptr: number): void {
    if (ptr !== this.undef && ptr !== this.nul && ptr !== this.yes && ptr !== this.no) this.ffi.QTS_FreeValuePointer(this.ctxPtr, ptr);
  }

  /** A QuickJSHandle owning `ptr` (for the public API: error reading, promise state). */
  handle(ptr: number): QuickJSHandle {
    return this.handles.heapValueHandle(ptr);
  }

  free(ptr: number): void {
    this.ffi.QTS_FreeValuePointer(this.ctxPtr, ptr);
  }

  /**
   * Call `fnPtr` with `args`: scalars are created here and pushed onto `owned` (the caller frees
   * them, unless the instance broke), pointers are borrowed. Returns the owned result pointer.
   */
  call(fnPtr: number, args: readonly (Scalar | Ptr)[], owned: number[]): number {
    const argv = this.writeArgs(args, owned);
    return this.ffi.QTS_Call(this.ctxPtr, fnPtr, this.undef, args.length, argv);
  }

  /** Call `fnPtr` with borrowed value pointers as its arguments; the owned result pointer. */
  callPtrs(fnPtr: number, ptrs: readonly number[]): number {
    this.reserve(4 * ptrs.length + 8);
    const argv = this.scratch;
    const words = this.mem.heap32();
    for (let i = 0; i < ptrs.length; i++) words[(argv >> 2) + i] = ptrs[i]!;
    return this.ffi.QTS_Call(this.ctxPtr, fnPtr, this.undef, ptrs.length, argv);
  }

  /** The pending exception behind an exception result (owned), or 0. */
  exception(resultPtr: number): number {
    return this.ffi.QTS_ResolveException(this.ctxPtr, resultPtr);
  }

  /** Read a guest string result and free it. */
  takeText(resultPtr: number): string {
    const { ffi, ctxPtr } = this;
    const cstr = ffi.QTS_GetString(ctxPtr, resultPtr);
    const text = this.readCString(cstr);
    ffi.QTS_FreeCString(ctxPtr, cstr);
    ffi.QTS_FreeValuePointer(ctxPtr, resultPtr);
    return text;
  }

  /** malloc in guest memory (0 when it cannot); the caller frees it, or it goes with the instance. */
  malloc(bytes: number): number {
    return this.raw._malloc(bytes);
  }

  /** Free the scratch buffer (the context is about to be freed). */
  dispose(): void {
    if (this.outSlot) this.raw._free(this.outSlot);
    this.outSlot = 0;
    if (this.scratch) this.raw._free(this.scratch);
    this.scratch = 0;
    this.scratchSize = 0;
  }

  /** Debug builds only: true when the leak sanitizer finds memory not freed. */
  leakCheck(): boolean {
    return this.ffi.QTS_RecoverableLeakCheck() !== 0;
  }

  private tagsMatch(): boolean {
    const { ffi, ctxPtr } = this;
    const numbers = [7, 1.5, -0, NaN, Infinity, -Infinity, 2 ** 40 + 0.5, -(2 ** 31), 5e-324];
    let ok = true;
    for (const n of numbers) {
      const p = ffi.QTS_NewFloat64(ctxPtr, n);
      if (!Object.is(this.readScalar(p), n)) ok = false;
      ffi.QTS_FreeValuePointer(ctxPtr, p);
    }
    for (const [p, expected] of [[ffi.QTS_GetTrue(), true], [ffi.QTS_GetFalse(), false], [ffi.QTS_GetNull(), null], [this.undef, undefined]] as const) {
      if (!Object.is(this.readScalar(p), expected)) ok = false;
    }
    const str = this.newString('x');
    if (this.readScalar(str) !== NOT_SCALAR) ok = false;
    ffi.QTS_FreeValuePointer(ctxPtr, str);
    return ok;
  }

  /**
   * A guest string (owned) from a host string the C string API can carry, or 0 when it cannot
   * (it holds NUL or a lone surrogate). Short ASCII strings are written without an encoder.
   */
  newCString(s: string): number {
    const n = s.length;
    if (n > 96) return NOT_C_STRING.test(s) ? 0 : this.newString(s);
    this.reserve(n + 1);
    const heap = this.mem.heap8();
    const at = this.scratch;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80 || c === 0) return c === 0 || NOT_C_STRING.test(s) ? 0 : this.newString(s);
      heap[at + i] = c;
    }
    heap[at + n] = 0;
    return this.ffi.QTS_NewString(this.ctxPtr, at);
  }

  /** A guest string (owned) from a host string. */
  newString(s: string): number {
    this.reserve(s.length * 3 + 1);
    const at = this.scratch;
    const heap = this.mem.heap8();
    const { written } = encoder.encodeInto(s, heap.subarray(at, at + this.scratchSize - 1));
    heap[at + written] = 0;
    return this.ffi.QTS_NewString(this.ctxPtr, at);
  }

  /** Create argv in guest memory: strings as NUL-terminated UTF-8, numbers as doubles. */
  private writeArgs(args: readonly (Scalar | Ptr)[], owned: number[]): number {
    const { ffi, ctxPtr } = this;
    let need = 4 * args.length + 8;
    for (const a of args) if (typeof a === 'string') need += a.length * 3 + 1;
    this.reserve(need);
    const argv = this.scratch;
    let at = argv + 4 * args.length;
    const ptrs: number[] = [];
    for (const a of args) {
      let p: number;
      if (typeof a === 'string') {
        const heap = this.mem.heap8();
        const { written } = encoder.encodeInto(a, heap.subarray(at, this.scratch + this.scratchSize - 1));
        heap[at + written] = 0;
        p = ffi.QTS_NewString(ctxPtr, at);
        at += written + 1;
        owned.push(p);
      } else if (typeof a === 'number') {
        p = ffi.QTS_NewFloat64(ctxPtr, a);
        owned.push(p);
      } else if (a === undefined) p = this.undef;
      else if (a === null) p = ffi.QTS_GetNull();
      else if (a === true) p = ffi.QTS_GetTrue();
      else if (a === false) p = ffi.QTS_GetFalse();
      else p = a.ptr;
      ptrs.push(p);
    }
    const words = this.mem.heap32();
    for (let i = 0; i < ptrs.length; i++) words[(argv >> 2) + i] = ptrs[i]!;
    return argv;
  }

  /** Make the scratch buffer in guest memory at least `need` bytes; throws RangeError when it cannot. */
  private reserve(need: number): void {
    if (need <= this.scratchSize) return;
    if (this.scratch) this.raw._free(this.scratch);
    this.scratchSize = Math.max(need, 4096);
    this.scratch = this.raw._malloc(this.scratchSize);
    if (!this.scratch) {
      this.scratchSize = 0;
      throw new ScratchError();
    }
  }

  private readCString(ptr: number): string {
    const heap = this.mem.heap8();
    const end = heap.indexOf(0, ptr);
    return decoder.decode(heap.subarray(ptr, end));
  }
}

/** The guest's memory could not hold the arguments (the caller reports ERR_PLUGIN_MEMORY). */
export class ScratchError extends Error {
  constructor() {
    super('arguments do not fit in the plugin memory');
  }
}
