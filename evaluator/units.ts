/**
 * An evaluation unit (src/runs/unit.ts) evaluated in Node with the Worker's own inference code
 * (src/inference: batches, forward, loss, evaluate) on onnxruntime-node: the same numbers as the
 * in-Worker path, from the same model, merged adapter and pinned examples.
 */
import { basename } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { z } from "zod";
import { parsePeftConfig, peftToFactors } from "../src/adapters/peft.ts";
import type { AdapterFactors } from "../src/adapters/factors.ts";
import type { ModelContract } from "../src/inference/contract.ts";
import { evaluate } from "../src/inference/evaluate.ts";
import type { LoadedModel } from "../src/inference/forward.ts";
import { parseExamples, type Example } from "../src/storage/examples.ts";
import { examplesKey, mergedKey, modelKey } from "../src/storage/keys.ts";
import type { EvaluationUnit, UnitResult } from "../src/runs/evaluationUnit.ts";
import { ChangedError, type WorkerObjects } from "./objects.ts";
import { ort, type Runtime } from "./runtime.ts";

const id = z.string().min(1).max(200);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, "a hex sha256");

/** What `POST /v1/units` accepts: the queue message as the Worker sends it (unknown fields ignored). */
export const UnitRequest = z.object({
  runId: id,
  unitId: id,
  modelId: id,
  taskId: id,
  split: z.enum(["fewshot", "test"]),
  examplesSha256: sha256,
  mergedSha256: sha256,
  evaluator: z.enum(["wasm", "remote"]).optional(),
}) satisfies z.ZodType<EvaluationUnit>;

/**
 * Where an external data file is in R2: pushed files (`npx d2c-edge model push`, src/api/modelUploads.ts)
 * live under their own digest, `models/<modelId>/<sha256>/<file>`; a path in model.json is taken as given.
 */
const externalDataKey = (modelId: string, f: { file: string; sha256: string }) =>
  modelKey(modelId, f.file.includes("/") ? f.file : `${f.sha256}/${f.file}`);

/** Models kept loaded (sessions of large models are large); merged adapters and example sets kept. */
const LOADED_MODELS = 2;
const CACHED_ENTRIES = 256;

/** A bounded map that forgets the oldest entry first. */
function remember<V>(map: Map<string, V>, key: string, value: V, limit: number): V {
  map.set(key, value);
  if (map.size > limit) map.delete(map.keys().next().value!);
  return value;
}

export class UnitEvaluator {
  /** By model.json's ETag: a re-registered model is a new entry. */
  private readonly models = new Map<string, Promise<LoadedModel>>();
  private readonly adapters = new Map<string, Promise<AdapterFactors>>();
  private readonly examples = new Map<string, Promise<Example[]>>();
  /** Units evaluated, and forward passes run, since the service started (GET /healthz). */
  units = 0;
  forwardPasses = 0;

  constructor(
    private readonly objects: WorkerObjects,
    private readonly runtime: Runtime,
  ) {}

  async evaluate(unit: EvaluationUnit): Promise<UnitResult> {
    const model = await this.model(unit.modelId);
    const [examples, adapter] = await Promise.all([
      this.pinnedExamples(unit),
      this.mergedAdapter(model.contract, unit.mergedSha256),
    ]);
    const result = await evaluate(model, examples, adapter);
    this.units++;
    this.forwardPasses += result.forwardPasses;
    const { loss, exactMatch, examples: n, tokens, forwardPasses, ms } = result;
    return { loss, exactMatch, examples: n, tokens, forwardPasses, ms };
  }

  private async model(modelId: string): Promise<LoadedModel> {
    const { text, etag } = await this.objects.text(modelKey(modelId, "model.json"));
    const key = `${modelId}|${etag}`;
    let model = this.models.get(key);
    if (!model) {
      model = this.load(modelId, JSON.parse(text) as ModelContract);
      model.catch(() => this.models.delete(key));
      remember(this.models, key, model, LOADED_MODELS);
    }
    return model;
  }

  private async load(modelId: string, contract: ModelContract): Promise<LoadedModel> {
    const dir = contract.onnx.sha256;
    // External data first: onnxruntime-node reads it beside the graph (by the graph's file names) when the session
    // opens.
    await Promise.all(
      (contract.onnx.externalData ?? []).map((f) =>
        this.objects.file(externalDataKey(modelId, f), dir, basename(f.file), f.sha256),
      ),
    );
    const path = await this.objects.file(
      modelKey(modelId, contract.onnx.file),
      dir,
      basename(contract.onnx.file),
      contract.onnx.sha256,
    );
    const [tokenizerJson, tokenizerConfig] = await Promise.all(
      [contract.tokenizer, "tokenizer_config.json"].map(
        async (file) => JSON.parse((await this.objects.text(modelKey(modelId, file))).text) as Record<string, unknown>,
      ),
    );
    const session = await this.runtime.createSession(path);
    return { contract, tokenizer: new Tokenizer(tokenizerJson, tokenizerConfig), session, Tensor: ort.Tensor };
  }

  private mergedAdapter(contract: ModelContract, sha: string): Promise<AdapterFactors> {
    const key = `${contract.modelId}|${sha}`;
    let adapter = this.adapters.get(key);
    if (!adapter) {
      adapter = (async () => {
        const [config, weights] = await Promise.all([
          this.objects.bytes(mergedKey(sha, "adapter_config.json")),
          this.objects.bytes(mergedKey(sha, "adapter_model.safetensors"), sha),
        ]);
        return peftToFactors(
          parsePeftConfig(JSON.parse(new TextDecoder().decode(config))),
          weights,
          contract.loraTargets,
        );
      })();
      adapter.catch(() => this.adapters.delete(key));
      remember(this.adapters, key, adapter, CACHED_ENTRIES);
    }
    return adapter;
  }

  /** The task's examples as the unit pinned them, by digest; replaced examples are a 409. */
  private pinnedExamples(unit: EvaluationUnit): Promise<Example[]> {
    let examples = this.examples.get(unit.examplesSha256);
    if (!examples) {
      const what = unit.split === "fewshot" ? "few-shot examples" : "test examples";
      examples = this.objects.bytes(examplesKey(unit.taskId, unit.split), unit.examplesSha256).then(
        (bytes) => parseExamples(new TextDecoder().decode(bytes)),
        (e: unknown) => {
          throw e instanceof ChangedError
            ? new ChangedError(`${what} of ${unit.taskId} changed since the run started`)
            : e;
        },
      );
      examples.catch(() => this.examples.delete(unit.examplesSha256));
      remember(this.examples, unit.examplesSha256, examples, CACHED_ENTRIES);
    }
    return examples;
  }
}
