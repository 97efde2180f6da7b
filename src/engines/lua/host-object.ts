/**
 * The `host` a plugin sees: a read-only userdata tree holding the granted capabilities (as C
 * functions that go through host-calls.ts), the plain data bound next to them, `host.config`
 * (read lazily on every access, so metadata names can key it), and the marshalling helpers
 * `host.array`, `host.object`, `host.bytes` and `host.null`. Built once per state, at load.
 */
import type { LoadRequest } from '../../engine.js';
import { fengari } from './fengari.js';
import type { HostCalls } from './host-calls.js';
import { type LuaState, type Markers, type TValue, type Table, T, TValueCtor, luaH_new, luaString, setField } from './marshal.js';
import { jsText, ls } from './text.js';

const { lua, lauxlib } = fengari;

type CFunction = (L1: LuaState) => number;
/** One namespace of `host`: its functions, sub-namespaces and plain data. */
type Node = { fns: Map<string, CFunction>; kids: Map<string, Node>; data: Map<string, unknown> };

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Set the global `host` of L. */
export function installHost(L: LuaState, m: Markers, req: LoadRequest, calls: HostCalls): void {
  lua.lua_pushglobaltable(L);
  pushNode(L, tree(req, calls), 'host', calls, rootExtras(m, req, calls));
  setField((L.stack[L.top - 2] as TValue).value as Table, 'host', L.stack[L.top - 1] as TValue);
  lua.lua_pop(L, 2);
}

/** The namespaces: data first, then each capability under its path (a namespace replaces data of the same name, keeping its fields). */
function tree(req: LoadRequest, calls: HostCalls): Node {
  const root: Node = { fns: new Map(), kids: new Map(), data: new Map() };
  for (const [k, v] of Object.entries(req.data)) root.data.set(k, v);
  req.capabilities.forEach((cap) => {
    let node = root;
    for (let i = 0; i < cap.path.length - 1; i++) {
      const k = cap.path[i]!;
      let kid = node.kids.get(k);
      if (!kid) {
        kid = { fns: new Map(), kids: new Map(), data: new Map() };
        const d = node.data.get(k);
        if (isPlainObject(d)) for (const [dk, dv] of Object.entries(d)) kid.data.set(dk, dv);
        node.data.delete(k);
        node.kids.set(k, kid);
      }
      node = kid;
    }
    const label = `host.${cap.path.join('.')}`;
    node.fns.set(cap.path[cap.path.length - 1]!, (L1) => calls.call(L1, cap.fn, label));
  });
  return root;
}

/** What only the root has: the helpers, host.null, and an __index that also answers host.config. */
interface RootExtras {
  helpers: Map<string, CFunction>;
  nullUd: unknown;
  index: CFunction;
}

function rootExtras(m: Markers, req: LoadRequest, calls: HostCalls): RootExtras {
  const helpers = new Map<string, CFunction>([
    ['array', (L1) => mark(L1, m, m.arrayMt)],
    ['object', (L1) => mark(L1, m, m.objectMt)],
    [
      'bytes',
      (L1) => {
        const s = lauxlib.luaL_checklstring(L1, 1) as Uint8Array;
        lua.lua_newuserdata(L1, 0);
        m.bytes.set((L1.stack[L1.top - 1] as TValue).value as object, new Uint8Array(s));
        lua.lua_createtable(L1, 0, 1);
        lua.lua_pushliteral(L1, 'host.bytes');
        lua.lua_setfield(L1, -2, ls('__metatable'));
        lua.lua_setmetatable(L1, -2);
        return 1;
      },
    ],
  ]);
  // __index: the table (upvalue 1), plus host.config read lazily on every access
  const index: CFunction = (L1) => {
    const key = lua.lua_tostring(L1, 2) as Uint8Array | null;
    if (key && jsText(key) === 'config') {
      let cfg: unknown;
      try {
        cfg = req.config();
      } catch (e) {
        return calls.raiseHostError(L1, e);
      }
      calls.pushJS(L1, cfg, '$', 'host.config', true);
      return 1;
    }
    lua.lua_pushvalue(L1, 2);
    lua.lua_rawget(L1, lua.lua_upvalueindex(1));
    return 1;
  };
  return { helpers, nullUd: m.nullUd, index };
}

/** Push one namespace as a read-only userdata whose __index table holds its members. */
function pushNode(L: LuaState, node: Node, path: string, calls: HostCalls, root?: RootExtras): void {
  lua.lua_checkstack(L, 3);
  lua.lua_newuserdata(L, 0);
  const ud = (L.stack[L.top - 1] as TValue).value as { metatable: Table | null };
  const mt = luaH_new(L);
  // __index table with everything readable under this namespace (later members replace earlier ones of the same name)
  const index = luaH_new(L);
  const setTop = (k: string) => {
    setField(index, k, L.stack[L.top - 1] as TValue);
    lua.lua_pop(L, 1);
  };
  for (const [k, fn] of node.fns) setField(index, k, new TValueCtor(T.LCF, fn));
  for (const [k, kid] of node.kids) {
    pushNode(L, kid, `${path}.${k}`, calls);
    setTop(k);
  }
  for (const [k, v] of node.data) {
    if (isPlainObject(v) && !(v instanceof Uint8Array)) {
      const kid: Node = { fns: new Map(), kids: new Map(), data: new Map(Object.entries(v)) };
      pushNode(L, kid, `${path}.${k}`, calls);
    } else calls.pushJS(L, v, `${path}.${k}`, 'host data');
    setTop(k);
  }
  if (root) {
    for (const [k, fn] of root.helpers) setField(index, k, new TValueCtor(T.LCF, fn));
    setField(index, 'null', new TValueCtor(T.USERDATA, root.nullUd));
    L.stack[L.top++] = new TValueCtor(T.TABLE, index);
    lua.lua_pushcclosure(L, root.index, 1);
    setField(mt, '__index', L.stack[L.top - 1] as TValue);
    lua.lua_pop(L, 1);
  } else setField(mt, '__index', new TValueCtor(T.TABLE, index));
  setField(mt, '__newindex', new TValueCtor(T.LCF, readOnly));
  setField(mt, '__metatable', new TValueCtor(T.LNGSTR, luaString('host (read-only)')));
  ud.metatable = mt;
}

function readOnly(L: LuaState): number {
  return lauxlib.luaL_error(L, ls('host is read-only: cannot set %s'), lauxlib.luaL_tolstring(L, 2)) as number;
}

/** host.array(t) / host.object(t): mark a table for the marshaller (refused if it has another metatable). */
function mark(L: LuaState, m: Markers, mt: Table): number {
  lauxlib.luaL_checktype(L, 1, lua.LUA_TTABLE);
  const t = (L.stack[L.top - lua.lua_gettop(L)] as TValue).value as Table;
  if (t.metatable !== null && t.metatable !== m.arrayMt && t.metatable !== m.objectMt) {
    return lauxlib.luaL_argerror(L, 1, ls('table already has a metatable'));
  }
  t.metatable = mt;
  lua.lua_settop(L, 1);
  return 1;
}
