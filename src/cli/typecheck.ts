/**
 * Type-checks a TypeScript plugin against the author types (types/plugin.d.ts, shipped as
 * `terrarium-plugins/plugin`), for `terrarium test` and `terrarium serve --check`. The host only
 * strips types when it loads a `.ts` plugin; this is where a plugin that breaks the middleware
 * contract (returns `setHeader`, reads `req.header`) hears about it, with the .ts file:line.
 *
 * typescript is a devDependency of this package, not a dependency: it is imported lazily, and
 * when it is absent the check says "install typescript to type-check" instead of failing.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as TS from 'typescript';
import { TypeCheckError } from '../errors.js';

/** The author types, wherever the package is installed (dist/cli/ -> types/). */
const AUTHOR_TYPES = fileURLToPath(new URL('../../types/plugin.d.ts', import.meta.url));
const AUTHOR_MODULE = 'terrarium-plugins/plugin';

export const TYPESCRIPT_MISSING = 'install typescript to type-check (npm install -D typescript); the plugin was not type-checked';

async function loadTypescript(): Promise<typeof TS | undefined> {
  try {
    const mod = (await import('typescript')) as unknown as { default?: typeof TS } & typeof TS;
    return mod.default ?? mod;
  } catch {
    return undefined;
  }
}

export type TypeCheckOutcome = { ok: true } | { ok: false; error: TypeCheckError } | { ok: 'skipped'; reason: string };

/**
 * Checks `file` (strict, the scaffold's tsconfig options) with the author types always in scope:
 * `host` is declared even without the `/// <reference>` line, and `terrarium-plugins/plugin`
 * resolves to this package's types even where the plugin's folder has no node_modules.
 */
export async function typeCheck(file: string, plugin?: string): Promise<TypeCheckOutcome> {
  const ts = await loadTypescript();
  if (!ts) return { ok: 'skipped', reason: TYPESCRIPT_MISSING };
  const options: TS.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
    types: [],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  };
  const host = ts.createCompilerHost(options);
  host.resolveModuleNameLiterals = (literals, containingFile, _redirected, opts) =>
    literals.map((lit) =>
      lit.text === AUTHOR_MODULE
        ? { resolvedModule: { resolvedFileName: AUTHOR_TYPES, extension: ts.Extension.Dts, isExternalLibraryImport: true } }
        : ts.resolveModuleName(lit.text, containingFile, opts, host),
    );
  host.resolveTypeReferenceDirectiveReferences = (refs, containingFile, _redirected, opts) =>
    refs.map((ref) => {
      const name = typeof ref === 'string' ? ref : ref.fileName.toLowerCase();
      return name === AUTHOR_MODULE
        ? { resolvedTypeReferenceDirective: { primary: true, resolvedFileName: AUTHOR_TYPES, isExternalLibraryImport: true } }
        : ts.resolveTypeReferenceDirective(name, containingFile, opts, host);
    });
  const program = ts.createProgram({ rootNames: [path.resolve(file), AUTHOR_TYPES], options, host });
  const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (diagnostics.length === 0) return { ok: true };
  let first: { file: string; line: number; column: number } | undefined;
  const lines = diagnostics.map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n    ');
    if (!d.file || d.start === undefined) return `TS${d.code}: ${text}`;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    const where = { file: path.relative(process.cwd(), d.file.fileName) || d.file.fileName, line: line + 1, column: character + 1 };
    first ??= where;
    return `${where.file}:${where.line}:${where.column} TS${d.code}: ${text}`;
  });
  return { ok: false, error: new TypeCheckError(lines, { plugin, file: first?.file ?? file, line: first?.line, column: first?.column }) };
}
