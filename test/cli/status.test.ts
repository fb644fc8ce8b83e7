/** How `d2c-edge status` counts the tasks an iteration moved (no Worker needed). */
import { describe, expect, it } from "vitest";
import { movedTasks } from "../../cli/status.ts";

describe("movedTasks", () => {
  it("does not count a relabelling of the same clusters (the server renumbers them canonically)", () => {
    expect(movedTasks([0, 0, 1, 1, 2], [0, 0, 1, 1, 2])).toBe(0);
    expect(movedTasks([0, 0, 1, 1, 2], [2, 2, 0, 0, 1])).toBe(0);
  });

  it("counts each task that left the cluster it was in, once", () => {
    expect(movedTasks([0, 0, 0, 1, 1], [0, 0, 1, 1, 1])).toBe(1);
    expect(movedTasks([0, 0, 0, 1, 1], [1, 1, 0, 0, 0])).toBe(1); // the same move, relabelled
    expect(movedTasks([0, 0, 1, 1], [0, 1, 0, 1])).toBe(2);
  });
});
