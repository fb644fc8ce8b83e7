import { Hono } from "hono";
import { z } from "zod";
import { publishRun } from "../delivery/publish";
import { ProfileSchema } from "../delivery/profiles";
import { catalogue } from "../storage/catalogue";
import { clusterRun, releases, subsetReleases } from "../storage/runs";
import type { SubsetView } from "../delivery/subsetView";
import { requireAdmin } from "./auth";
import { ApiError } from "./errors";
import { checkedId, jsonBody } from "./validate";

/** `rollout`: the percentage the release starts at (default 100); it can only be raised later. */
export const PublishRequest = z.object({ runId: z.string().min(1).max(128), rollout: z.number().min(0).max(100).default(100) }).strict();
export const RollbackRequest = z.object({ version: z.number().int().min(1) }).strict();
export const RolloutRequest = z.object({ percent: z.number().min(0).max(100) }).strict();

export const profiles = new Hono<{ Bindings: Env }>();

profiles.use("*", requireAdmin);

profiles.put("/:profileId", async (c) => {
  const id = checkedId("profile", c.req.param("profileId"));
  const profile = await jsonBody(c.req.raw, ProfileSchema);
  const cat = catalogue(c.env);
  if (!(await cat.model(profile.modelId))) throw new ApiError(404, "unknown_model", `modelId: no model ${profile.modelId}`);
  const m = profile.match;
  if (m.minRamMb !== undefined && m.maxRamMb !== undefined && m.minRamMb > m.maxRamMb) {
    throw new ApiError(400, "invalid_request", `match: minRamMb ${m.minRamMb} is above maxRamMb ${m.maxRamMb}`);
  }
  // A task set names tasks of the profile's model that exist now (a task deleted later simply leaves the set).
  const known = new Set((await cat.list()).tasks.filter((t) => t.modelId === profile.modelId).map((t) => t.id));
  for (const [name, tasks] of Object.entries(profile.taskSets)) {
    const unknown = tasks.find((t) => !known.has(t));
    if (unknown !== undefined) throw new ApiError(404, "unknown_task", `taskSets.${name}: no task ${unknown} of model ${profile.modelId}`);
  }
  return c.json(await cat.putProfile(id, profile));
});

/**
 * A profile with releases is what devices are served from: deleting it takes `?retire=true`,
 * which retires its releases (its manifest route answers 404; versions keep counting if the id
 * is used again). Without releases it is simply removed.
 */
profiles.delete("/:profileId", async (c) => {
  const profile = await existingProfile(c.env, c.req.param("profileId"));
  const retire = c.req.query("retire");
  if (retire !== undefined && retire !== "true" && retire !== "false") throw new ApiError(400, "invalid_request", `retire: give true or false, got ${JSON.stringify(retire)}`);
  const stub = releases(c.env, profile.id);
  const latest = await stub.latest();
  if (latest && retire !== "true") {
    throw new ApiError(409, "profile_has_releases",
      `profile ${profile.id} serves release ${latest.version} to devices; DELETE /v1/profiles/${profile.id}?retire=true retires its releases and deletes it`);
  }
  for (const key of await stub.liveSubsets()) await subsetReleases(c.env, profile.id, key).retire(profile.id);
  const retiredThrough = await stub.retire(profile.id);
  await catalogue(c.env).deleteProfile(profile.id);
  return c.json({ deleted: profile.id, retiredThrough });
});

profiles.get("/", async (c) => c.json({ profiles: await catalogue(c.env).profiles() }));

async function existingProfile(env: Env, id: string) {
  const profile = (await catalogue(env).profiles()).find((p) => p.id === id);
  if (!profile) throw new ApiError(404, "unknown_profile", `no profile ${id}`);
  return profile;
}

profiles.get("/:profileId", async (c) => {
  const profile = await existingProfile(c.env, c.req.param("profileId"));
  const stub = releases(c.env, profile.id);
  const subsets: SubsetView[] = await Promise.all((await stub.subsets()).map(async (s) => {
    const release = s.state === "retired" ? null : await subsetReleases(c.env, profile.id, s.key).latest();
    return {
      ...s,
      release: release && { version: release.version, createdAt: release.createdAt, catalogueVersion: release.catalogueVersion, adapters: release.adapters, objective: release.objective },
      heldOutExactMatch: s.runId ? (await clusterRun(c.env, s.runId).status())?.report?.meanExactMatch ?? null : null,
    };
  }));
  return c.json({ ...profile, release: await stub.latest(), auto: await stub.autoState(), subsets });
});

/** A per-device task set's own release history (newest first) and its rollback, as a profile's. */
profiles.get("/:profileId/subsets/:key/releases", async (c) => {
  const { profile, key } = await existingSubset(c.env, c.req.param("profileId"), c.req.param("key"));
  return c.json({ profile: profile.id, subset: key, releases: await subsetReleases(c.env, profile.id, key).history() });
});

profiles.post("/:profileId/subsets/:key/rollback", async (c) => {
  const { version } = await jsonBody(c.req.raw, RollbackRequest);
  const { profile, key } = await existingSubset(c.env, c.req.param("profileId"), c.req.param("key"));
  const release = await subsetReleases(c.env, profile.id, key).rollback(profile.id, version);
  if (!release) throw new ApiError(404, "unknown_release", `subset ${key} of profile ${profile.id} has no release ${version}`);
  return c.json(release, 201);
});

async function existingSubset(env: Env, profileId: string, key: string) {
  const profile = await existingProfile(env, profileId);
  if ((await releases(env, profile.id).subsetTasks(key)) === null) throw new ApiError(404, "unknown_subset", `profile ${profile.id} has no subset ${key}`);
  return { profile, key };
}

profiles.post("/:profileId/releases", async (c) => {
  const { runId, rollout } = await jsonBody(c.req.raw, PublishRequest);
  return c.json(await publishRun(c.env, c.env.BUCKET, c.req.param("profileId"), runId, rollout), 201);
});

profiles.get("/:profileId/releases", async (c) => {
  const profile = await existingProfile(c.env, c.req.param("profileId"));
  return c.json({ profile: profile.id, releases: await releases(c.env, profile.id).history() });
});

profiles.post("/:profileId/rollback", async (c) => {
  const { version } = await jsonBody(c.req.raw, RollbackRequest);
  const profile = await existingProfile(c.env, c.req.param("profileId"));
  const release = await releases(c.env, profile.id).rollback(profile.id, version);
  if (!release) throw new ApiError(404, "unknown_release", `profile ${profile.id} has no release ${version}`);
  return c.json(release, 201);
});

profiles.post("/:profileId/rollout", async (c) => {
  const { percent } = await jsonBody(c.req.raw, RolloutRequest);
  const profile = await existingProfile(c.env, c.req.param("profileId"));
  const change = await releases(c.env, profile.id).setRollout(profile.id, percent);
  if (!change) throw new ApiError(409, "no_release", `profile ${profile.id} has no release yet`);
  if ("refused" in change) throw new ApiError(409, "rollout_decrease", change.refused);
  return c.json(change.release);
});
