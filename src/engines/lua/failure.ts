/**
 * What a Lua thread died of, as a TerrariumError: an ERR_MARSHAL (or other host error) raised
 * into Lua comes back as itself; fengari's own stack overflow is recognised by the very error
 * value it raised (never by message text: a plugin's own error("stack overflow") is its error);
 * anything else becomes ERR_PLUGIN_LOAD or ERR_PLUGIN_THROWN with the thrown value, the message,
 * the plugin's file:line and its traceback. Limits are not decided here (limits.ts).
 */
import { type ErrorContext, PluginLoadError, PluginStackError, PluginThrownError, type TerrariumError } from '../../errors.js';
import { guestFailure } from '../../binding/failures.js';
import { fengari } from './fengari.js';
import { type LuaState, type Markers, type TString, T, TValueCtor, toJS } from './marshal.js';
import { GLUE, jsText, tracebackOf } from './text.js';

const { lua } = fengari;

/** What the classification needs from the instance. */
export interface FailureSite {
  /** The main state (tracebacks are built on it). */
  readonly L: LuaState;
  readonly markers: Markers;
  readonly file: string;
  readonly stackBytes: number;
  /** The TerrariumError raised into Lua as this value, if it is one. */
  raisedError(value: unknown): TerrariumError | undefined;
  /** The value is fengari's own stack overflow error. */
  isFault(value: unknown): boolean;
}

/**
 * The error of dead thread `co` (its error value on top). `load`: the chunk was loading (or no
 * export ran), so a plain error is ERR_PLUGIN_LOAD. `fault` is true when fengari overflowed its
 * stack: the instance is broken.
 */
export function deadThreadError(site: FailureSite, co: LuaState, ctx: ErrorContext, load: boolean): { error: TerrariumError; fault: boolean } {
  const { file } = site;
  const errTv = co.stack[co.top - 1] ?? new TValueCtor(T.NIL, null);
  if (errTv.type === T.USERDATA) {
    const raised = site.raisedError(errTv.value);
    // The host names the export on it when it comes out (host/guard.ts).
    if (raised) return { error: raised, fault: false };
  }
  let message: string;
  let thrown: unknown;
  if (errTv.type === T.LNGSTR || errTv.type === T.SHRSTR) {
    message = jsText((errTv.value as TString).realstring);
    thrown = message;
  } else if (errTv.type === T.NUMINT || errTv.type === T.NUMFLT) {
    message = String(errTv.value);
    thrown = errTv.value;
  } else {
    try {
      thrown = toJS(errTv, site.markers, '$', 0, []);
    } catch {
      thrown = undefined;
    }
    const typeName = lua.lua_typename(co, lua.lua_type(co, -1));
    message = guestFailure(thrown ?? `(a Lua ${typeName ? jsText(typeName) : 'value'})`, file, GLUE).message;
  }
  // Traceback of the dead thread (its frames are still there).
  const traceback = tracebackOf(site.L, co) ?? '';
  if (site.isFault(errTv.value)) return { error: new PluginStackError(site.stackBytes, ctx), fault: true };
  const fromMsg = guestFailure(message, file, GLUE).where;
  const where = fromMsg.line !== undefined ? fromMsg : guestFailure(traceback, file, GLUE).where;
  const full = { ...ctx, ...where, pluginStack: traceback || undefined };
  if (load) return { error: new PluginLoadError(message, full), fault: false };
  return { error: new PluginThrownError(message, full, thrown), fault: false };
}
