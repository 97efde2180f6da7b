/**
 * Choosing among weighted targets, as Traefik's strategies: `wrr` (smooth weighted round robin:
 * over any run of requests each target gets its share, interleaved) and `p2c` (power of two
 * choices: two random targets, the one with fewer requests in flight).
 */

export interface Candidate {
  weight: number;
  inFlight: number;
  up: boolean;
  /** wrr state. */
  current: number;
}

/** Smooth weighted round robin (nginx's): deterministic, interleaved. -1 when none is up with weight > 0. */
export function pickWrr(cs: Candidate[]): number {
  let total = 0;
  let best = -1;
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i]!;
    if (!c.up || c.weight <= 0) continue;
    c.current += c.weight;
    total += c.weight;
    if (best < 0 || c.current > cs[best]!.current) best = i;
  }
  if (best >= 0) cs[best]!.current -= total;
  return best;
}

/** Power of two choices: -1 when none is up. */
export function pickP2c(cs: Candidate[], random: () => number = Math.random): number {
  const up: number[] = [];
  for (let i = 0; i < cs.length; i++) if (cs[i]!.up && cs[i]!.weight > 0) up.push(i);
  if (up.length === 0) return -1;
  if (up.length === 1) return up[0]!;
  const a = Math.floor(random() * up.length);
  let b = Math.floor(random() * (up.length - 1));
  if (b >= a) b++;
  const x = up[a]!;
  const y = up[b]!;
  return cs[y]!.inFlight < cs[x]!.inFlight ? y : x;
}
