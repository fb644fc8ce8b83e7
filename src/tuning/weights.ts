/**
 * Merge weights as the optimiser sees them: x_i = log(n w_i), so x = 0 is the uniform 1/n merge
 * (D2C's) and every weight stays positive. This is a positive scale (sum of w) times a point of
 * the simplex: the svd family weights delta W, so the sum matters (1 averages, more amplifies).
 */

/** Coordinates are clamped to +-MAX_LOG so no weight over- or underflows (e^8 ~ 3000 times uniform). */
export const MAX_LOG = 8;

/** Weights of a merge of x.length members from optimiser coordinates. */
export function mergeWeights(x: readonly number[]): number[] {
  if (x.length === 0) throw new RangeError("mergeWeights: no members");
  return x.map((v) => {
    if (Number.isNaN(v)) throw new RangeError("mergeWeights: NaN coordinate");
    return Math.exp(Math.max(-MAX_LOG, Math.min(MAX_LOG, v))) / x.length;
  });
}

/**
 * Weights from coordinates with a shared scale first: x = [s, z_1..z_n], w_i = e^(s + z_i) / n.
 * Redundant on purpose: CMA-ES samples each coordinate with the same step, so the scale (the
 * direction that mattered most on the reference world: uniform weights times 1.5 beat uniform)
 * gets a full step of its own instead of 1/sqrt(n) of one spread over every member.
 */
export function scaledMergeWeights(x: readonly number[]): number[] {
  if (x.length < 2) throw new RangeError("scaledMergeWeights: needs a scale and at least one member");
  return mergeWeights(x.slice(1).map((z) => z + x[0]));
}

/** Optimiser coordinates of positive weights (the inverse of mergeWeights inside the clamp). */
export function weightCoordinates(weights: readonly number[]): number[] {
  return weights.map((w, i) => {
    if (!(w > 0)) throw new RangeError(`weights[${i}] is ${w}, not positive`);
    return Math.log(w * weights.length);
  });
}
