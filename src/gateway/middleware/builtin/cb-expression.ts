/**
 * Traefik's circuit-breaker expressions (`NetworkErrorRatio() > 0.5`,
 * `ResponseCodeRatio(500, 600, 0, 600) > 0.25`, `LatencyAtQuantileMS(50.0) > 100`, combined with
 * `&&`, `||`, `!` and parentheses), parsed with jsep into a predicate over the recent metrics.
 * Problems come with their position (1-based character) in the expression.
 */
import jsep from 'jsep';

/** What the expression reads. */
export interface CbMetrics {
  networkErrorRatio(): number;
  responseCodeRatio(from: number, to: number, divFrom: number, divTo: number): number;
  latencyAtQuantileMs(q: number): number;
}

type Num = (m: CbMetrics) => number;
type Bool = (m: CbMetrics) => boolean;

export class CbExpressionError extends Error {
  constructor(
    readonly detail: string,
    /** 1-based character position in the expression. */
    readonly position: number,
  ) {
    super(`${detail} at character ${position}`);
  }
}

const COMPARE: Record<string, (a: number, b: number) => boolean> = {
  '>': (a, b) => a > b,
  '<': (a, b) => a < b,
  '>=': (a, b) => a >= b,
  '<=': (a, b) => a <= b,
  '==': (a, b) => a === b,
  '!=': (a, b) => a !== b,
};

/** Parse an expression into a predicate; throws CbExpressionError. */
export function compileCbExpression(text: string): Bool {
  let ast: jsep.Expression;
  try {
    ast = jsep(text);
  } catch (e) {
    const err = e as Error & { index?: number; description?: string };
    throw new CbExpressionError(err.description ?? err.message, (err.index ?? 0) + 1);
  }
  const pos = (needle: string) => Math.max(0, text.indexOf(needle)) + 1;
  const num = (n: jsep.Expression): Num => {
    if (n.type === 'Literal' && typeof n.value === 'number') {
      const v = n.value;
      return () => v;
    }
    if (n.type === 'CallExpression') {
      const call = n as jsep.CallExpression;
      const name = call.callee.type === 'Identifier' ? (call.callee as jsep.Identifier).name : '';
      const args = call.arguments.map((a) => {
        if (a.type === 'Literal' && typeof a.value === 'number') return a.value;
        if (a.type === 'UnaryExpression' && a.operator === '-' && (a.argument as jsep.Literal).type === 'Literal') return -Number((a.argument as jsep.Literal).value);
        throw new CbExpressionError(`the arguments of ${name}() must be numbers`, pos(name));
      });
      const arity = (k: number) => {
        if (args.length !== k) throw new CbExpressionError(`${name}() takes ${k} argument${k === 1 ? '' : 's'}, got ${args.length}`, pos(name));
      };
      switch (name) {
        case 'NetworkErrorRatio':
          arity(0);
          return (m) => m.networkErrorRatio();
        case 'ResponseCodeRatio': {
          arity(4);
          const [a, b, c, d] = args as [number, number, number, number];
          return (m) => m.responseCodeRatio(a, b, c, d);
        }
        case 'LatencyAtQuantileMS': {
          arity(1);
          const q = args[0]!;
          if (q <= 0 || q > 100) throw new CbExpressionError('LatencyAtQuantileMS() takes a quantile from 0 (excluded) to 100', pos(name));
          return (m) => m.latencyAtQuantileMs(q);
        }
        default:
          throw new CbExpressionError(`unknown function "${name || '?'}"; expected NetworkErrorRatio(), ResponseCodeRatio(from, to, divFrom, divTo) or LatencyAtQuantileMS(q)`, pos(name || '('));
      }
    }
    if (n.type === 'Identifier') throw new CbExpressionError(`"${(n as jsep.Identifier).name}" is not a metric; call a function such as NetworkErrorRatio()`, pos((n as jsep.Identifier).name));
    throw new CbExpressionError('expected a number or a metric function', 1);
  };
  const bool = (n: jsep.Expression): Bool => {
    if (n.type === 'BinaryExpression') {
      const b = n as jsep.BinaryExpression;
      if (b.operator === '&&' || b.operator === '||') {
        const l = bool(b.left);
        const r = bool(b.right);
        return b.operator === '&&' ? (m) => l(m) && r(m) : (m) => l(m) || r(m);
      }
      const cmp = COMPARE[b.operator];
      if (!cmp) throw new CbExpressionError(`operator "${b.operator}" is not allowed; use > < >= <= == != && || !`, pos(b.operator));
      const l = num(b.left);
      const r = num(b.right);
      return (m) => cmp(l(m), r(m));
    }
    if (n.type === 'UnaryExpression' && n.operator === '!') {
      const inner = bool(n.argument as jsep.Expression);
      return (m) => !inner(m);
    }
    throw new CbExpressionError('expected a comparison such as NetworkErrorRatio() > 0.5', 1);
  };
  return bool(ast);
}
