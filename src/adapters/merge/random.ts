/** The seeded randomness of dare_ties_svd: the same seed gives the same drops on every engine. */

/** Uniform draws in [0, 1) from 32 bits of state (mulberry32: small, fast, integer-only arithmetic). */
export function seededUniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let r = Math.imul(state ^ (state >>> 15), state | 1);
    r ^= r + Math.imul(r ^ (r >>> 7), r | 61);
    return ((r ^ (r >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** One stream per module (FNV-1a of its name mixed with the seed), so a module's drops do not depend on the others. */
export function moduleSeed(seed: number, module: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < module.length; i++) hash = Math.imul(hash ^ module.charCodeAt(i), 0x01000193);
  return (hash ^ Math.imul(seed, 0x9e3779b1)) >>> 0;
}
