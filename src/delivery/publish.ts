/**
 * Publishing a finished run to a device profile: every merged adapter is written to R2 in each
 * format the profile asks (content-addressed by the blob's sha256) before the profile's
 * Releases object commits the manifest that names them. A failure on the way leaves the current
 * manifest untouched; blobs already written are harmless, immutable and unreferenced.
 */
import { toPeft } from "../adapters/merge";
import { DomainError } from "../errors";
import type { ModelContract } from "../inference/contract";
import { readMergedAdapter } from "../storage/adapters";
import { blobKey } from "../storage/keys";
import { catalogue } from "../storage/catalogue";
import { clusterRun, releases } from "../storage/runs";
import { sha256Hex } from "../storage/sha256";
import type { ClusterView } from "../../durable-objects/runStatus";
import type { ReleaseSummary } from "../../durable-objects/Releases";
import { toGgufLora } from "./gguf";
import type { AdapterFormat, ManifestAdapter } from "./manifest";
import { toOnnxAdapter } from "./onnxAdapter";
import type { StoredProfile } from "./profiles";

export async function publishRun(env: Env, bucket: R2Bucket, profileId: string, runId: string): Promise<ReleaseSummary> {
  if (!env.MANIFEST_SIGNING_KEY) throw new DomainError("unavailable", "signing_disabled", "MANIFEST_SIGNING_KEY is not configured: releases cannot be signed");
  const profile = (await catalogue(env).profiles()).find((p) => p.id === profileId);
  if (!profile) throw new DomainError("not_found", "unknown_profile", `no profile ${profileId}`);
  const run = await clusterRun(env, runId).status();
  if (!run) throw new DomainError("not_found", "unknown_run", `no run ${runId}`);
  if (run.state !== "done" || !run.result) throw new DomainError("conflict", "run_not_done", `run ${runId} is ${run.state}; only a finished run can be published`);
  if (run.modelId !== profile.modelId) throw new DomainError("unprocessable", "model_mismatch", `run ${runId} is for model ${run.modelId}, profile ${profileId} for ${profile.modelId}`);
  const model = await catalogue(env).model(run.modelId);
  if (!model) throw new DomainError("conflict", "unknown_model", `model ${run.modelId} is no longer registered`);
  const result = run.result;
  const served = result.clusters.map((c) => run.tasks.filter((t) => result.assignment[t] === c.cluster));
  const blobs = await writeReleaseBlobs(bucket, profile, result.clusters, served, model);
  const routing = Object.fromEntries(run.tasks.map((t) => [t, blobs[result.assignment[t]][0].sha256]));
  return releases(env, profileId).commit(profileId, {
    runId, catalogueVersion: run.catalogueVersion, profileVersion: profile.version, routing,
    adapters: blobs.flat(), clusters: served, objective: result.objective,
  });
}

/** Per cluster, one manifest entry per format, in the profile's order; every blob is in R2 on return. */
export async function writeReleaseBlobs(
  bucket: R2Bucket,
  profile: StoredProfile,
  clusters: readonly ClusterView[],
  served: readonly (readonly string[])[],
  model: ModelContract,
): Promise<ManifestAdapter[][]> {
  const entries: ManifestAdapter[][] = [];
  for (const [c, cluster] of clusters.entries()) {
    const factors = await readMergedAdapter(bucket, cluster.sha256, model.loraTargets);
    const perFormat: ManifestAdapter[] = [];
    for (const format of profile.formats) {
      const bytes = encode(format, factors, model, profile);
      const sha256 = await sha256Hex(bytes);
      if (!(await bucket.head(blobKey(sha256)))) await bucket.put(blobKey(sha256), bytes, { sha256 });
      perFormat.push({ sha256, bytes: bytes.byteLength, format, url: `/v1/adapters/${sha256}`, tasks: [...served[c]] });
    }
    entries.push(perFormat);
  }
  return entries;
}

function encode(format: AdapterFormat, factors: Parameters<typeof toPeft>[0], model: ModelContract, profile: StoredProfile): Uint8Array {
  const targets = model.loraTargets;
  // ONNX Runtime feeds an .onnx_adapter's tensors to the graph as they are, and the model
  // contract's LoRA inputs are float32: an fp16 file would load and then fail to run.
  if (format === "onnx_adapter") return toOnnxAdapter(factors, targets, { dtype: "fp32" });
  if (format === "gguf") {
    try {
      // Contracts written before the field are all llama models (tools/fixtures).
      return toGgufLora(factors, targets, {
        architecture: model.architecture ?? "llama", dtype: profile.dtype, heads: model.config?.n_heads, kvHeads: model.config?.n_kv_heads,
      });
    } catch (e) {
      // The model cannot be expressed as a llama.cpp adapter: the profile's choice, not a fault here.
      if (e instanceof RangeError) throw new DomainError("unprocessable", "unsupported_format", `gguf for model ${model.modelId}: ${e.message}`);
      throw e;
    }
  }
  return toPeft(factors, targets, profile.modelId, profile.dtype).safetensors;
}
