/**
 * Arguments in, without text: host values are built in the guest directly through the raw FFI
 * (ffi.ts). Objects are created with a null prototype and filled with [[Set]], so no setter a
 * plugin put on Object.prototype can run and every property is an ordinary writable, enumerable,
 * configurable data property, as JSON.parse would make it; the captured native
 * Object.setPrototypeOf then gives each Object.prototype. Arrays are made by the glue's
 * `makeArray` from their items. Property keys of common shapes (request fields, header names)
 * are created once per instance and reused.
 *
 * The direct builder covers the values requests are made of: strings (without NUL or lone
 * surrogates, which the C string API cannot carry), numbers (all of them, -0 and NaN included),
 * booleans, null, undefined, arrays of at most MAX_ITEMS items, and plain objects. Anything else,
 * or a getter that throws, gives up (everything built so far is freed) and the call takes the
 * wire-text path, which copies the rest or raises the documented ERR_MARSHAL.
 */
import { MAX_DEPTH } from '../../binding/wire.js';
import type { RawVM } from './ffi.js';

/** Keys kept per instance (those of at most VALUE_MAX_LENGTH characters); past this, keys are created for the call and freed after it. */
const MAX_KEYS = 2048;
/**
 * Short string values are kept too (header values repeat from request to request: host, accept,
 * user-agent...): strings are immutable values, so sharing one between calls is invisible to the
 * plugin. At most VALUE_CHARS characters are kept; past that the cache is emptied and refilled.
 */
const VALUE_CHARS = 16384;
const VALUE_MAX_LENGTH = 256;
/** Longest array built directly (its items are passed as one argv). */
const MAX_ITEMS = 1024;

/** Thrown inside the builder when a value needs the wire-text path. */
const GIVE_UP = Symbol('give up');

export class ArgWriter {
  private readonly keys = new Map<string, number>();
  private readonly values = new Map<string, number>();
  /** The pointers in `values` (borrowed by the values that use them: never released by the builder). */
  private readonly shared = new Set<number>();
  private valueChars = 0;
  /**
   * Null-prototype objects built for the current call, in creation order: they stay allocated
   * (the builder holds them) until they have their prototype, then the ones that are not
   * arguments are freed. Every other child value is freed as soon as its parent holds it.
   */
  private readonly built: number[] = [];

  constructor(
    private readonly vm: RawVM,
    /** Object.setPrototypeOf (captured native), Object.prototype and the glue's makeArray (owned by the instance). */
    private readonly setProtoFn: number,
    private readonly objectProto: number,
    private readonly makeArrayFn: number,
  ) {}

  /**
   * Build `args` in the guest; returns the owned pointers (free them with `vm.release`), or
   * undefined when some value needs the wire-text path (nothing is left allocated then).
   * Guest calls made here (setPrototypeOf, makeArray) run no plugin code.
   */
  build(args: readonly unknown[]): number[] | undefined {
    const { vm, built } = this;
    if (this.valueChars > VALUE_CHARS) this.dropValues();
    const roots: number[] = [];
    try {
      for (const a of args) roots.push(this.value(a, 0));
      this.adoptAll();
    } catch (e) {
      for (let i = built.length - 1; i >= 0; i--) vm.free(built[i]!);
      for (let i = roots.length - 1; i >= 0; i--) this.drop(args[i], roots[i]!);
      built.length = 0;
      if (e === GIVE_UP) return undefined;
      throw e;
    }
    for (const p of built) if (!roots.includes(p)) vm.free(p);
    built.length = 0;
    // The caller releases what it gets: give it its own reference to a shared string.
    for (let i = 0; i < roots.length; i++) if (this.shared.has(roots[i]!)) roots[i] = vm.dup(roots[i]!);
    return roots;
  }

  private dropValues(): void {
    for (const p of [...this.values.values()].reverse()) this.vm.free(p);
    this.values.clear();
    this.shared.clear();
    this.valueChars = 0;
  }

  /** Free the cached keys (before the context is freed). */
  dispose(): void {
    this.dropValues();
    for (const p of [...this.keys.values()].reverse()) this.vm.free(p);
    this.keys.clear();
  }

  private value(v: unknown, depth: number): number {
    const { vm } = this;
    switch (typeof v) {
      case 'string': {
        let p = v.length <= VALUE_MAX_LENGTH ? this.values.get(v) : undefined;
        if (p !== undefined) return p;
        p = vm.newCString(v);
        if (p === 0) throw GIVE_UP;
        if (v.length <= VALUE_MAX_LENGTH && this.valueChars <= VALUE_CHARS) {
          this.values.set(v, p);
          this.shared.add(p);
          this.valueChars += v.length + 16;
        }
        return p;
      }
      case 'number':
        return vm.newNumber(v);
      case 'boolean':
        return v ? vm.yes : vm.no;
      case 'undefined':
        return vm.undef;
      case 'object':
        if (v === null) return vm.nul;
        if (depth >= MAX_DEPTH) throw GIVE_UP;
        if (Array.isArray(v)) return this.array(v, depth);
        {
          const proto = Object.getPrototypeOf(v) as unknown;
          if (proto !== Object.prototype && proto !== null) throw GIVE_UP;
        }
        return this.object(v as Record<string, unknown>, depth);
      default:
        throw GIVE_UP;
    }
  }

  /** A child value was stored in its parent: free it, unless it is a built object (freed once adopted). */
  private drop(item: unknown, p: number): void {
    if (!isObject(item) && !(typeof item === 'string' && this.shared.has(p))) this.vm.release(p);
  }

  private object(v: Record<string, unknown>, depth: number): number {
    const { vm } = this;
    const o = vm.newObject();
    this.built.push(o);
    const names = Object.keys(v);
    for (let i = 0; i < names.length; i++) {
      const k = names[i]!;
      let item: unknown;
      try {
        item = v[k];
      } catch {
        throw GIVE_UP;
      }
      const c = this.value(item, depth + 1);
      let key = this.keys.get(k);
      if (key === undefined) {
        key = vm.newCString(k);
        if (key === 0) {
          this.drop(item, c);
          throw GIVE_UP;
        }
        if (this.keys.size < MAX_KEYS && k.length <= VALUE_MAX_LENGTH) this.keys.set(k, key);
        else {
          vm.setProp(o, key, c);
          vm.free(key);
          this.drop(item, c);
          continue;
        }
      }
      vm.setProp(o, key, c);
      this.drop(item, c);
    }
    return o;
  }

  private array(v: readonly unknown[], depth: number): number {
    if (v.length > MAX_ITEMS) throw GIVE_UP;
    const values: unknown[] = [];
    const items: number[] = [];
    try {
      for (let i = 0; i < v.length; i++) {
        let item: unknown;
        try {
          item = v[i];
        } catch {
          throw GIVE_UP;
        }
        values.push(item);
        items.push(this.value(item, depth + 1));
      }
      return this.callGlue(this.makeArrayFn, items);
    } finally {
      for (let i = items.length - 1; i >= 0; i--) this.drop(values[i], items[i]!);
    }
  }

  /** Give every object built for this call Object.prototype (one native call each, no plugin code). */
  private adoptAll(): void {
    const pair = [0, this.objectProto];
    for (const o of this.built) {
      pair[0] = o;
      this.vm.release(this.callGlue(this.setProtoFn, pair));
    }
  }

  /** Call a glue function or captured native (runs no plugin code); its result is owned. A failure gives up. */
  private callGlue(fn: number, args: readonly number[]): number {
    const r = this.vm.callPtrs(fn, args);
    const err = this.vm.exception(r);
    if (err) {
      this.vm.free(err);
      this.vm.free(r);
      throw GIVE_UP;
    }
    return r;
  }
}

/** Whether the builder made a null-prototype object for `v` (a plain object, not an array). */
function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
