/**
 * `d2c-edge model push <dir>`: registers a base model of any size. The graph surgery runs here
 * (the same code the Worker runs on small models), the files go to R2 in parts through the
 * Worker (R2 multipart upload, so no request is near the Worker's body limit), and the model is
 * registered last with a model.json naming them.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { basename, join, relative, sep } from "node:path";
import type { ModelContract } from "../src/inference/contract.ts";
import type { Api } from "./api.ts";
import { integer, list, printJson, text, type Command } from "./command.ts";
import { CliError, UsageError } from "./errors.ts";
import { ProgressBar } from "./progressBar.ts";

/** The graph surgery and the model rules, loaded when a model is pushed: every other command starts without them. */
const modelCode = async () => ({
  ...(await import("../src/models/contract.ts")),
  ...(await import("../src/models/graphCheck.ts")),
  ...(await import("../src/models/surgery.ts")),
  ...(await import("../src/models/workerMemory.ts")),
});

interface PushFile {
  readonly file: string;
  readonly sha256: string;
  readonly bytes: number;
  /** The bytes in memory (the surgered graph), or a path to stream them from (external data). */
  readonly source: Uint8Array | string;
}

export const model: Command = {
  name: "model",
  usage: "push <dir> [--id ID] [--alias NAME ...] [--evaluator wasm|remote] [--targets a,b] [--max-sequence N]",
  summary:
    "Register a base model from a folder (model.onnx, its .onnx_data if any, tokenizer.json, " +
    "tokenizer_config.json): LoRA inputs added here, files pushed in parts.",
  help: `A plain export (torch.onnx.export or optimum, no LoRA inputs) gets the LoRA inputs of the
model contract here, for the target modules (default q_proj,k_proj,v_proj,o_proj); a model that
has them needs its model.json in the folder.
Options:
  --id ID            model id (default: the folder's name)
  --alias NAME       a hub name adapters cite as base_model_name_or_path (repeatable)
  --evaluator E      wasm (the Worker's onnxruntime-web) or remote (the evaluator service);
                     default: wasm when the model fits a Worker, else remote
  --targets a,b      module names to add LoRA inputs to
  --max-sequence N   where the graph does not fix it
  --json             print PUT /v1/models/:id's answer as JSON (the surgery's and upload's notes stay on stderr)`,
  options: {
    id: { type: "string" },
    alias: { type: "string", multiple: true },
    evaluator: { type: "string" },
    targets: { type: "string" },
    "max-sequence": { type: "string" },
  },
  positionals: ["action", "dir"],
  async run({ values, positionals: [action, dir], api }) {
    if (action !== "push") throw new UsageError(`unknown action ${JSON.stringify(action)}: the one action is push`);
    const modelId = text(values, "id") ?? basename(dir.replace(/\/+$/, ""));
    const { deriveContract, PLAIN_FILE, addLoraInputs, loraInputsOf, estimatedWorkerMemory, WORKER_MEMORY_LIMIT } =
      await modelCode();
    const inFolder = (file: string, what?: string) => pathInFolder(dir, file, PLAIN_FILE, what);
    const read = (file: string) => readFileSync(inFolder(file));
    for (const file of ["model.onnx", "tokenizer.json", "tokenizer_config.json"]) {
      if (!existsSync(join(dir, file))) throw new UsageError(`${join(dir, file)} is missing`);
    }
    const plain = new Uint8Array(read("model.onnx"));
    const aliases = (values.alias as string[] | undefined) ?? [];
    const maxSequence = integer(values, "max-sequence", 2);
    let onnx: Uint8Array = plain;
    let contract: Omit<ModelContract, "onnx">;
    let external: string[];
    if (loraInputsOf(plain).length === 0) {
      const surgery = addLoraInputs(plain, {
        ...(list(values, "targets") ? { targets: list(values, "targets") } : {}),
        ...(maxSequence ? { maxSequence } : {}),
      });
      onnx = surgery.onnx;
      external = surgery.externalData;
      contract = deriveContract(
        { modelId, aliases, ...(maxSequence ? { maxSequence } : {}) },
        surgery,
        { file: "", sha256: "" },
        JSON.parse(read("tokenizer.json").toString()),
        JSON.parse(read("tokenizer_config.json").toString()),
      );
      console.error(
        `surgery: LoRA inputs added to ${surgery.targets.length} modules (${surgery.targets[0].module}, ...)`,
      );
    } else {
      if (!existsSync(join(dir, "model.json")))
        throw new UsageError("model.onnx already has LoRA inputs: the folder needs its model.json");
      contract = {
        ...(JSON.parse(read("model.json").toString()) as ModelContract),
        modelId,
        ...(aliases.length ? { aliases } : {}),
      };
      external = [];
    }
    const files: PushFile[] = [{ file: "model.onnx", sha256: sha256Of(onnx), bytes: onnx.byteLength, source: onnx }];
    // Every location is checked before any is read: the graph names them, and the graph is the input.
    const externalPaths = external.map((file) => inFolder(file, "model.onnx refers to external data"));
    for (const [i, file] of external.entries())
      files.push({
        file,
        sha256: await sha256OfFile(externalPaths[i]),
        bytes: statSync(externalPaths[i]).size,
        source: externalPaths[i],
      });
    const totalBytes = files.reduce((s, f) => s + f.bytes, 0);
    const fitsWorker = !external.length && estimatedWorkerMemory(totalBytes, false) <= WORKER_MEMORY_LIMIT;
    const evaluator = text(values, "evaluator") ?? (fitsWorker ? "wasm" : "remote");
    // The Worker refuses it too (422); saying so here spares the upload.
    if (evaluator === "wasm" && !fitsWorker) {
      const about = Math.round(estimatedWorkerMemory(totalBytes, false) / 2 ** 20);
      const why = external.length ? ", external data" : `, about ${about} MiB of ${WORKER_MEMORY_LIMIT / 2 ** 20}`;
      throw new CliError(
        `${modelId} does not fit a Worker isolate (${totalBytes} bytes${why}): ` +
          `push it with --evaluator remote (or without --evaluator)`,
      );
    }
    for (const f of files) await pushFile(api, modelId, f);
    const [main, ...data] = files;
    const modelJson: ModelContract = {
      ...contract,
      evaluator: evaluator as "wasm" | "remote",
      onnx: {
        file: `${main.sha256}/model.onnx`,
        sha256: main.sha256,
        ...(data.length ? { externalData: data.map((f) => ({ file: f.file, sha256: f.sha256 })) } : {}),
      },
    };
    const form = new FormData();
    form.set("model.json", new Blob([JSON.stringify(modelJson)]), "model.json");
    for (const file of ["tokenizer.json", "tokenizer_config.json"]) form.set(file, new Blob([read(file)]), file);
    const registered = await api.json<{ modelId: string; loraTargets: number; evaluator: string; aliases: string[] }>(
      "PUT",
      `/v1/models/${modelId}`,
      { body: form },
    );
    if (values.json) {
      printJson(registered);
      return 0;
    }
    console.log(
      `model ${registered.modelId}: ${registered.loraTargets} LoRA targets, ${totalBytes} bytes in ` +
        `${files.length} file(s), evaluator ${registered.evaluator}` +
        (registered.aliases.length ? `, aliases ${registered.aliases.join(", ")}` : ""),
    );
    return 0;
  },
};

/**
 * The path of `file` in the model's folder: a plain name (as the Worker takes them,
 * src/models/graphCheck.ts) that stays inside the folder once symlinks are resolved.
 */
function pathInFolder(dir: string, file: string, plainName: RegExp, what = "file"): string {
  const path = join(dir, file);
  if (!plainName.test(file))
    throw new UsageError(
      `${what} ${JSON.stringify(file)}, which is not a plain file name beside model.onnx in ${dir}: nothing ` +
        `was read or sent`,
    );
  if (existsSync(path) && relative(realpathSync(dir), realpathSync(path)).split(sep)[0] === "..") {
    throw new UsageError(`${what} ${path}, which leads outside ${dir}: nothing was read or sent`);
  }
  return path;
}

function sha256Of(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** One file as an R2 multipart upload; a file the Worker already holds verified is skipped. */
async function pushFile(api: Api, modelId: string, f: PushFile): Promise<void> {
  const started = await api.json<{ uploadId?: string; partBytes?: number; complete: boolean }>(
    "POST",
    `/v1/models/${modelId}/uploads`,
    { json: { file: f.file, sha256: f.sha256 } },
  );
  if (started.complete) {
    console.error(`${f.file}: already pushed`);
    return;
  }
  const partBytes = started.partBytes!;
  const count = Math.max(1, Math.ceil(f.bytes / partBytes));
  const bar = new ProgressBar(count, "parts");
  const parts: { partNumber: number; etag: string }[] = [];
  for (let n = 1; n <= count; n++) {
    const body = await partOf(f, (n - 1) * partBytes, Math.min(partBytes, f.bytes - (n - 1) * partBytes));
    const query = `file=${encodeURIComponent(f.file)}&sha256=${f.sha256}`;
    parts.push(
      await api.json(
        "PUT",
        `/v1/models/${modelId}/uploads/${encodeURIComponent(started.uploadId!)}/parts/${n}?${query}`,
        { body },
      ),
    );
    bar.step(`${f.file} part ${n} of ${count}`);
  }
  await api.json("POST", `/v1/models/${modelId}/uploads/${encodeURIComponent(started.uploadId!)}/complete`, {
    json: { file: f.file, sha256: f.sha256, parts },
  });
}

async function partOf(f: PushFile, offset: number, length: number): Promise<Uint8Array> {
  if (typeof f.source !== "string") return f.source.subarray(offset, offset + length);
  const chunks: Buffer[] = [];
  for await (const chunk of createReadStream(f.source, { start: offset, end: offset + length - 1 }))
    chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}
