/**
 * Spending a device's byte budget by measured quality (issue 21): each task has options (a part
 * configuration, or none), each with the bytes it stores and the few-shot loss the task has under
 * it; choose one option per task so that the bytes fit and the summed few-shot loss is least.
 * A multiple-choice knapsack, solved exactly by dynamic programming over the budget in units of
 * `unit` bytes: an option's bytes are rounded up to whole units, so a choice that fits in units
 * always fits in bytes (the rounding can only leave a few bytes per task unspent).
 */

export interface AllocationOption {
  readonly bytes: number;
  readonly loss: number;
}

export interface Allocation {
  /** Per task, the index of its chosen option. */
  readonly choices: readonly number[];
  readonly bytes: number;
  readonly loss: number;
}

/** Budget units the table may hold at most: bounds time and memory (tasks x units entries). */
export const MAX_UNITS = 1 << 16;

/**
 * The least-loss choice of one option per task within `budget` bytes, or null when even the
 * cheapest option of every task does not fit. `unit` defaults to the smallest that keeps the
 * table within MAX_UNITS.
 */
export function allocate(
  tasks: readonly (readonly AllocationOption[])[],
  budget: number,
  unit = Math.max(1, Math.ceil(budget / MAX_UNITS)),
): Allocation | null {
  const units = Math.floor(budget / unit);
  if (units > MAX_UNITS)
    throw new RangeError(`a budget of ${budget} bytes in units of ${unit} is ${units} units, at most ${MAX_UNITS}`);
  for (const [t, options] of tasks.entries()) if (options.length === 0) throw new RangeError(`task ${t} has no option`);
  // best[u]: least loss of the tasks so far within u units; choice[t][u]: the option that gave it.
  let best = new Float64Array(units + 1);
  const choice = tasks.map(() => new Int16Array(units + 1));
  for (const [t, options] of tasks.entries()) {
    const next = new Float64Array(units + 1).fill(Infinity);
    const cost = options.map((o) => Math.ceil(o.bytes / unit));
    for (let u = 0; u <= units; u++) {
      for (let o = 0; o < options.length; o++) {
        if (cost[o] > u) continue;
        const value = best[u - cost[o]] + options[o].loss;
        if (value < next[u]) {
          next[u] = value;
          choice[t][u] = o;
        }
      }
    }
    best = next;
  }
  if (!Number.isFinite(best[units])) return null;
  const choices: number[] = new Array(tasks.length);
  let u = units;
  for (let t = tasks.length - 1; t >= 0; t--) {
    choices[t] = choice[t][u];
    u -= Math.ceil(tasks[t][choices[t]].bytes / unit);
  }
  return {
    choices,
    bytes: choices.reduce((n, o, t) => n + tasks[t][o].bytes, 0),
    loss: choices.reduce((n, o, t) => n + tasks[t][o].loss, 0),
  };
}
