/**
 * Loads fengari with five small source patches that make it containable (see the README,
 * "Memory and long built-ins"). fengari is plain JavaScript with no allocator hook and no way to
 * interrupt a library function, so the places where one step can allocate or loop without bound
 * report to a guard object first, and one bug that disabled the CPU budget is fixed:
 *
 * - `luaV_concat` (lvm.js), the `..` operator: before allocating the result buffer;
 * - `luaL_prepbuffsize` (lauxlib.js), the string buffer behind string.rep, string.format,
 *   string.gsub, table.concat, string.char...: before growing a buffer;
 * - `singlematch` (lstrlib.js), the unit of work of Lua patterns (find/match/gmatch/gsub): a step
 *   counter, so a pathological pattern is stopped by the call deadline;
 * - `lua_seti` (lapi.js): the same step counter, for table.move/insert/remove loops over integer
 *   ranges (up to 2^31 steps inside one built-in when __len lies);
 * - `lua_pcallk` (lapi.js): a fengari bug that switched the count hook off for good after a
 *   `pcall` inside a coroutine caught an error (i.e. `pcall(error)` then `while true do end`).
 *
 * The patches are applied by compiling those files ourselves while `require('fengari')`
 * runs (a one-shot `Module._extensions['.js']` hook): fengari's modules capture each other's
 * functions by destructuring, so patching exports afterwards would not reach internal callers.
 * Each patch is a literal string replacement that is checked: if fengari changes (or was already
 * loaded by someone else, unpatched), the engine refuses to start instead of running unguarded.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/* eslint-disable @typescript-eslint/no-explicit-any */
/** fengari ships no types; its C-like API is used through this loose shape inside this folder only. */
export type Fengari = any;

/** What the patched fengari calls back into; one per process, dispatching on the state's `l_G.terrarium`. */
export interface GuardHooks {
  /** A string of `bytes` is about to be allocated by `..` or a string buffer. May throw a Lua error. */
  alloc(L: unknown, bytes: number): void;
  /** Pattern matching or a table loop used up its step slice: check the deadline, refill `steps`. May throw a Lua error. */
  matchSlice(L: unknown): void;
  /** Remaining pattern-matching / table-loop steps before `matchSlice` is called. */
  steps: number;
}

export const guardHooks: GuardHooks = {
  alloc() {},
  matchSlice() {
    guardHooks.steps = 1 << 20;
  },
  steps: 1 << 20,
};

interface Patch {
  file: string;
  edits: { find: string; replace: string }[];
}

/** Counts one unit of work of a built-in loop; every `steps` of them the deadline is checked. */
const STEP = 'if (--module.__terrarium.steps < 0) module.__terrarium.matchSlice(L);';

const PATCHES: Patch[] = [
  {
    file: 'lvm.js',
    edits: [{ find: 'let buff = new Uint8Array(tl);', replace: 'module.__terrarium.alloc(L, tl); let buff = new Uint8Array(tl);' }],
  },
  {
    file: 'lauxlib.js',
    edits: [
      {
        find: 'let newsize = Math.max(B.b.length * 2, newend);  /* double buffer size */',
        replace: 'module.__terrarium.alloc(B.L, newend); let newsize = Math.max(B.b.length * 2, newend);',
      },
    ],
  },
  {
    file: 'lapi.js',
    edits: [
      {
        // fengari bug: `&= ~CIST_OAH | allowhook` never records allowhook, so after a pcall inside a
        // coroutine catches an error, `recover` restores allowhook = 0 and the count hook (the CPU
        // budget) never fires again in that coroutine. C Lua: setoah(st, v) = (st & ~CIST_OAH) | v.
        find: 'ci.callstatus &= ~lstate.CIST_OAH | L.allowhook;',
        replace: 'ci.callstatus = (ci.callstatus & ~lstate.CIST_OAH) | L.allowhook;',
      },
      {
        // table.move / table.insert / table.remove loop over integer ranges inside one built-in
        // (up to 2^31 steps with a lying __len, allocating nothing): count them like pattern steps.
        find: 'const lua_seti = function(L, idx, n) {',
        replace: `const lua_seti = function(L, idx, n) { ${STEP}`,
      },
    ],
  },
  {
    file: 'lstrlib.js',
    edits: [
      {
        find: 'const singlematch = function(ms, s, p, ep) {',
        replace: 'const singlematch = function(ms, s, p, ep) { if (--module.__terrarium.steps < 0) module.__terrarium.matchSlice(ms.L);',
      },
    ],
  },
];

function loadPatched(): Fengari {
  const require = createRequire(import.meta.url);
  const Module = require('node:module') as {
    _extensions: Record<string, (m: { _compile(src: string, f: string): void; __terrarium?: GuardHooks }, f: string) => void>;
  };
  const byPath = new Map<string, Patch>();
  for (const p of PATCHES) {
    const path = require.resolve(`fengari/src/${p.file}`);
    if (require.cache[path]) {
      throw new Error(`fengari (${p.file}) was loaded before the Terrarium Lua engine, unpatched; load terrarium's Lua engine first`);
    }
    byPath.set(path, p);
  }
  const applied = new Set<string>();
  const original = Module._extensions['.js']!;
  Module._extensions['.js'] = function (m, filename) {
    const patch = byPath.get(filename);
    if (!patch) return original.call(this, m, filename);
    let src = readFileSync(filename, 'utf8');
    for (const edit of patch.edits) {
      if (src.split(edit.find).length !== 2) throw new Error(`cannot patch fengari ${patch.file}: unexpected source`);
      src = src.replace(edit.find, edit.replace);
    }
    m.__terrarium = guardHooks;
    applied.add(filename);
    m._compile(src, filename);
  };
  let fengari: Fengari;
  try {
    fengari = require('fengari');
    // lstrlib is only pulled in through lualib; make sure every patched file is loaded now.
    for (const p of PATCHES) require(`fengari/src/${p.file}`);
  } finally {
    Module._extensions['.js'] = original;
  }
  if (applied.size !== PATCHES.length) throw new Error('cannot patch fengari: not every guarded file was loaded through the patcher');
  const internals = {
    lobject: require('fengari/src/lobject.js'),
    ltable: require('fengari/src/ltable.js'),
    lstring: require('fengari/src/lstring.js'),
    ldo: require('fengari/src/ldo.js'),
  };
  return { ...fengari, internals };
}

export const fengari: Fengari = loadPatched();
