/**
 * A fixtures folder (the r2-fixtures layout) loaded for the offline experiment: the base model
 * on onnxruntime-node, every task's adapter and examples, all in memory.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import * as ortNode from "onnxruntime-node";
import { parsePeftConfig, peftToFactors } from "../../src/adapters/peft.ts";
import type { AdapterFactors } from "../../src/adapters/factors.ts";
import type { Batch } from "../../src/inference/batch.ts";
import type { ModelContract } from "../../src/inference/contract.ts";
import { parseExamples } from "../../src/storage/examples.ts";
import { MAX_BATCH } from "../../src/inference/evaluate.ts";
import { batchOf, type LoadedModel } from "../../src/inference/forward.ts";

export interface WorldTask {
  readonly id: string;
  readonly application?: string;
  readonly language?: string;
  readonly adapter: AdapterFactors;
  /** Examples pre-batched once (MAX_BATCH rows each): tokenising is not what we measure. */
  readonly fewshot: readonly Batch[];
  readonly test: readonly Batch[];
}

export interface World {
  readonly model: LoadedModel;
  readonly tasks: readonly WorldTask[];
}

export async function loadWorld(dir: string, threads: number): Promise<World> {
  const read = (path: string) => readFileSync(join(dir, path));
  const json = (path: string) => JSON.parse(read(path).toString("utf8"));
  const catalogue = json("catalogue.json") as {
    tasks: Array<{ id: string; modelId: string; application?: string; language?: string }>;
  };
  const modelId = catalogue.tasks[0].modelId;
  const contract = json(`models/${modelId}/model.json`) as ModelContract;
  const session = await ortNode.InferenceSession.create(join(dir, `models/${modelId}`, contract.onnx.file), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
  });
  const tokenizer = new Tokenizer(
    json(`models/${modelId}/${contract.tokenizer}`),
    json(`models/${modelId}/tokenizer_config.json`),
  );
  const model: LoadedModel = { contract, tokenizer, session, Tensor: ortNode.Tensor };
  const batches = (path: string) => {
    const examples = parseExamples(read(path).toString("utf8"));
    const out: Batch[] = [];
    for (let i = 0; i < examples.length; i += MAX_BATCH) out.push(batchOf(model, examples.slice(i, i + MAX_BATCH)));
    return out;
  };
  const tasks = [...catalogue.tasks]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map(
      (t): WorldTask => ({
        id: t.id,
        application: t.application,
        language: t.language,
        adapter: peftToFactors(
          parsePeftConfig(json(`adapters/${t.id}/adapter_config.json`)),
          new Uint8Array(read(`adapters/${t.id}/adapter_model.safetensors`)),
          contract.loraTargets,
        ),
        fewshot: batches(`examples/${t.id}/fewshot.jsonl`),
        test: batches(`examples/${t.id}/test.jsonl`),
      }),
    );
  return { model, tasks };
}
