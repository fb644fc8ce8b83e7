import { describe, expect, it } from "vitest";
import { unitMessages, unitsOf, type EvaluationUnit } from "../../src/runs/unit";

const unit = (i: number, merged: string, runId = "r"): EvaluationUnit => ({
  runId, unitId: `0:${i}:${merged}`, modelId: "m", taskId: `t${i}`, split: "fewshot", examplesSha256: "e", mergedSha256: merged,
});

describe("queue messages of units", () => {
  it("groups units by run and merged adapter, at most 16 a message, near-equal sizes", () => {
    const units = [...Array.from({ length: 40 }, (_, i) => unit(i, "a")), ...Array.from({ length: 3 }, (_, i) => unit(i, "b")), unit(0, "a", "other")];
    const messages = unitMessages(units);
    expect(messages.map((m) => m.units.length)).toEqual([14, 14, 12, 3, 1]);
    for (const m of messages) expect(new Set(m.units.map((u) => `${u.runId}|${u.mergedSha256}`)).size).toBe(1);
    // Every unit once, none lost or repeated.
    expect(messages.flatMap((m) => m.units.map((u) => `${u.runId}|${u.unitId}`)).sort()).toEqual(units.map((u) => `${u.runId}|${u.unitId}`).sort());
    expect(unitMessages([])).toEqual([]);
    expect(unitMessages(units.slice(0, 5), 1)).toHaveLength(5);
  });

  it("reads a message from before grouping (one unit as the body) as one unit", () => {
    const one = unit(1, "a");
    expect(unitsOf(one)).toEqual([one]);
    expect(unitsOf({ units: [one, unit(2, "a")] })).toHaveLength(2);
  });
});
