/**
 * The private-part configurations an allocation measures per task (issue 21), the Worker's and
 * the experiment's: ranks 1-8 at nf3, int4 and int8 (24 configurations, 24 evaluations a task).
 * fp16 is left out: at every budget of docs/compressed.md it bought at most 0.1 points over int8
 * at the same rank, for twice the bytes. Beside them every task has the option of no part at all
 * (the base model, 0 bytes).
 */
import type { PartDtype } from "../adapters/parts/quantize";

export interface PartConfig {
  readonly rank: number;
  readonly dtype: PartDtype;
}

export const DEFAULT_PART_CONFIGS: readonly PartConfig[] = (["nf3", "int4", "int8"] as const).flatMap((dtype) =>
  [1, 2, 3, 4, 5, 6, 7, 8].map((rank) => ({ rank, dtype })),
);

/** "3/int4"; "none" for the base model. */
export const partConfigName = (c: PartConfig | null) => (c ? `${c.rank}/${c.dtype}` : "none");
