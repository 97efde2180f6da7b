/**
 * BigInt is off for QuickJS plugins unless granted (`LoadRequest.grants.bigint`).
 *
 * One BigInt operation is one C call that never reaches the interrupt handler, and near QuickJS's
 * size limit (about 1 Mbit) one multiplication takes 1.5-2 s by itself (bench/js-overrun.ts):
 * more than any overrun the rest of the sandbox allows, and no BigInt size cap can be enforced
 * from outside the build. So by default no BigInt value can exist in a plugin: a source with a
 * BigInt literal does not load (checked here, before it is interpreted), code built at run time
 * with `eval` or a Function constructor is checked the same way inside the guest (guest-guards.ts),
 * and `BigInt`, `BigInt64Array`, `BigUint64Array` and DataView's BigInt methods are removed.
 *
 * The check is a pattern over the raw text, not a tokenizer: a digit run ending in `n` anywhere,
 * strings and comments included. It can refuse a harmless source ("step 2n" in a string) but
 * never misses a literal QuickJS would compile, because it does not have to agree with QuickJS
 * on where strings, comments and regular expressions end.
 */
import { PluginLoadError } from '../../errors.js';
import { type LoadRequest, errorContext } from '../../engine.js';

/**
 * A BigInt literal's shape (decimal, hex, octal, binary, with separators) at a token boundary.
 * The same source text is used by the guest (guest-guards.ts) for eval and Function.
 */
export const BIGINT_LITERAL_SOURCE = String.raw`(?<![\w$])(?:0[xX][\da-fA-F_]*|0[oObB][\d_]*|\d[\d_]*)n(?![\w$])`;
const BIGINT_LITERAL = new RegExp(BIGINT_LITERAL_SOURCE);

/** The hint every refusal carries: what to do, and what the grant costs. */
export const BIGINT_HINT =
  'BigInt is off in plugins by default: one BigInt operation cannot be interrupted and can hold the host for seconds. Remove the BigInt literal (a digit run ending in "n", also inside strings and comments), or grant BigInt to this plugin';

/** Throw ERR_PLUGIN_LOAD naming the line when the plugin source holds a BigInt literal and BigInt is not granted. */
export function refuseBigIntLiterals(req: LoadRequest): void {
  if (req.grants?.bigint === true) return;
  const m = BIGINT_LITERAL.exec(req.source);
  if (!m) return;
  const line = req.source.slice(0, m.index).split('\n').length;
  throw new PluginLoadError(`the source holds a BigInt literal (${JSON.stringify(m[0])} on line ${line})`, { ...errorContext(req), line }, BIGINT_HINT);
}
