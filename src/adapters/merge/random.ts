/** The seeded randomness of dare_ties_svd: the same seed gives the same drops on every engine. */

/** One stream per module (FNV-1a of its name mixed with the seed), so a module's drops do not depend on the others. */
export function moduleSeed(seed: number, module: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < module.length; i++) hash = Math.imul(hash ^ module.charCodeAt(i), 0x01000193);
  return (hash ^ Math.imul(seed, 0x9e3779b1)) >>> 0;
}
