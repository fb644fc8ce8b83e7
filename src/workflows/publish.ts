/**
 * Publishing a finished run to a device profile. Everything that can refuse the release is
 * checked before the first write: the run's pinned tasks against today's catalogue (409), the
 * profile's adapter budget (422), then every blob is encoded in memory and the byte budget
 * checked (422); a parts profile's release is its tasks' part files, counted byte for byte. Only
 * then are the blobs written to R2 (content-addressed by sha256) and the profile's Releases object
 * commits the manifest that names them. A failure while writing leaves the current manifest
 * untouched; blobs already written are harmless, immutable and unreferenced. A run that already
 * is the newest release as asked (same rollout, profile version and model) is answered unchanged.
 */
import { DomainError } from "../errors";
import type { ModelContract } from "../inference/contract";
import type { AdapterFactors } from "../adapters/factors";
import { readAdapter, readMergedAdapter } from "../storage/adapters";
import type { RunTask } from "../runs/config";
import { blobKey } from "../storage/keys";
import { catalogue } from "../storage/catalogue";
import { clusterRun, releases, subsetReleases } from "../storage/runs";
import { sha256Hex } from "../storage/sha256";
import type { ClusterView } from "../runs/status";
import type { PublishedRelease } from "../delivery/release";
import { modelDigest } from "../models/digest";
import { checkAdapterBudget, checkByteBudget } from "../delivery/budget";
import { encodeAdapter } from "../delivery/encode";
import type { AdapterFormat, ManifestAdapter } from "../delivery/manifest";
import { changedTasks } from "../runs/pinned";
import { shipsParts, type StoredProfile } from "../delivery/profiles";
import { readPartFile } from "../runs/partAdapters";

/** A manifest entry with its bytes, not yet in R2. */
export interface EncodedAdapter extends ManifestAdapter {
  readonly body: Uint8Array;
}

/**
 * `rollout`: the percentage the release starts at; a staged rollout starts low, since it can only
 * grow. `subset`: the release is for that per-device task set (its own history), and the run
 * must serve exactly that subset's tasks.
 */
export async function publishRun(
  env: Env,
  bucket: R2Bucket,
  profileId: string,
  runId: string,
  rollout = 100,
  subset?: { key: string; tasks: readonly string[] },
): Promise<PublishedRelease> {
  if (!env.MANIFEST_SIGNING_KEY)
    throw new DomainError(
      "unavailable",
      "signing_disabled",
      "MANIFEST_SIGNING_KEY is not configured: releases cannot be signed",
    );
  const profile = (await catalogue(env).profiles()).find((p) => p.id === profileId);
  if (!profile) throw new DomainError("not_found", "unknown_profile", `no profile ${profileId}`);
  const stub = clusterRun(env, runId);
  const run = await stub.status();
  if (!run) throw new DomainError("not_found", "unknown_run", `no run ${runId}`);
  if (run.state !== "done" || !run.result)
    throw new DomainError(
      "conflict",
      "run_not_done",
      `run ${runId} is ${run.state}; only a finished run can be published`,
    );
  if (run.modelId !== profile.modelId)
    throw new DomainError(
      "unprocessable",
      "model_mismatch",
      `run ${runId} is for model ${run.modelId}, profile ${profileId} for ${profile.modelId}`,
    );
  const model = await catalogue(env).model(run.modelId);
  if (!model) throw new DomainError("conflict", "unknown_model", `model ${run.modelId} is no longer registered`);
  const pinned = (await stub.config())!.tasks;
  const changed = changedTasks(pinned, (await catalogue(env).list()).tasks);
  if (changed.length) {
    throw new DomainError(
      "conflict",
      "catalogue_changed",
      `run ${runId} was built from tasks the catalogue has changed since: ` +
        `${changed.map((t) => `${t.id} (${t.change})`).join(", ")}; start a new run`,
    );
  }
  if (subset && [...run.tasks].sort().join() !== [...subset.tasks].sort().join()) {
    throw new DomainError(
      "unprocessable",
      "subset_mismatch",
      `run ${runId} serves other tasks than subset ${subset.key}`,
    );
  }
  const result = run.result;
  if (shipsParts(profile) !== (run.method === "alloc")) {
    throw new DomainError(
      "unprocessable",
      "format_mismatch",
      shipsParts(profile)
        ? `profile ${profileId} ships parts: publish an alloc run to it, not a ${run.method} run`
        : `run ${runId} allocated parts; profile ${profileId} ships ${profile.formats.join(", ")}, not parts`,
    );
  }
  checkAdapterBudget(profile, runId, result.clusters.length);
  // A parts release carries the shapes the client reads its part files with.
  const digest = await modelDigest(model.onnx);
  const manifestModel = shipsParts(profile)
    ? { id: model.modelId, sha256: digest, loraTargets: model.loraTargets }
    : { id: model.modelId, sha256: digest };
  // Published already as asked: answered before any blob is encoded (commit checks again, for a concurrent twin).
  const probe = { runId, profileVersion: profile.version, model: manifestModel, rollout };
  const scope = subset && { profile: profileId, subset: subset.key };
  const newest = scope
    ? await subsetReleases(env, scope).sameAsNewest(scope, probe)
    : await releases(env, profileId).sameAsNewest(profileId, probe);
  if (newest) return { ...newest, unchanged: true };
  const served = result.clusters.map((c) => run.tasks.filter((t) => result.assignment[t] === c.cluster));
  // A subset within the budget ships each task's own adapter as uploaded: its one-member "merge" is only a refactoring.
  const own = subset !== undefined && served.every((tasks) => tasks.length === 1) && !shipsParts(profile);
  // A parts release ships the part files the run measured, one per task that has one.
  const withParts = result.clusters.filter((c) => c.part);
  const encoded = shipsParts(profile)
    ? await encodeParts(bucket, withParts)
    : own
      ? await encodeOwnAdapters(
          bucket,
          profile,
          pinned,
          served.map(([t]) => t),
          model,
        )
      : await encodeReleaseBlobs(bucket, profile, result.clusters, served, model);
  checkByteBudget(profile, runId, encoded.length, bytesPerFormat(encoded));
  const blobs = await storeReleaseBlobs(bucket, encoded);
  const routing = shipsParts(profile)
    ? Object.fromEntries(withParts.map((c, i) => [c.tasks[0], blobs[i][0].sha256]))
    : Object.fromEntries(run.tasks.map((t) => [t, blobs[result.assignment[t]][0].sha256]));
  const input = {
    runId,
    catalogueVersion: run.catalogueVersion,
    profileVersion: profile.version,
    model: manifestModel,
    routing,
    adapters: blobs.flat(),
    ...(shipsParts(profile) ? { unadapted: run.tasks.filter((t) => !Object.hasOwn(routing, t)) } : {}),
    clusters: served,
    objective: result.objective,
    rollout,
  };
  return scope ? subsetReleases(env, scope).commit(scope, input) : releases(env, profileId).commit(profileId, input);
}

/**
 * Per cluster, one entry per format in the profile's order, encoded but not written. The whole
 * release is held in memory: it is what a device holds, so the profile's budget bounds it.
 */
export async function encodeReleaseBlobs(
  bucket: R2Bucket,
  profile: StoredProfile,
  clusters: readonly ClusterView[],
  served: readonly (readonly string[])[],
  model: ModelContract,
): Promise<EncodedAdapter[][]> {
  const entries: EncodedAdapter[][] = [];
  for (const [c, cluster] of clusters.entries()) {
    entries.push(
      await encodeFormats(
        profile,
        model,
        await readMergedAdapter(bucket, cluster.sha256, model.loraTargets),
        served[c],
      ),
    );
  }
  return entries;
}

/** Each task's own adapter (as the run pinned it: a replaced one is an error), in the profile's formats. */
async function encodeOwnAdapters(
  bucket: R2Bucket,
  profile: StoredProfile,
  pinned: readonly RunTask[],
  tasks: readonly string[],
  model: ModelContract,
): Promise<EncodedAdapter[][]> {
  const entries: EncodedAdapter[][] = [];
  for (const task of tasks) {
    const adapterSha256 = pinned.find((t) => t.id === task)!.adapterSha256;
    entries.push(
      await encodeFormats(profile, model, await readAdapter(bucket, task, model.loraTargets, adapterSha256), [task]),
    );
  }
  return entries;
}

/** Each task's part file as the run built and measured it (src/runs/partAdapters.ts). */
async function encodeParts(bucket: R2Bucket, clusters: readonly ClusterView[]): Promise<EncodedAdapter[][]> {
  const entries: EncodedAdapter[][] = [];
  for (const cluster of clusters) {
    const body = await readPartFile(bucket, cluster.sha256);
    const sha256 = await sha256Hex(body);
    entries.push([
      {
        sha256,
        bytes: body.byteLength,
        format: "parts",
        url: `/v1/adapters/${sha256}`,
        tasks: [...cluster.tasks],
        body,
      },
    ]);
  }
  return entries;
}

/** One adapter in each of the profile's formats, in the profile's order. */
async function encodeFormats(
  profile: StoredProfile,
  model: ModelContract,
  factors: AdapterFactors,
  tasks: readonly string[],
): Promise<EncodedAdapter[]> {
  const perFormat: EncodedAdapter[] = [];
  for (const format of profile.formats) {
    const body = encodeAdapter(format, factors, model, profile);
    const sha256 = await sha256Hex(body);
    perFormat.push({ sha256, bytes: body.byteLength, format, url: `/v1/adapters/${sha256}`, tasks: [...tasks], body });
  }
  return perFormat;
}

/** Writes the blobs R2 does not hold yet; returns the manifest entries, every blob in R2. */
export async function storeReleaseBlobs(
  bucket: R2Bucket,
  encoded: readonly (readonly EncodedAdapter[])[],
): Promise<ManifestAdapter[][]> {
  const entries: ManifestAdapter[][] = [];
  for (const perFormat of encoded) {
    const stored: ManifestAdapter[] = [];
    for (const { body, ...entry } of perFormat) {
      if (!(await bucket.head(blobKey(entry.sha256))))
        await bucket.put(blobKey(entry.sha256), body, { sha256: entry.sha256 });
      stored.push(entry);
    }
    entries.push(stored);
  }
  return entries;
}

function bytesPerFormat(encoded: readonly (readonly EncodedAdapter[])[]): Map<AdapterFormat, number> {
  const total = new Map<AdapterFormat, number>();
  for (const entry of encoded.flat()) total.set(entry.format, (total.get(entry.format) ?? 0) + entry.bytes);
  return total;
}
