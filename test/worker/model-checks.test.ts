/**
 * Finding 9 of the security review (issue 20), the model parts. A model registered for the
 * evaluator service (`evaluator=remote`) goes through the same graph checks as one for the Worker
 * (src/models/graphCheck.ts): sent or pushed, an external-data location outside the model's own
 * pushed files and a tensor declaring more bytes than it holds are refused. A model's id and
 * aliases are names that one model answers to, compared case-insensitively as hub names are.
 * Each refusal leaves R2 and the catalogue as they were.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { checkGraph } from "../../src/models/graphCheck";
import { readModel } from "../../src/models/onnxGraph";
import { call, registerModel, uploadAdapter } from "./api";
import {
  DIR,
  embedding,
  encode,
  externalEmbedding,
  hugeEmbedding,
  onnxVariant,
  push,
  pushedModelJson,
  refused,
  register,
  snapshot,
  tokenizerFiles,
} from "./modelFiles";
import { fixtureBytes } from "./seed";

const REFERENCE = `${DIR}/model.onnx`;

beforeAll(async () => {
  expect((await registerModel()).status).toBe(201);
});

describe("the graph checks' streaming walk", () => {
  it("reads every fixture graph as protobuf-es parses it, from bytes and from an R2 stream", async () => {
    const fixtures = [
      REFERENCE,
      `${DIR}/plain/model.onnx`,
      "variants/qwen-bias-tiny/model.onnx",
      "variants/qwen-bias-tiny/plain/model.onnx",
      "variants/qwen-bias-tiny/external/model.onnx",
    ];
    for (const key of fixtures) {
      const bytes = await fixtureBytes(key);
      const graph = readModel(bytes).graph!;
      const expected = { inputs: graph.input.map((v) => v.name), outputs: graph.output.map((v) => v.name) };
      const external = new Map(
        key.includes("external")
          ? [["model.onnx_data", (await fixtureBytes(key.replace(/model\.onnx$/, "model.onnx_data"))).byteLength]]
          : [],
      );
      expect(await checkGraph(bytes, external), key).toEqual(expected);
      await env.BUCKET.put("scan/model.onnx", bytes);
      expect(await checkGraph((await env.BUCKET.get("scan/model.onnx"))!.body, external), key).toEqual(expected);
    }
    await env.BUCKET.delete("scan/model.onnx");
  });
});

describe("graph checks for evaluator=remote", () => {
  it(
    "refuse a sent model with external data at ../../../../etc/passwd, or an embedding declared [65536, " +
      "32768] over 20 KB",
    async () => {
      const before = await snapshot();
      const traversal = await onnxVariant(`${DIR}/plain/model.onnx`, externalEmbedding("../../../../etc/passwd"));
      const message = await refused(
        await register("evil", { "model.onnx": traversal, ...(await tokenizerFiles()) }, "?evaluator=remote"),
        400,
        "bad_onnx",
      );
      expect(message).toContain(
        'is stored in external file "../../../../etc/passwd", which is not a file pushed with this model',
      );
      const huge = await onnxVariant(`${DIR}/plain/model.onnx`, hugeEmbedding);
      expect(
        await refused(
          await register("evil", { "model.onnx": huge, ...(await tokenizerFiles()) }, "?evaluator=remote"),
          400,
          "bad_onnx",
        ),
      ).toContain("but holds 20480 bytes");
      expect(await snapshot()).toEqual(before);
    },
  );

  it(
    "refuse a pushed graph whose external data is not the file pushed with it, or does not fit in it; take " +
      "one that does",
    async () => {
      const raw = embedding(readModel(await fixtureBytes(REFERENCE))).rawData.slice();
      const data = await push("ext-lm", "model.onnx_data", raw);
      expect(data.done.status).toBe(200);
      const externalData = [{ file: "model.onnx_data", sha256: data.sha256 }];
      const cases: [string, Uint8Array, string][] = [
        [
          "../../../../etc/passwd",
          await onnxVariant(REFERENCE, externalEmbedding("../../../../etc/passwd")),
          'external file "../../../../etc/passwd"',
        ],
        [
          "another name",
          await onnxVariant(REFERENCE, externalEmbedding("weights.data")),
          'external file "weights.data", which is not a file pushed',
        ],
        [
          "more than the file holds",
          await onnxVariant(REFERENCE, (m) => {
            externalEmbedding("model.onnx_data")(m);
            embedding(m).externalData.find((e) => e.key === "offset")!.value = "4";
          }),
          `at offset 4 of model.onnx_data, which has ${raw.byteLength} bytes`,
        ],
      ];
      for (const [what, onnx, expected] of cases) {
        const graph = await push("ext-lm", "model.onnx", onnx);
        expect(graph.done.status, what).toBe(200);
        const before = await snapshot();
        const files = {
          "model.json": await pushedModelJson("ext-lm", graph.sha256, externalData),
          ...(await tokenizerFiles()),
        };
        expect(await refused(await register("ext-lm", files, "?evaluator=remote"), 400, "bad_onnx"), what).toContain(
          expected,
        );
        expect(await snapshot()).toEqual(before);
      }
      const graph = await push(
        "ext-lm",
        "model.onnx",
        await onnxVariant(REFERENCE, externalEmbedding("model.onnx_data")),
      );
      const files = {
        "model.json": await pushedModelJson("ext-lm", graph.sha256, externalData),
        ...(await tokenizerFiles()),
      };
      expect((await register("ext-lm", files, "?evaluator=remote")).status).toBe(201);
    },
  );

  it("refuse a pushed graph declaring more than it holds", async () => {
    const graph = await push("huge-lm", "model.onnx", await onnxVariant(REFERENCE, hugeEmbedding));
    const before = await snapshot();
    const files = { "model.json": await pushedModelJson("huge-lm", graph.sha256), ...(await tokenizerFiles()) };
    expect(await refused(await register("huge-lm", files, "?evaluator=remote"), 400, "bad_onnx")).toContain(
      "[65536, 32768] FLOAT (8589934592 bytes) but holds 20480 bytes",
    );
    expect(await snapshot()).toEqual(before);
  });
});

describe("model names", () => {
  const files = async () => ({
    "model.onnx": await fixtureBytes(REFERENCE),
    "model.json": await fixtureBytes(`${DIR}/model.json`),
    ...(await tokenizerFiles()),
  });
  const contractFiles = async (modelId: string) => {
    const all = await files();
    const json = JSON.parse(new TextDecoder().decode(all["model.json"]));
    return { ...all, "model.json": encode(JSON.stringify({ ...json, modelId })) };
  };

  it("refuse an id that is another model's alias, naming that model", async () => {
    expect((await register("m2", await contractFiles("m2"), "?aliases=m4&evaluator=remote")).status).toBe(201);
    const before = await snapshot();
    expect(
      await refused(await register("m4", await contractFiles("m4"), "?evaluator=remote"), 409, "alias_taken"),
    ).toContain("model id m4 is already an alias of model m2");
    expect(await snapshot()).toEqual(before);
  });

  it("compare aliases case-insensitively: Org/Model and org/model are one name, and either resolves", async () => {
    expect((await register("m5", await contractFiles("m5"), "?aliases=Org/Model&evaluator=remote")).status).toBe(201);
    const before = await snapshot();
    expect(
      await refused(
        await register("m6", await contractFiles("m6"), "?aliases=org/model&evaluator=remote"),
        409,
        "alias_taken",
      ),
    ).toContain("alias org/model already names model m5");
    expect(
      await refused(
        await register("m6", await contractFiles("m6"), "?aliases=M5&evaluator=remote"),
        409,
        "alias_taken",
      ),
    ).toContain("alias M5 already names model m5");
    expect(
      await refused(
        await register("m6", await contractFiles("m6"), "?aliases=a/b,A/B&evaluator=remote"),
        400,
        "bad_alias",
      ),
    ).toContain("A/B is listed twice");
    expect(await snapshot()).toEqual(before);

    // An adapter citing the hub name in another case lands on m5.
    const config = JSON.parse(new TextDecoder().decode(await fixtureBytes("adapters/gec-de/adapter_config.json")));
    const adapter = await uploadAdapter("gec-de-m5", {
      "adapter_config.json": encode(JSON.stringify({ ...config, base_model_name_or_path: "ORG/model" })),
      "adapter_model.safetensors": await fixtureBytes("adapters/gec-de/adapter_model.safetensors"),
    });
    expect(adapter.status).toBe(201);
    expect(await (await call("/v1/tasks/gec-de-m5")).json()).toMatchObject({ modelId: "m5" });
  });
});
