import { describe, expect, it } from "vitest";
import { unitMessages, type EvaluationUnit } from "../../src/runs/unit";

const unit = (i: number, merged: string, runId = "r"): EvaluationUnit => ({
  runId,
  unitId: `0:${i}:${merged}`,
  modelId: "m",
  taskId: `t${i}`,
  split: "fewshot",
  examplesSha256: "e",
  mergedSha256: merged,
});

describe("queue messages of units", () => {
  it("groups units by run and merged adapter, at most 16 a message, near-equal sizes", () => {
    const units = [
      ...Array.from({ length: 40 }, (_, i) => unit(i, "a")),
      ...Array.from({ length: 3 }, (_, i) => unit(i, "b")),
      unit(0, "a", "other"),
    ];
    const messages = unitMessages("unit", units);
    expect(messages.every((m) => m.kind === "unit")).toBe(true);
    expect(messages.map((m) => m.units.length)).toEqual([14, 14, 12, 3, 1]);
    for (const m of messages) expect(new Set(m.units.map((u) => `${u.runId}|${u.mergedSha256}`)).size).toBe(1);
    // Every unit once, none lost or repeated.
    expect(messages.flatMap((m) => m.units.map((u) => `${u.runId}|${u.unitId}`)).sort()).toEqual(
      units.map((u) => `${u.runId}|${u.unitId}`).sort(),
    );
    expect(unitMessages("unit", [])).toEqual([]);
    expect(unitMessages("report", units.slice(0, 5), 1)).toHaveLength(5);
  });
});
