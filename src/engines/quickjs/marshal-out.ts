/**
 * Results out, without text: the host walks the guest value itself through the raw FFI, with the
 * codec's rules (guest-codec.ts `emit`, strict mode) in the codec's order. Scalars are read from
 * their tags and strings from the JSString itself; for every other value the glue's `inspect`
 * says what it is without running plugin code (functions, symbols, bigints, proxies and class
 * instances are refused with the codec's reasons). Each property of a plain object, and each
 * element of an array, is read exactly once (a getter runs once, under the call's deadline, as
 * with the codec; one that throws is refused). Depth, value count, total text size and cycles are
 * checked as the codec checks them. Uint8Arrays and strings the host cannot read itself are
 * handed to the codec for that one value.
 */
import { decodeWire } from '../../binding/wire.js';
import { CLASS_OBJECT, NOT_SCALAR, type RawVM } from './ffi.js';

/** A value the rules refuse: where, and why (the caller raises ERR_MARSHAL with them). */
export class Refusal {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {}
}

/** What the reader needs from the instance: glue functions and guest calls under its deadline. */
export interface ReaderHost {
  /** Call glue function `fn` with borrowed arguments; the owned result, or an owned exception. */
  callGlue(fn: number, args: readonly number[]): { value: number } | { error: number };
  /** A limit violation the engine signalled (timeout, memory): thrown instead of any refusal. */
  violation(): Error | undefined;
  /** Glue functions, and the captured natives Object.getPrototypeOf and Object.keys. */
  readonly fns: { inspect: number; ownOr: number; getterFailure: number; encodeValue: number; getProto: number; keysOf: number };
  /** The identity (address) of the guest's Object.prototype. */
  readonly objectProto: number;
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

export class ResultReader {
  private readonly keys: (string | number)[] = [];
  private readonly stack: number[] = [];
  private count = 0;
  private chars = 0;
  private readonly maxText: number;

  constructor(
    private readonly vm: RawVM,
    private readonly host: ReaderHost,
    private readonly maxDepth: number,
    /** The codec's value budget (`valueBudget`): values per result, and 16 times that in text. */
    private readonly budget: number,
  ) {
    this.maxText = budget * 16;
  }

  /**
   * Copy the value behind `ptr` (borrowed) to the host. Throws a Refusal, or a violation.
   * Re-entrant: a getter may call a capability that calls this plugin again, whose result is read
   * while this one is half read.
   */
  read(ptr: number, inspected?: number): unknown {
    const saved = { keys: this.keys.splice(0), stack: this.stack.splice(0), count: this.count, chars: this.chars };
    this.count = 0;
    this.chars = 0;
    try {
      return this.value(ptr, 0, inspected);
    } finally {
      this.keys.length = 0;
      this.keys.push(...saved.keys);
      this.stack.length = 0;
      this.stack.push(...saved.stack);
      this.count = saved.count;
      this.chars = saved.chars;
    }
  }

  private refuse(reason: string): never {
    let path = '$';
    for (const k of this.keys) path += typeof k === 'number' ? `[${k}]` : IDENT.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
    throw new Refusal(path, reason);
  }

  /** `inspected`: the owned result of inspect(ptr) when the caller already has it. */
  private value(ptr: number, depth: number, inspected?: number): unknown {
    const { vm } = this;
    if (inspected === undefined) {
      const s = vm.readScalar(ptr);
      if (s !== NOT_SCALAR) return s;
      if (vm.isString(ptr)) return this.text(vm.readString(ptr));
    }
    if (inspected === undefined && vm.isObject(ptr) && vm.classOf(ptr) === CLASS_OBJECT) {
      const plain = this.plainKeys(ptr);
      if (plain !== undefined) return this.plainObject(ptr, plain, depth);
    }
    const info = inspected ?? this.guest(this.host.fns.inspect, [ptr]);
    try {
      return this.structured(ptr, info, depth);
    } finally {
      vm.release(info);
    }
  }

  /**
   * The keys (an owned guest array) of an ordinary object whose prototype is Object.prototype or
   * null, found with two native calls; undefined for any other object (inspect says what it is).
   */
  private plainKeys(ptr: number): number | undefined {
    const { vm } = this;
    const proto = this.guest(this.host.fns.getProto, [ptr]);
    const plain = proto === vm.nul || (vm.isObject(proto) && vm.identity(proto) === this.host.objectProto);
    vm.release(proto);
    return plain ? this.guest(this.host.fns.keysOf, [ptr]) : undefined;
  }

  /** A plain object: the codec's depth, size and cycle checks, then its properties. */
  private plainObject(ptr: number, keys: number, depth: number): Record<string, unknown> {
    try {
      if (depth >= this.maxDepth) this.refuse(`a value nested deeper than ${this.maxDepth} levels`);
      if (++this.count > this.budget) this.refuse(`a value larger than ${this.budget} values`);
      const id = this.vm.identity(ptr);
      if (this.stack.includes(id)) this.refuse('a cycle');
      this.stack.push(id);
      try {
        return this.object(ptr, keys, depth);
      } finally {
        this.stack.pop();
      }
    } finally {
      this.vm.release(keys);
    }
  }

  private text(s: string): string {
    this.chars += s.length + 2;
    if (this.chars > this.maxText) this.refuse(`a value larger than ${this.maxText} bytes`);
    return s;
  }

  private structured(ptr: number, info: number, depth: number): unknown {
    const { vm } = this;
    const scalar = vm.readScalar(info);
    let late: string | undefined;
    if (vm.isString(info)) {
      const reason = vm.readString(info);
      if (reason.charCodeAt(0) === 33) this.refuse(reason.slice(1)); // '!': refused before the checks below
      late = reason.slice(1);
    } else if (scalar === 0) {
      return this.viaCodec(ptr); // a string in a form the host does not read itself
    }
    if (depth >= this.maxDepth) this.refuse(`a value nested deeper than ${this.maxDepth} levels`);
    if (++this.count > this.budget) this.refuse(`a value larger than ${this.budget} values`);
    const id = vm.identity(ptr);
    if (this.stack.includes(id)) this.refuse('a cycle');
    if (late !== undefined) this.refuse(late);
    if (scalar === true) return this.viaCodec(ptr);
    this.stack.push(id);
    try {
      if (typeof scalar === 'number') return scalar >= 0 ? this.array(ptr, scalar, depth, false) : this.array(ptr, -1 - scalar, depth, true);
      return this.object(ptr, info, depth);
    } finally {
      this.stack.pop();
    }
  }

  private array(ptr: number, n: number, depth: number, holes: boolean): unknown[] {
    const out: unknown[] = new Array(n);
    for (let i = 0; i < n; i++) {
      this.keys.push(i);
      const item = holes ? this.guestRead(this.host.fns.ownOr, [ptr, this.vm.newNumber(i)], 1) : this.checked(this.vm.getIndex(ptr, i));
      try {
        out[i] = this.value(item, depth + 1);
      } finally {
        this.vm.release(item);
      }
      this.keys.pop();
    }
    return out;
  }

  private object(ptr: number, names: number, depth: number): Record<string, unknown> {
    const { vm } = this;
    const n = vm.arrayLength(names);
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const keyPtr = vm.getIndex(names, i);
      try {
        const k = vm.readString(keyPtr);
        this.keys.push(k);
        this.text(k);
        const item = this.checked(vm.getProp(ptr, keyPtr));
        try {
          const v = this.value(item, depth + 1);
          if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
          else out[k] = v;
        } finally {
          vm.release(item);
        }
        this.keys.pop();
      } finally {
        vm.free(keyPtr);
      }
    }
    return out;
  }

  /** A property read's result, or the refusal of the getter that threw (a violation wins). */
  private checked(result: number): number {
    const err = this.vm.exception(result);
    if (!err) return result;
    this.vm.free(result);
    this.getterThrew(err);
  }

  /** A getter threw `err` (owned, freed here): the violation that stopped it, or its refusal. */
  private getterThrew(err: number): never {
    const violation = this.host.violation();
    if (violation) {
      this.vm.free(err);
      throw violation;
    }
    let reason: string;
    try {
      reason = vm_string(this.vm, this.guest(this.host.fns.getterFailure, [err]));
    } finally {
      this.vm.free(err);
    }
    this.refuse(reason);
  }

  /** The value through the codec (Uint8Array, or a string the host cannot read raw). */
  private viaCodec(ptr: number): unknown {
    const depth = this.vm.newNumber(this.maxDepth);
    let text: string;
    try {
      text = vm_string(this.vm, this.guest(this.host.fns.encodeValue, [ptr, depth]));
    } finally {
      this.vm.free(depth);
    }
    if (text.charCodeAt(0) === 3) this.refuse(text.slice(text.indexOf('\u0001') + 1));
    this.chars += text.length;
    if (this.chars > this.maxText) this.refuse(`a value larger than ${this.maxText} bytes`);
    return decodeWire(text, this.maxDepth);
  }

  /** Call a glue function that runs no plugin code; a failure there is a violation or a refusal. */
  private guest(fn: number, args: readonly number[]): number {
    const r = this.host.callGlue(fn, args);
    if ('value' in r) return r.value;
    this.vm.free(r.error);
    const violation = this.host.violation();
    if (violation) throw violation;
    this.refuse('a value the engine could not read');
  }

  /** Call a glue function that may run a getter (ownOr): a throw is the getter's. Frees args from `from`. */
  private guestRead(fn: number, args: readonly number[], from: number): number {
    let r: { value: number } | { error: number };
    try {
      r = this.host.callGlue(fn, args);
    } finally {
      for (let i = args.length - 1; i >= from; i--) this.vm.release(args[i]!);
    }
    if ('value' in r) return r.value;
    this.getterThrew(r.error);
  }
}

/** Read a guest string result (owned) and free it. */
function vm_string(vm: RawVM, ptr: number): string {
  try {
    return vm.isString(ptr) ? vm.readString(ptr) : '';
  } finally {
    vm.release(ptr);
  }
}
