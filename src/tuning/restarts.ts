/**
 * Restarts of a clustering run from several seeded starts: D2C stops at a fixed point that
 * depends on its k-means start, and the loss cache makes a second start cheap. The run kept is
 * the one with the lowest few-shot J (never a held-out figure).
 */

/**
 * Seeds of `restarts` starts for a run seeded `seed`: the first is `seed` itself (one restart is
 * the plain run), the others spread by the golden-ratio increment, all in [0, 2^32).
 */
export function restartSeeds(seed: number, restarts: number): number[] {
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
  if (!Number.isInteger(restarts) || restarts < 1) throw new RangeError(`restarts must be a positive integer, got ${restarts}`);
  return Array.from({ length: restarts }, (_, r) => (seed + Math.imul(r, 0x9e3779b9)) >>> 0);
}

/** Index of the run with the lowest few-shot J (the first of equals, so fewer restarts never lose a tie). */
export function lowestObjective(runs: readonly { readonly objective: number }[]): number {
  if (runs.length === 0) throw new RangeError("lowestObjective: no runs");
  let best = 0;
  for (let i = 1; i < runs.length; i++) if (runs[i].objective < runs[best].objective) best = i;
  return best;
}
