/** Binding a configured built-in middleware: build it from its options, or report why it cannot run. */
import type { Issue, ResolvedMiddleware, Where } from '../../config/model.js';
import { issueAt } from '../../config/issues.js';
import { BUILTINS } from './index.js';

type Fn = (a: unknown, b: unknown) => unknown;

/** What binding a built-in sets on a configured middleware (middleware.ts ActiveMiddleware). */
export interface BuiltinTarget {
  readonly name: string;
  readonly spec: ResolvedMiddleware;
  native: boolean;
  onRequest: Fn | undefined;
  onResponse: Fn | undefined;
  requestBodyMax: number;
  responseBodyMax: number;
  requestHeaders: string[] | undefined;
  dispose: (() => void) | undefined;
  broken: { code: string; message: string } | undefined;
}

/** Build `mw`'s built-in; returns the problems (path and line), empty when it can run. */
export function bindBuiltin(mw: BuiltinTarget, where: Where, baseDir: string): Issue[] {
  const type = mw.spec.builtin!;
  const def = BUILTINS.get(type);
  const base = ['http', 'middlewares', mw.name, type];
  const issues: Issue[] = [];
  if (!def) {
    issues.push(issueAt(where, base, `unknown middleware type "${type}"`));
  } else {
    const built = def.create(structuredClone(mw.spec.config) as Record<string, unknown>, {
      name: mw.name,
      baseDir,
      issue: (p, message) => issues.push(issueAt(where, [...base, ...p], message)),
    });
    if (issues.length === 0 && built) {
      mw.native = true;
      mw.onRequest = built.onRequest?.bind(built) as Fn | undefined;
      mw.onResponse = built.onResponse?.bind(built) as Fn | undefined;
      mw.requestBodyMax = built.requestBodyMax ?? 0;
      mw.responseBodyMax = built.responseBodyMax ?? 0;
      mw.requestHeaders = undefined;
      mw.dispose = built.dispose?.bind(built);
      mw.broken = undefined;
      return issues;
    }
    built?.dispose?.();
  }
  mw.broken = { code: 'ERR_CONFIG', message: issues.map((i) => `${i.path}: ${i.message}`).join('; ') };
  return issues;
}
