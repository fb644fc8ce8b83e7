/**
 * `d2c-edge model push` against the real Worker: the surgery on the CLI side, the files in parts
 * through R2 multipart, registration last. The plain reference export pushed under a new id (and
 * an alias) scores gec-de's adapter as the contract export does; the variant's external-data
 * export goes up as two verified files.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StringStringEntryProtoSchema, TensorProto_DataLocation } from "../../src/models/gen/onnx_pb.ts";
import { readModel, writeModel } from "../../src/models/onnxGraph.ts";
import { FIXTURES, startTestWorker, type TestWorker } from "./worker";

const fixture = (path: string) => fileURLToPath(new URL(`../../r2-fixtures/${path}`, import.meta.url));
let worker: TestWorker;
let dir: string;

/** A folder as a team would have it: the exported graph (and its data) beside the tokenizer files. */
async function modelFolder(name: string, graph: string[], tokenizerFrom: string): Promise<string> {
  const folder = join(dir, name);
  await mkdir(folder);
  for (const file of graph) await copyFile(fixture(file), join(folder, file.split("/").pop()!));
  for (const file of ["tokenizer.json", "tokenizer_config.json"])
    await copyFile(fixture(`${tokenizerFrom}/${file}`), join(folder, file));
  return folder;
}

const json = async <T>(path: string, init?: RequestInit) => (await (await worker.call(path, init)).json()) as T;

beforeAll(async () => {
  worker = await startTestWorker();
  dir = await mkdtemp(join(tmpdir(), "d2c-model-push-"));
  expect((await worker.cli(["push", FIXTURES])).code).toBe(0);
});

afterAll(async () => {
  await worker?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("d2c-edge model push", () => {
  it(
    "adds the LoRA inputs, pushes the graph in parts, and registers a model that scores as the " + "contract export",
    async () => {
      const folder = await modelFolder("char-lm-pushed", ["models/d2c-char-lm/plain/model.onnx"], "models/d2c-char-lm");
      const pushed = await worker.cli(["model", "push", folder, "--alias", "d2c/char-lm-pushed"]);
      expect(pushed.code).toBe(0);
      expect(pushed.stderr).toContain("surgery: LoRA inputs added to 16 modules");
      expect(pushed.stdout).toMatch(
        new RegExp(
          String.raw`^model char-lm-pushed: 16 LoRA targets, \d+ bytes in 1 file\(s\), ` +
            String.raw`evaluator wasm, aliases d2c\/char-lm-pushed\n$`,
        ),
      );
      const contract = await json<{ onnx: { file: string; sha256: string }; aliases: string[] }>(
        "/v1/models/char-lm-pushed",
      );
      expect(contract.onnx.file).toBe(`${contract.onnx.sha256}/model.onnx`);

      // gec-de's adapter citing the alias, with gec-de's examples: the same loss as on d2c-char-lm.
      const config = JSON.parse(await readFile(fixture("adapters/gec-de/adapter_config.json"), "utf8"));
      const form = new FormData();
      form.set(
        "adapter_config.json",
        new Blob([JSON.stringify({ ...config, base_model_name_or_path: "d2c/char-lm-pushed" })]),
      );
      form.set(
        "adapter_model.safetensors",
        new Blob([await readFile(fixture("adapters/gec-de/adapter_model.safetensors"))]),
      );
      expect((await worker.call("/v1/tasks/gec-de-pushed/adapter", { method: "PUT", body: form })).status).toBe(201);
      const examples = await readFile(fixture("examples/gec-de/fewshot.jsonl"));
      expect(
        (await worker.call("/v1/tasks/gec-de-pushed/examples?split=fewshot", { method: "PUT", body: examples })).status,
      ).toBe(201);
      const loss = async (task: string) =>
        (
          await json<{ loss: number }>("/v1/evaluate", {
            method: "POST",
            body: JSON.stringify({ task, adapter: task, split: "fewshot" }),
          })
        ).loss;
      expect(Math.abs((await loss("gec-de-pushed")) - (await loss("gec-de")))).toBeLessThan(1e-4);

      // A second push finds the graph already there and only registers again.
      const again = await worker.cli(["model", "push", folder, "--alias", "d2c/char-lm-pushed"]);
      expect(again.code).toBe(0);
      expect(again.stderr).toContain("model.onnx: already pushed");
    },
  );

  it("pushes a graph with external data as two verified files, registered for the evaluator service", async () => {
    const folder = await modelFolder(
      "qwen-external",
      ["variants/qwen-bias-tiny/external/model.onnx", "variants/qwen-bias-tiny/external/model.onnx_data"],
      "variants/qwen-bias-tiny",
    );
    const pushed = await worker.cli(["model", "push", folder, "--alias", "d2c/qwen-bias-tiny"]);
    expect(pushed.code).toBe(0);
    expect(pushed.stdout).toMatch(
      new RegExp(
        String.raw`^model qwen-external: 8 LoRA targets, \d+ bytes in 2 file\(s\), ` +
          String.raw`evaluator remote, aliases d2c\/qwen-bias-tiny\n$`,
      ),
    );
    const contract = await json<{
      onnx: { file: string; sha256: string; externalData: { file: string; sha256: string }[] };
      evaluator: string;
    }>("/v1/models/qwen-external");
    expect(contract.evaluator).toBe("remote");
    expect(contract.onnx.externalData).toEqual([
      { file: "model.onnx_data", sha256: "dea1b39a5891afc9c0eb98e82edd5a2e99bb4ea567a473298b08fb271b1799d2" },
    ]);
  });

  it(
    "refuses external data outside its folder (a path, or a symlink out) before reading or " + "sending anything",
    async () => {
      // Finding 6 of the security review (issue 20): the CLI read and hashed ../secret.data, named by the graph.
      await writeFile(join(dir, "secret.data"), "not the CLI's to read");
      const plain = await readFile(fixture("models/d2c-char-lm/plain/model.onnx"));
      const graphAt = (location: string) => {
        const model = readModel(new Uint8Array(plain));
        const embedding = model.graph!.initializer.find((t) => t.name === "model.embed_tokens.weight")!;
        embedding.externalData = [
          ["location", location],
          ["offset", "0"],
          ["length", String(embedding.rawData.length)],
        ].map(([key, value]) => create(StringStringEntryProtoSchema, { key, value }));
        embedding.rawData = new Uint8Array(0);
        embedding.dataLocation = TensorProto_DataLocation.EXTERNAL;
        return writeModel(model);
      };
      const byPath = await modelFolder("outside-path", [], "models/d2c-char-lm");
      await writeFile(join(byPath, "model.onnx"), graphAt("../secret.data"));
      const bySymlink = await modelFolder("outside-link", [], "models/d2c-char-lm");
      await writeFile(join(bySymlink, "model.onnx"), graphAt("model.onnx_data"));
      await symlink(join(dir, "secret.data"), join(bySymlink, "model.onnx_data"));
      for (const [folder, expected] of [
        [byPath, 'model.onnx refers to external data "../secret.data", which is not a plain file name'],
        [bySymlink, "model.onnx_data, which leads outside"],
      ]) {
        const result = await worker.cli(["model", "push", folder]);
        expect(result.code, result.stderr).toBe(2);
        expect(result.stderr).toContain(expected);
        expect(result.stderr).toContain("nothing was read or sent");
        expect(result.stderr).not.toContain("part 1");
        expect((await worker.call(`/v1/models/${folder.split("/").pop()}`)).status).toBe(404);
      }
    },
  );

  it("refuses a folder without tokenizer files before sending anything", async () => {
    const folder = join(dir, "no-tokenizer");
    await mkdir(folder);
    await copyFile(fixture("models/d2c-char-lm/plain/model.onnx"), join(folder, "model.onnx"));
    const result = await worker.cli(["model", "push", folder]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("tokenizer.json is missing");
    expect((await worker.call("/v1/models/no-tokenizer")).status).toBe(404);
  });
});
