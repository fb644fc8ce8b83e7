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
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32)
    throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
  if (!Number.isInteger(restarts) || restarts < 1)
    throw new RangeError(`restarts must be a positive integer, got ${restarts}`);
  return Array.from({ length: restarts }, (_, r) => (seed + Math.imul(r, 0x9e3779b9)) >>> 0);
}

/** Index of the run with the lowest few-shot J (the first of equals, so fewer restarts never lose a tie). */
export function lowestObjective(runs: readonly { readonly objective: number }[]): number {
  if (runs.length === 0) throw new RangeError("lowestObjective: no runs");
  let best = 0;
  for (let i = 1; i < runs.length; i++) if (runs[i].objective < runs[best].objective) best = i;
  return best;
}

/** What a start's run is judged by: few-shot J (loss), or few-shot exact match with J breaking ties. */
export type RestartCriterion = "loss" | "exactMatch";

/**
 * Index of the run to keep. "loss": lowest J. "exactMatch": highest few-shot exact match (mean
 * over tasks of the share of few-shot examples greedy decoding gets right, read off the same
 * forward passes as J), then lowest J, then the first: J is what D2C minimises, but on the
 * reference world a lower J at K = 3 came with a lower held-out exact match (docs/tuning.md).
 */
export function keptRestart(
  runs: readonly { readonly objective: number; readonly fewShotExactMatch: number }[],
  criterion: RestartCriterion,
): number {
  if (criterion === "loss") return lowestObjective(runs);
  if (runs.length === 0) throw new RangeError("keptRestart: no runs");
  let best = 0;
  for (let i = 1; i < runs.length; i++) {
    const a = runs[i];
    const b = runs[best];
    if (
      a.fewShotExactMatch > b.fewShotExactMatch ||
      (a.fewShotExactMatch === b.fewShotExactMatch && a.objective < b.objective)
    )
      best = i;
  }
  return best;
}
