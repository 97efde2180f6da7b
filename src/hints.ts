/**
 * "Did you mean" hints for authors (CLI, gateway decision checks): the nearest valid name to one they wrote (a decision key, an
 * export, a fixture field). Optimal-string-alignment Damerau-Levenshtein, so a swapped pair of
 * letters counts as one edit; small enough not to need a dependency.
 */

/** Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`, case-insensitive. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const d: number[][] = Array.from({ length: s.length + 1 }, (_, i) => [i, ...Array<number>(t.length).fill(0)]);
  for (let j = 1; j <= t.length; j++) d[0]![j] = j;
  for (let i = 1; i <= s.length; i++) {
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[s.length]![t.length]!;
}

/**
 * The candidate nearest to `name`, when it is near enough to be a slip (at most a third of the
 * longer name's letters, and at least 1 edit): otherwise undefined, since a far guess misleads.
 */
export function nearest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    if (c === name) continue;
    const dist = editDistance(name, c);
    if (dist < bestD) [best, bestD] = [c, dist];
  }
  if (best === undefined) return undefined;
  return bestD <= Math.max(1, Math.floor(Math.max(name.length, best.length) / 3)) ? best : undefined;
}

/** ` (did you mean "x"?)`, or '' when nothing is near. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const n = nearest(name, candidates);
  return n === undefined ? '' : ` (did you mean "${n}"?)`;
}
