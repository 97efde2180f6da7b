/**
 * Loads fengari with the source patches of patches.ts, which make it containable and fix its
 * string hashing and order (see the README, "Memory and long built-ins", for the table of patches).
 * fengari is plain JavaScript with no allocator hook and no way to interrupt a library function,
 * so the places where one step can allocate or loop in proportion to its input report to the
 * hooks of hooks.ts first (sizes before allocating, units of work for the deadline and the memory
 * guard), and fengari's own stack overflows report themselves so they are classified by what the
 * engine did.
 *
 * The patches are applied by compiling those files ourselves while `require('fengari')`
 * runs (a one-shot `Module._extensions['.js']` hook): fengari's modules capture each other's
 * functions by destructuring, so patching exports afterwards would not reach internal callers.
 * Each patch is a literal string replacement that is checked: if fengari changes (or was already
 * loaded by someone else, unpatched), the engine refuses to start instead of running unguarded.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type GuardHooks, guardHooks, helpers } from './hooks.js';
import { PATCHES, type Patch } from './patches.js';

export { type GuardHooks, guardHooks } from './hooks.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
/** fengari ships no types; its C-like API is used through this loose shape inside this folder only. */
export type Fengari = any;

const hooksWithHelpers = guardHooks as GuardHooks & { helpers: typeof helpers };
hooksWithHelpers.helpers = helpers;

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
      const parts = src.split(edit.find);
      if (edit.all ? parts.length < 2 : parts.length !== 2) throw new Error(`cannot patch fengari ${patch.file}: unexpected source`);
      src = parts.join(edit.replace);
    }
    m.__terrarium = hooksWithHelpers;
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
    lfunc: require('fengari/src/lfunc.js'),
  };
  return { ...fengari, internals };
}

export const fengari: Fengari = loadPatched();
