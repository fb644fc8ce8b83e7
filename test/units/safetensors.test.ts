/** The safetensors reader and writer against every fixture adapter (written by the Python tool). */
import { describe, expect, it } from "vitest";
import { readSafetensors, writeSafetensors, type TensorInput } from "../../src/adapters/safetensors";
import { fixtureBytes, fixtureJson } from "../worker/seed";

describe("safetensors", () => {
  it("round-trips every fixture adapter byte-identically", async () => {
    const { tasks } = await fixtureJson<{ tasks: Array<{ id: string }> }>("catalogue.json");
    expect(tasks).toHaveLength(40);
    for (const { id } of tasks) {
      const original = await fixtureBytes(`adapters/${id}/adapter_model.safetensors`);
      const file = readSafetensors(original);
      const tensors: Record<string, TensorInput> = Object.fromEntries(file.tensors);
      const written = writeSafetensors(tensors, file.metadata);
      expect(written.byteLength, id).toBe(original.byteLength);
      expect(
        written.findIndex((b, i) => b !== original[i]),
        `${id}: first differing byte`,
      ).toBe(-1);
    }
  });
});
