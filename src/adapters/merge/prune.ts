/** Elementwise trims of a dense delta W (TIES, DARE, magnitude pruning), each in place, float64. */

/**
 * Keeps the trunc(density * n) entries of largest magnitude and zeroes the rest (PEFT's
 * magnitude prune, torch.topk). Of equal magnitudes at the boundary the lower indices are kept.
 */
export function keepLargest(delta: Float64Array, density: number): Float64Array {
  const n = delta.length;
  const k = Math.trunc(density * n);
  if (k >= n) return delta;
  if (k === 0) return delta.fill(0);
  const threshold = delta.map(Math.abs).sort()[n - k];
  let ties = k;
  for (const x of delta) if (Math.abs(x) > threshold) ties--;
  for (let i = 0; i < n; i++) {
    const x = Math.abs(delta[i]);
    if (x > threshold) continue;
    if (x === threshold && ties > 0) ties--;
    else delta[i] = 0;
  }
  return delta;
}

/** DARE: drops each entry with probability 1 - density and rescales the survivors by 1 / density. */
export function dropAndRescale(delta: Float64Array, density: number, uniform: () => number): Float64Array {
  for (let i = 0; i < delta.length; i++) delta[i] = uniform() < density ? delta[i] / density : 0;
  return delta;
}

/**
 * TIES's elect and merge (PEFT `ties`, majority sign "total"): each entry's sign is that of the sum
 * of the (trimmed, unweighted) deltas, ties to +; the result is the mean of the weighted entries
 * whose sign agrees with it (zeros never agree), zero where none does.
 */
export function electAndMerge(deltas: readonly Float64Array[], weights: readonly number[]): Float64Array {
  const merged = new Float64Array(deltas[0].length);
  for (let j = 0; j < merged.length; j++) {
    let total = 0;
    for (const d of deltas) total += d[j];
    const elected = total >= 0 ? 1 : -1;
    let sum = 0;
    let count = 0;
    deltas.forEach((d, i) => {
      if (Math.sign(d[j]) === elected) {
        sum += weights[i] * d[j];
        count++;
      }
    });
    merged[j] = sum / Math.max(count, 1);
  }
  return merged;
}
