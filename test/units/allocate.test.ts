/** The byte-budget allocator (issue 21): exact against brute force, never over budget. */
import { describe, expect, it } from "vitest";
import { allocate, type AllocationOption } from "../../src/budget/allocate";
import { seededRandom } from "../../src/prng";

/** Every combination of one option per task: the reference the dynamic programme must equal. */
function bruteForce(tasks: readonly (readonly AllocationOption[])[], budget: number): number {
  let least = Infinity;
  const walk = (t: number, bytes: number, loss: number) => {
    if (bytes > budget) return;
    if (t === tasks.length) return void (least = Math.min(least, loss));
    for (const o of tasks[t]) walk(t + 1, bytes + o.bytes, loss + o.loss);
  };
  walk(0, 0, 0);
  return least;
}

describe("allocate", () => {
  it("finds the least summed loss within the budget, as brute force does, in units of 1 byte", () => {
    const random = seededRandom(21);
    for (let trial = 0; trial < 50; trial++) {
      const tasks = Array.from({ length: 5 }, () => [
        { bytes: 0, loss: 2 + random() },
        ...Array.from({ length: 4 }, () => ({ bytes: 1 + Math.floor(random() * 40), loss: random() * 2 })),
      ]);
      const budget = Math.floor(random() * 120);
      const got = allocate(tasks, budget, 1)!;
      expect(got.bytes).toBeLessThanOrEqual(budget);
      expect(got.loss).toBeCloseTo(bruteForce(tasks, budget), 9);
      expect(got.loss).toBeCloseTo(
        got.choices.reduce((n, o, t) => n + tasks[t][o].loss, 0),
        9,
      );
    }
  });

  it("rounds costs up to its unit, so it never exceeds the budget; null when nothing fits", () => {
    const tasks = [
      [
        { bytes: 33, loss: 1 },
        { bytes: 65, loss: 0.5 },
      ],
      [
        { bytes: 33, loss: 1 },
        { bytes: 65, loss: 0.2 },
      ],
    ];
    const coarse = allocate(tasks, 130, 32)!;
    expect(coarse.bytes).toBeLessThanOrEqual(130);
    expect(allocate(tasks, 130, 1)).toMatchObject({ choices: [1, 1], bytes: 130 });
    expect(allocate(tasks, 65, 1)).toBeNull();
  });
});
