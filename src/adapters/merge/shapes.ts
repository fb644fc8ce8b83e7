/** Shape checks before any arithmetic, so a bad input fails with the module and shape it is about. */
import type { AdapterFactors, LoraTarget } from "../factors";

/** Throws a RangeError naming the adapter, module and shape of the first mismatch; returns the largest rank. */
export function checkShapes(adapters: readonly AdapterFactors[], targets: readonly LoraTarget[]): number {
  if (adapters.length === 0) throw new RangeError("no adapters to merge");
  if (targets.length === 0) throw new RangeError("no LoRA targets to merge");
  const modules = new Set<string>();
  for (const t of targets) {
    if (modules.has(t.module)) throw new RangeError(`target ${t.module} is listed twice`);
    modules.add(t.module);
    if (!Number.isInteger(t.in) || !Number.isInteger(t.out) || t.in < 1 || t.out < 1) {
      throw new RangeError(`target ${t.module}: in ${t.in} and out ${t.out} must be positive integers`);
    }
  }
  let maxRank = 0;
  adapters.forEach((adapter, i) => {
    for (const module of adapter.keys()) {
      if (!modules.has(module))
        throw new RangeError(`adapter ${i}: module ${module} is not one of the ${targets.length} targets`);
    }
    for (const { module, in: inDim, out } of targets) {
      const f = adapter.get(module);
      if (!f) throw new RangeError(`adapter ${i}: no factors for module ${module}`);
      const where = `adapter ${i}, module ${module}`;
      if (!Number.isInteger(f.rank) || f.rank < 1)
        throw new RangeError(`${where}: rank ${f.rank} is not a positive integer`);
      if (f.a.length !== f.rank * inDim) {
        throw new RangeError(
          `${where}: A has ${f.a.length} values, expected [${f.rank}, ${inDim}] = ${f.rank * inDim}`,
        );
      }
      if (f.b.length !== out * f.rank) {
        throw new RangeError(`${where}: B has ${f.b.length} values, expected [${out}, ${f.rank}] = ${out * f.rank}`);
      }
      // A NaN would never converge in the SVD's iteration: refuse it here.
      for (const [name, values] of [
        ["A", f.a],
        ["B", f.b],
      ] as const) {
        const at = values.findIndex((v) => !Number.isFinite(v));
        if (at >= 0) throw new RangeError(`${where}: ${name}[${at}] is ${values[at]}, not finite`);
      }
      maxRank = Math.max(maxRank, f.rank);
    }
  });
  return maxRank;
}
