/**
 * An alloc run's end as its tables hold it: every task's measured options (one per part
 * configuration, the base model's included), and the knapsack's choice under the run's byte budget
 * (src/budget/allocate.ts).
 */
import { allocate } from "../src/budget/allocate";
import type { RunConfig } from "../src/runs/config";

export interface PartAllocation {
  /** The iteration (part configuration) chosen for each task, in task order. */
  readonly choices: number[];
  readonly bytes: number;
  readonly maxBytes: number;
  /** Tasks given more than the base model. */
  readonly withParts: number;
}

export function partAllocation(sql: SqlStorage, config: RunConfig): PartAllocation {
  const options = config.tasks.map(() => [] as { iteration: number; bytes: number; loss: number }[]);
  for (const u of sql.exec<{ task: number; iteration: number; bytes: number; loss: number }>(
    "SELECT u.task, u.iteration, c.bytes, u.loss FROM units u JOIN clusters c ON c.iteration = " +
      "u.iteration AND c.cluster = u.cluster ORDER BY u.iteration",
  )) {
    options[u.task].push(u);
  }
  const maxBytes = config.parts!.maxBytes;
  // The base model's option (0 bytes) always fits.
  const { choices, bytes } = allocate(options, maxBytes)!;
  return {
    choices: choices.map((o, t) => options[t][o].iteration),
    bytes,
    maxBytes,
    withParts: choices.filter((o, t) => options[t][o].bytes > 0).length,
  };
}
