/**
 * The literal source patches applied to fengari when it loads (see fengari.ts for how, and the
 * README, "Memory and long built-ins", for the table of what each one is for). Each `find` must
 * occur exactly once in its file (or, for an edit marked `all`, at least once, every occurrence
 * replaced), or the engine refuses to start.
 */

export interface Patch {
  file: string;
  edits: { find: string; replace: string; all?: true }[];
}

/**
 * fengari pops its stack with `delete L.stack[i]`: a runtime call in V8 each time, ~17% of a
 * call that iterates with pairs (adjust_top, moveresults). A store of undefined reads back the same.
 */
const POPS = [
  { find: 'delete L.stack[--L.top];', replace: 'L.stack[--L.top] = void 0;', all: true },
] as const;

/** Counts one unit of work of a built-in loop; every `steps` of them the deadline is checked. */
const STEP = (L: string) => `if (--module.__terrarium.steps < 0) module.__terrarium.matchSlice(${L});`;
/** Checks a debt of work left by a site that had no state at hand. */
const DEBT = (L: string) => `if (module.__terrarium.steps < 0) module.__terrarium.matchSlice(${L});`;

export const PATCHES: Patch[] = [
  {
    file: 'lvm.js',
    edits: [
      {
        // pairs(t) over a table steps inline (hooks.ts nextInline); anything else calls the iterator
        find: `            case OP_TFORCALL: {
                let cb = ra + 3; /* call base */
                lobject.setobjs2s(L, cb+2, ra+2);
                lobject.setobjs2s(L, cb+1, ra+1);
                lobject.setobjs2s(L, cb, ra);
                ldo.adjust_top(L, cb+3);  /* func. + 2 args (state and index) */
                ldo.luaD_call(L, cb, i.C);
                ldo.adjust_top(L, ci.top);`,
        replace: `            case OP_TFORCALL: {
                let cb = ra + 3; /* call base */
                if (!(L.stack[ra].type === LUA_TLCF && L.stack[ra].value === module.__terrarium.next && L.stack[ra + 1].type === LUA_TTABLE
                      && (L.hookmask & 1) === 0 && module.__terrarium.helpers.nextInline(L, ra, cb, i.C, ci.top))) {
                lobject.setobjs2s(L, cb+2, ra+2);
                lobject.setobjs2s(L, cb+1, ra+1);
                lobject.setobjs2s(L, cb, ra);
                ldo.adjust_top(L, cb+3);  /* func. + 2 args (state and index) */
                ldo.luaD_call(L, cb, i.C);
                ldo.adjust_top(L, ci.top);
                }`,
      },
      { find: 'let buff = new Uint8Array(tl);', replace: 'module.__terrarium.alloc(L, tl); let buff = new Uint8Array(tl);' },
      {
        // fengari orders strings by their (colliding, unpadded hex) hash: "\16" < "\2" was true.
        find: `const l_strcmp = function(ls, rs) {
    let l = luaS_hashlongstr(ls);
    let r = luaS_hashlongstr(rs);`,
        replace: `const l_strcmp = function(ls, rs) {
    return module.__terrarium.helpers.luaCompare(ls.realstring, rs.realstring);
    let l, r;`,
      },
      {
        find: 'return l_strcmp(l.tsvalue(), r.tsvalue()) < 0 ? 1 : 0;',
        replace: `{ const c = l_strcmp(l.tsvalue(), r.tsvalue()); ${DEBT('L')} return c < 0 ? 1 : 0; }`,
      },
      {
        find: 'return l_strcmp(l.tsvalue(), r.tsvalue()) <= 0 ? 1 : 0;',
        replace: `{ const c = l_strcmp(l.tsvalue(), r.tsvalue()); ${DEBT('L')} return c <= 0 ? 1 : 0; }`,
      },
      {
        find: 'return luaS_eqlngstr(t1.tsvalue(), t2.tsvalue()) ? 1 : 0;',
        replace: `{ const c = luaS_eqlngstr(t1.tsvalue(), t2.tsvalue()); ${DEBT('L')} return c ? 1 : 0; }`,
      },
      // last: earlier finds may include a pop
      ...POPS,
    ],
  },
  {
    file: 'lstring.js',
    edits: [
      {
        // every copy of a byte string into a Lua string (string.sub, string.unpack, lua_pushlstring...)
        find: `const luaS_new = function(L, str) {`,
        replace: `const luaS_new = function(L, str) { if (L !== null && str.length > 4096) module.__terrarium.alloc(L, str.length);`,
      },
      {
        find: `    let len = str.length;
    let s = "|";
    for (let i=0; i<len; i++)
        s += str[i].toString(16);
    return s;`,
        replace: '    return module.__terrarium.helpers.luaHash(str);',
      },
    ],
  },
  {
    file: 'defs.js',
    edits: [
      {
        // every JS string fengari turns into a Lua string (sources, names, messages): natively when
        // it is well-formed UTF-16; lone surrogates keep fengari's own encoding
        find: `    let len = str.length;
    let outU8Array = Array(len); /* array is at *least* going to be length of string */`,
        replace: `    if (str.isWellFormed()) { const b = module.__terrarium.helpers.utf8(str); if (cache) to_luastring_cache[str] = b; return b; }
    let len = str.length;
    let outU8Array = Array(len); /* array is at *least* going to be length of string */`,
      },
      {
        find: `const luastring_eq = function(a, b) {`,
        replace: `const luastring_eq = function(a, b) { return module.__terrarium.helpers.luaEqual(a, b);`,
      },
    ],
  },
  {
    file: 'ltable.js',
    edits: [
      // The map of keys deleted during a traversal is made when a key is first deleted, not with
      // every table (one Map less per table: half the tables' allocation, most tables never lose a key).
      { find: 'this.dead_strong = new Map();', replace: 'this.dead_strong = void 0;' },
      { find: 't.dead_strong.clear();', replace: 't.dead_strong = void 0;' },
      { find: 't.dead_strong.set(hash, e);', replace: '(t.dead_strong || (t.dead_strong = new Map())).set(hash, e);' },
      { find: '|| table.dead_strong.get(hash);', replace: '|| (table.dead_strong && table.dead_strong.get(hash));' },
      {
        // hashing a fresh long string is work proportional to its length
        find: 'return luaS_hashlongstr(key.tsvalue());',
        replace: `{ const h = luaS_hashlongstr(key.tsvalue()); ${DEBT('L')} return h; }`,
      },
    ],
  },
  {
    file: 'lauxlib.js',
    edits: [
      {
        // a plugin's source is compiled once per process (chunks.ts, limits.ts decide when)
        find: 'const luaL_loadbufferx = function(L, buff, size, name, mode) {',
        replace: `const luaL_loadbufferx = function(L, buff, size, name, mode) { return module.__terrarium.loadChunk(L, buff, name, mode, luaL_loadbufferx_compile); };
const luaL_loadbufferx_compile = function(L, buff, size, name, mode) {`,
      },
      {
        find: 'let newsize = Math.max(B.b.length * 2, newend);  /* double buffer size */',
        replace: 'module.__terrarium.alloc(B.L, newend); let newsize = Math.max(B.b.length * 2, newend);',
      },
      {
        // tostring(integer), the string-building workloads' `tostring(#v)`: lua_pushfstring("%I")
        // scans the format, pushes the number's text and an empty tail, then concatenates the two;
        // converting the integer in place gives the same string (luaO_tostring) in one step.
        find: `                if (lua_isinteger(L, idx))
                    lua_pushfstring(L, p_I, lua_tointeger(L, idx));`,
        replace: `                if (lua_isinteger(L, idx)) {
                    lua_pushinteger(L, lua_tointeger(L, idx));
                    lua_tolstring(L, -1);
                }`,
      },
    ],
  },
  {
    file: 'ltm.js',
    edits: [
      {
        // the metamethod names are the same immutable strings in every state: made once
        find: 'const luaT_init = function(L) {',
        replace: `const luaT_init = function(L) {
    const shared = module.__terrarium.tmnames;
    if (shared) { for (let i = 0; i < shared.length; i++) L.l_G.tmname[i] = shared[i]; return; }
    luaT_init_names(L);
    module.__terrarium.tmnames = L.l_G.tmname.slice();
};
const luaT_init_names = function(L) {`,
      },
      // last: earlier finds may include a pop
      ...POPS,
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
        // table.move / insert / remove / concat / unpack / sort loop over integer ranges inside one
        // built-in (up to 2^31 steps with a lying __len): count them like pattern steps (4 each, so
        // the memory guard sees a table filled by lua_seti every 16k entries).
        find: 'const lua_seti = function(L, idx, n) {',
        replace: `const lua_seti = function(L, idx, n) { module.__terrarium.steps -= 3; ${STEP('L')}`,
      },
      {
        find: 'const lua_geti = function(L, idx, n) {',
        replace: `const lua_geti = function(L, idx, n) { ${STEP('L')}`,
      },
      // last: earlier finds may include a pop
      ...POPS,
      { find: 'delete L.stack[L.top];', replace: 'L.stack[L.top] = void 0;' },
      { find: 'delete from.stack[from.top + i];', replace: 'from.stack[from.top + i] = void 0;' },
    ],
  },
  {
    file: 'lstrlib.js',
    edits: [
      {
        find: 'const singlematch = function(ms, s, p, ep) {',
        replace: `const singlematch = function(ms, s, p, ep) { ${STEP('ms.L')}`,
      },
      {
        // %b scans to the end of the subject without a singlematch call.
        find: `        while (++s < ms.src_end) {
            if (ms.src[s] === e) {`,
        replace: `        while (++s < ms.src_end) { ${STEP('ms.L')}
            if (ms.src[s] === e) {`,
      },
      {
        // string.rep copied its input once per repetition (15M typed-array calls for ('x'):rep(15e6),
        // ~1.5 s with no check after the single allocation): fill by doubling, count the separator loop.
        find: `        let pi = 0;
        while (n-- > 1) {  /* first n-1 copies (followed by separator) */`,
        replace: `        let pi = 0;
        if (lsep === 0 && n > 1) {
            p.set(s, 0);
            for (let filled = l; filled < totallen;) { const c = Math.min(filled, totallen - filled); p.copyWithin(filled, 0, c); filled += c; }
            n = 1; pi = totallen - l;
        }
        while (n-- > 1) { ${STEP('L')} /* first n-1 copies (followed by separator) */`,
      },
      {
        // plain find (and patterns without specials): a linear search that checks the deadline
        find: 'let f = find_subarray(s.subarray(init - 1), p, 0);',
        replace: `let f = module.__terrarium.helpers.luaIndexOf(s.subarray(init - 1), p, L); ${DEBT('L')}`,
      },
    ],
  },
  {
    file: 'lutf8lib.js',
    edits: [
      // utf8.len / utf8.offset walk a string of up to memoryBytes/2 bytes inside one built-in
      { find: `    while (posi <= posj) {
        let dec = utf8_decode(s, posi);`, replace: `    while (posi <= posj) { ${STEP('L')}
        let dec = utf8_decode(s, posi);` },
      { find: `            while (n < 0 && posi > 0) {  /* move back */`, replace: `            while (n < 0 && posi > 0) { ${STEP('L')} /* move back */` },
      { find: `            while (n > 0 && posi < s.length) {`, replace: `            while (n > 0 && posi < s.length) { ${STEP('L')}` },
    ],
  },
  {
    file: 'lobject.js',
    edits: [
      {
        // A numeral is read char by char into a JS string, then matched: ~0.4 s per MB inside one
        // instruction (tonumber, n + 0, the lexer). Latin-1 decoding gives the same result for
        // numerals (ASCII), and a string longer than MAX_NUMERAL is not a numeral in a plugin.
        find: `    try {
        s = to_jsstring(s);
    } catch (e) {
        return null;
    }`,
        replace: `    s = module.__terrarium.helpers.numeralText(s);`,
      },
      {
        find: `const luaO_str2num = function(s, o) {`,
        replace: `const luaO_str2num = function(s, o) { if (s.length > module.__terrarium.helpers.MAX_NUMERAL) return 0;`,
      },
    ],
  },
  {
    file: 'llex.js',
    edits: [
      {
        // the lexer reads every character of a source (possibly endless, from a reader function)
        find: `const next = function(ls) {
    ls.current = ls.z.zgetc();`,
        replace: `const next = function(ls) { ${STEP('ls.L')}
    ls.current = ls.z.zgetc();`,
      },
      {
        // a token (long string, name) grows its buffer by doubling
        find: 'luaZ_resizebuffer(ls.L, b, newsize);',
        replace: 'module.__terrarium.alloc(ls.L, newsize); luaZ_resizebuffer(ls.L, b, newsize);',
      },
    ],
  },
  {
    // The places where a plugin's code catches an error (pcall, xpcall, load, coroutine.resume
    // and wrap): a limit that tripped is raised again there, so nothing the plugin does can run
    // after it (issue: `while true do pcall(spin) end` never returned, see limits.ts).
    file: 'lbaselib.js',
    edits: [
      {
        // pcall and xpcall, in both of their paths: returned from (a non-yieldable call) and
        // continued after an error in a coroutine (lua_resume's recover, then this continuation)
        find: `const finishpcall = function(L, status, extra) {
    if (status !== LUA_OK && status !== LUA_YIELD) {  /* error? */`,
        replace: `const finishpcall = function(L, status, extra) {
    if (status !== LUA_OK && status !== LUA_YIELD) {  /* error? */
        module.__terrarium.caughtByPlugin(L);`,
      },
      {
        // load: the reader function or the compiler failed (a reader that ran past the deadline)
        find: `    } else {  /* error (message is on top of the stack) */`,
        replace: `    } else {  /* error (message is on top of the stack) */
        module.__terrarium.caughtByPlugin(L);`,
      },
    ],
  },
  {
    file: 'lcorolib.js',
    edits: [
      {
        // coroutine.resume and wrap: the coroutine died; its resumer must not see a limit as a result
        find: 'let status = lua_resume(co, L, narg);',
        replace: 'let status = lua_resume(co, L, narg); if (status !== LUA_OK && status !== LUA_YIELD) module.__terrarium.caughtByPlugin(L);',
      },
    ],
  },
  {
    file: 'ldebug.js',
    edits: [
      {
        // No message handler runs for a limit: it would run plugin code after the limit, and when the
        // limit was raised by the count hook it would run with hooks off (allowhook is still 0).
        find: 'if (L.errfunc !== 0) {  /* is there an error handling function? */',
        replace: 'if (L.errfunc !== 0 && module.__terrarium.handlerMayRun(L)) {  /* is there an error handling function? */',
      },
    ],
  },
  {
    file: 'lcode.js',
    edits: [
      {
        find: `    f.code[fs.pc] = i;
    f.lineinfo[fs.pc] = fs.ls.lastline;`,
        replace: `    if (--module.__terrarium.code < 0) module.__terrarium.codeSlice(fs.ls.L);
    f.code[fs.pc] = i;
    f.lineinfo[fs.pc] = fs.ls.lastline;`,
      },
    ],
  },
  {
    file: 'ldo.js',
    edits: [
      {
        find: `    let p = new SParser(z, name, mode);
    L.nny++;  /* cannot yield during parsing */
    let status = luaD_pcall(L, f_parser, p, L.top, L.errfunc);`,
        replace: `    module.__terrarium.compileReset(L);
    let p = new SParser(z, name, mode);
    L.nny++;  /* cannot yield during parsing */
    let status = luaD_pcall(L, f_parser, p, L.top, L.errfunc);
    module.__terrarium.compileReset(L);`,
      },
      {
        // no binary chunks in a Terrarium state: fengari's undump does not verify bytecode
        find: `        checkmode(L, p.mode, to_luastring("binary", true));`,
        replace: `        if (L.l_G.terrarium) { lobject.luaO_pushfstring(L, to_luastring("attempt to load a binary chunk (not allowed in a Terrarium plugin)")); luaD_throw(L, LUA_ERRSYNTAX); }
        checkmode(L, p.mode, to_luastring("binary", true));`,
      },
      {
        find: `    let size = L.stack.length;
    if (size > LUAI_MAXSTACK)
        luaD_throw(L, LUA_ERRERR);`,
        replace: `    module.__terrarium.growStack(L, n);
    let size = L.stack.length;
    if (size > LUAI_MAXSTACK) {
        module.__terrarium.fault(L); luaD_throw(L, LUA_ERRERR); }`,
      },
      {
        find: `            luaD_reallocstack(L, ERRORSTACKSIZE);
            ldebug.luaG_runerror(L, to_luastring("stack overflow", true));`,
        replace: `            luaD_reallocstack(L, ERRORSTACKSIZE);
            module.__terrarium.fault(L); ldebug.luaG_runerror(L, to_luastring("stack overflow", true));`,
      },
      {
        find: `    if (L.nCcalls === LUAI_MAXCCALLS)
        ldebug.luaG_runerror(L, to_luastring("JS stack overflow", true));
    else if (L.nCcalls >= LUAI_MAXCCALLS + (LUAI_MAXCCALLS >> 3))
        luaD_throw(L, LUA_ERRERR);  /* error while handing stack error */`,
        replace: `    if (L.nCcalls === LUAI_MAXCCALLS) {
        module.__terrarium.fault(L); ldebug.luaG_runerror(L, to_luastring("JS stack overflow", true)); }
    else if (L.nCcalls >= LUAI_MAXCCALLS + (LUAI_MAXCCALLS >> 3)) {
        module.__terrarium.fault(L); luaD_throw(L, LUA_ERRERR); } /* error while handing stack error */`,
      },
      {
        find: `    if (L.nCcalls >= LUAI_MAXCCALLS)
        return resume_error(L, "JS stack overflow", nargs);`,
        replace: `    if (L.nCcalls >= LUAI_MAXCCALLS) {
        const r = resume_error(L, "JS stack overflow", nargs); module.__terrarium.fault(L); module.__terrarium.caught(L, L.stack[L.top - 1]); return r; }`,
      },
      {
        // the message handler after a JS exception (atnativeerror), as in ldebug's luaG_errormsg
        find: 'if (L.errfunc !== 0) {  /* is there an error handling function? */',
        replace: 'if (L.errfunc !== 0 && module.__terrarium.handlerMayRun(L)) {  /* is there an error handling function? */',
      },
      {
        // every error a protected call catches passes here: after a fault it is the engine's own
        find: `    while (L.top > oldtop + 1)
        delete L.stack[--L.top];
};`,
        replace: `    while (L.top > oldtop + 1)
        delete L.stack[--L.top];
    module.__terrarium.caught(L, L.stack[oldtop]);
};`,
      },
      // last: earlier finds may include a pop
      ...POPS,
      { find: 'delete L.stack[i];', replace: 'L.stack[i] = void 0;', all: true },
    ],
  },
];
