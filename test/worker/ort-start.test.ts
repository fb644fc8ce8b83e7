/**
 * Finding 5 of the security review (issue 20): a malformed model must fail only itself. This file
 * runs in an isolate of its own (the vitest plugin gives each test file one), and its first
 * onnxruntime use is a model that passes the graph checks but that onnxruntime refuses: before
 * the fix, that failure was kept as the runtime's start and every later session failed with it.
 */
import { describe, expect, it } from "vitest";
import { call, registerModel, uploadAdapter, uploadExamples } from "./api";
import { DIR, embedding, hugeEmbedding, onnxVariant, refused, register, snapshot, tokenizerFiles } from "./modelFiles";
import { fixtureBytes } from "./seed";

describe("the first onnxruntime use in an isolate is a model onnxruntime refuses", () => {
  it("refuses that model alone; the plain model then registers and evaluate answers", async () => {
    // The embedding's shape transposed: bytes and shape agree, the graph's MatMuls do not.
    const transposed = await onnxVariant(`${DIR}/plain/model.onnx`, (m) => {
      const t = embedding(m);
      t.dims = [t.dims[1], t.dims[0]];
    });
    const before = await snapshot();
    expect(
      await refused(await register("evil", { "model.onnx": transposed, ...(await tokenizerFiles()) }), 400, "bad_onnx"),
    ).toContain("does not load in onnxruntime");
    // The review's own request ([65536, 32768] over 20 KB) is now refused by the graph checks, before onnxruntime.
    const huge = await onnxVariant(`${DIR}/plain/model.onnx`, hugeEmbedding);
    expect(
      await refused(await register("evil", { "model.onnx": huge, ...(await tokenizerFiles()) }), 400, "bad_onnx"),
    ).toContain("[65536, 32768] FLOAT (8589934592 bytes) but holds 20480 bytes");
    expect(await snapshot()).toEqual(before);

    const plain = await register("char-lm-plain", {
      "model.onnx": await fixtureBytes(`${DIR}/plain/model.onnx`),
      ...(await tokenizerFiles()),
    });
    expect(plain.status).toBe(201);
    expect((await registerModel()).status).toBe(201);
    expect((await uploadAdapter("gec-de")).status).toBe(201);
    expect((await uploadExamples("gec-de", "fewshot")).status).toBe(201);
    const evaluated = await call("/v1/evaluate", {
      method: "POST",
      body: JSON.stringify({ task: "gec-de", adapter: "gec-de", split: "fewshot" }),
    });
    expect(evaluated.status).toBe(200);
    expect(((await evaluated.json()) as { loss: number }).loss).toBeGreaterThan(0);
  });
});
