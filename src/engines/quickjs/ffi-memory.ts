/**
 * The reading half of ffi.ts: what a JSValue is and holds, read straight from the WebAssembly
 * memory with the layout of this exact build (value tags, JSString, JSObject's class id). Only
 * ffi.ts uses it: each RawVM owns one GuestMemory, and finds and checks its layout by its probes.
 */
/*
 * NaN-boxed JSValue tags of this exact build (quickjs-emscripten 0.32.0, release-sync, wasm32):
 * the high word of the 8-byte JSValue. Checked against known values by `probe`.
 */
const TAG_INT = 0;
const TAG_BOOL = 1;
const TAG_NULL = 2;
const TAG_UNDEFINED = 3;
/** Doubles are stored with an offset; the canonical NaN is the only one that lands on a small tag. */
const TAG_NAN = -10;

/** JSString: the header word after the reference count holds len:31 | is_wide_char:1. */
const STRING_HEADER = 4;

/** What `classOf` answers. */
export const CLASS_OBJECT = 0;
export const CLASS_ARRAY = 1;
export const CLASS_OTHER = 2;

/** readScalar's answer for a value that is not a number, boolean, null or undefined. */
export const NOT_SCALAR = Symbol('not a scalar');

/** Where this build keeps what the raw readers need (found by `probe`). */
export interface Layout {
  /** Tags of strings and objects: the high word of their JSValue (the low word is the pointer). */
  stringTag: number;
  objectTag: number;
  /** Offset of the characters in a JSString (16 in release builds, 24 with DUMP_LEAKS). */
  stringData: number;
}

export class GuestMemory {
  private heap: Uint8Array;
  private words: Uint32Array;
  private bytes: Buffer;
  /** Set by RawVM's probe once it has found (and checked) this build's layout. */
  layout: Layout = { stringTag: NaN, objectTag: NaN, stringData: 0 };
  private classIds = { object: -2, array: -2 };

  /** `readFloat`: a float's value, asked of the engine (doubles are stored with an offset). */
  constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly readFloat: (ptr: number) => number,
  ) {
    this.bytes = Buffer.from(memory.buffer);
    this.heap = new Uint8Array(memory.buffer);
    this.words = new Uint32Array(memory.buffer);
  }

  /**
   * Learn the class ids of plain objects and arrays from sample values (`kind` says what each is:
   * 'object' for class-Object instances whatever their prototype, 'array', or 'other'); false when
   * the samples do not agree, i.e. the JSObject layout is not the one `classOf` reads.
   */
  probeClasses(samples: readonly { ptr: number; kind: 'object' | 'array' | 'other' }[]): boolean {
    const ids = samples.map((x) => (this.isObject(x.ptr) ? this.rawClassId(x.ptr) : -1));
    const of = (kind: string) => new Set(samples.flatMap((x, i) => (x.kind === kind ? [ids[i]!] : [])));
    const objects = of('object');
    const arrays = of('array');
    const others = of('other');
    const [objectId] = objects;
    const [arrayId] = arrays;
    if (objects.size !== 1 || arrays.size !== 1 || objectId === undefined || arrayId === undefined || objectId === arrayId || objectId < 0) return false;
    if (others.has(objectId) || others.has(arrayId) || others.has(-1)) return false;
    this.classIds = { object: objectId, array: arrayId };
    return true;
  }

  /**
   * What an object value is, from its JSObject's class id (no guest code runs): CLASS_OBJECT for
   * ordinary objects (any prototype), CLASS_ARRAY for arrays, CLASS_OTHER for the rest (proxies,
   * functions, typed arrays, built-in class instances).
   */
  classOf(ptr: number): number {
    const id = this.rawClassId(ptr);
    return id === this.classIds.object ? CLASS_OBJECT : id === this.classIds.array ? CLASS_ARRAY : CLASS_OTHER;
  }

  /** JSObject: class_id is the 16-bit field after the 4-byte reference count and 2 bytes of flags. */
  private rawClassId(ptr: number): number {
    const heap = this.heap8();
    const obj = this.heap32()[ptr >> 2]!;
    return heap[obj + 6]! | (heap[obj + 7]! << 8);
  }

  /** The tag (high word) of a JSValue. */
  tag(ptr: number): number {
    return this.heap32()[(ptr >> 2) + 1]! | 0;
  }

  isString(ptr: number): boolean {
    return this.tag(ptr) === this.layout.stringTag;
  }

  isObject(ptr: number): boolean {
    return this.tag(ptr) === this.layout.objectTag;
  }

  /** The identity of an object value (its address), for cycle checks. */
  identity(ptr: number): number {
    return this.heap32()[ptr >> 2]!;
  }

  /** A string value's text, read from the JSString itself: exact, lone surrogates and NUL included. */
  readString(ptr: number): string {
    const words = this.heap32();
    const p = words[ptr >> 2]!;
    const header = words[(p + STRING_HEADER) >> 2]!;
    const len = header & 0x7fffffff;
    const at = p + this.layout.stringData;
    const bytes = this.buf();
    if (header >>> 31 === 0) {
      if (len < 24) {
        let s = '';
        for (let i = 0; i < len; i++) s += String.fromCharCode(bytes[at + i]!);
        return s;
      }
      return bytes.toString('latin1', at, at + len);
    }
    return bytes.toString('utf16le', at, at + 2 * len);
  }

  /** The value of a scalar JSValue read from its NaN-boxed tag, or NOT_SCALAR. */
  readScalar(ptr: number): unknown {
    const words = this.heap32();
    const tag = words[(ptr >> 2) + 1]! | 0;
    switch (tag) {
      case TAG_INT:
        return words[ptr >> 2]! | 0;
      case TAG_BOOL:
        return words[ptr >> 2] !== 0;
      case TAG_NULL:
        return null;
      case TAG_UNDEFINED:
        return undefined;
      case TAG_NAN:
        return NaN;
      default:
        return tag > 16 || tag < -16 ? this.readFloat(ptr) : NOT_SCALAR;
    }
  }

  buf(): Buffer {
    if (this.bytes.length === 0) this.bytes = Buffer.from(this.memory.buffer);
    return this.bytes;
  }

  // A view over a buffer the memory replaced when it grew has length 0: cheaper to test than
  // asking the WebAssembly.Memory for its buffer on every access.
  heap8(): Uint8Array {
    if (this.heap.length === 0) this.heap = new Uint8Array(this.memory.buffer);
    return this.heap;
  }

  heap32(): Uint32Array {
    if (this.words.length === 0) this.words = new Uint32Array(this.memory.buffer);
    return this.words;
  }

}
