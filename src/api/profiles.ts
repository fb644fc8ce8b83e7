import { Hono } from "hono";
import { z } from "zod";
import { publishRun } from "../workflows/publish";
import { ProfileSchema } from "../delivery/profiles";
import { catalogue } from "../storage/catalogue";
import { clusterRun, profileSubsets, releases, subsetReleases } from "../storage/runs";
import { retireSubsets } from "../workflows/subsetBuilds";
import type { SubsetView } from "../delivery/subsetView";
import { requireAdmin } from "./auth";
import { quoted } from "../errors";
import { ApiError } from "./errors";
import { checkedId, jsonBody } from "./validate";

/** `rollout`: the percentage the release starts at (default 100); it can only be raised later. */
export const PublishRequest = z
  .object({ runId: z.string().min(1).max(128), rollout: z.number().min(0).max(100).default(100) })
  .strict();
export const RollbackRequest = z.object({ version: z.number().int().min(1) }).strict();
export const RolloutRequest = z.object({ percent: z.number().min(0).max(100) }).strict();

export const profiles = new Hono<{ Bindings: Env }>();

profiles.use("*", requireAdmin);

profiles.put("/:profileId", async (c) => {
  const id = checkedId("profile", c.req.param("profileId"));
  const profile = await jsonBody(c.req.raw, ProfileSchema);
  const cat = catalogue(c.env);
  if (!(await cat.model(profile.modelId)))
    throw new ApiError(404, "unknown_model", `modelId: no model ${profile.modelId}`);
  const m = profile.match;
  if (m.minRamMb !== undefined && m.maxRamMb !== undefined && m.minRamMb > m.maxRamMb) {
    throw new ApiError(400, "invalid_request", `match: minRamMb ${m.minRamMb} is above maxRamMb ${m.maxRamMb}`);
  }
  // A task set names tasks of the profile's model that exist now (a task deleted later simply leaves the set).
  const known = new Set((await cat.list()).tasks.filter((t) => t.modelId === profile.modelId).map((t) => t.id));
  for (const [name, tasks] of Object.entries(profile.taskSets)) {
    const unknown = tasks.find((t) => !known.has(t));
    if (unknown !== undefined)
      throw new ApiError(404, "unknown_task", `taskSets.${name}: no task ${unknown} of model ${profile.modelId}`);
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
  if (retire !== undefined && retire !== "true" && retire !== "false")
    throw new ApiError(400, "invalid_request", `retire: give true or false, got ${quoted(retire)}`);
  const stub = releases(c.env, profile.id);
  const latest = await stub.latest(profile.id);
  if (latest && retire !== "true") {
    throw new ApiError(
      409,
      "profile_has_releases",
      `profile ${profile.id} serves release ${latest.version} to devices; DELETE ` +
        `/v1/profiles/${profile.id}?retire=true retires its releases and deletes it`,
    );
  }
  await retireSubsets(c.env, profile.id, await profileSubsets(c.env, profile.id).clear());
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

/** Subsets shown with a profile; the rest are paged by GET /v1/profiles/:id/subsets. */
const SUBSETS_PAGE = 50;
const SubsetPage = z
  .object({
    limit: z.coerce.number().int().min(1).max(200).default(SUBSETS_PAGE),
    cursor: z.coerce.number().int().min(1).optional(),
  })
  .strict();

profiles.get("/:profileId", async (c) => {
  const profile = await existingProfile(c.env, c.req.param("profileId"));
  const stub = releases(c.env, profile.id);
  const page = await subsetPage(c.env, profile.id, SUBSETS_PAGE);
  return c.json({
    ...profile,
    release: await stub.latest(profile.id),
    auto: await stub.autoState(),
    subsets: page.subsets,
    subsetsTotal: page.total,
    subsetsNext: page.next,
    subsetReports: await profileSubsets(c.env, profile.id).reportCounts(),
  });
});

/**
 * The profile's per-device task sets, most recently requested first, a page at a time (`cursor`: the
 * previous page's `next`).
 */
profiles.get("/:profileId/subsets", async (c) => {
  const profile = await existingProfile(c.env, c.req.param("profileId"));
  const parsed = SubsetPage.safeParse(c.req.query());
  if (!parsed.success)
    throw new ApiError(
      400,
      "invalid_request",
      parsed.error.issues.map((i) => `${i.path.join(".") || "query"}: ${i.message}`).join("; "),
    );
  return c.json({
    profile: profile.id,
    ...(await subsetPage(c.env, profile.id, parsed.data.limit, parsed.data.cursor)),
  });
});

async function subsetPage(
  env: Env,
  profileId: string,
  limit: number,
  cursor?: number,
): Promise<{ subsets: SubsetView[]; total: number; next: number | null }> {
  const page = await profileSubsets(env, profileId).list(limit, cursor);
  const subsets = await Promise.all(
    page.subsets.map(async (s): Promise<SubsetView> => {
      const release = s.released
        ? await subsetReleases(env, { profile: profileId, subset: s.key }).latest({ profile: profileId, subset: s.key })
        : null;
      return {
        ...s,
        release: release && {
          version: release.version,
          createdAt: release.createdAt,
          catalogueVersion: release.catalogueVersion,
          adapters: release.adapters,
          objective: release.objective,
        },
        heldOutExactMatch: s.runId ? ((await clusterRun(env, s.runId).status())?.report?.meanExactMatch ?? null) : null,
      };
    }),
  );
  return { subsets, total: page.total, next: page.next };
}

/** A per-device task set's own release history (newest first) and its rollback, as a profile's. */
profiles.get("/:profileId/subsets/:key/releases", async (c) => {
  const scope = await existingSubset(c.env, c.req.param("profileId"), c.req.param("key"));
  return c.json({
    profile: scope.profile,
    subset: scope.subset,
    releases: await subsetReleases(c.env, scope).history(scope),
  });
});

profiles.post("/:profileId/subsets/:key/rollback", async (c) => {
  const { version } = await jsonBody(c.req.raw, RollbackRequest);
  const scope = await existingSubset(c.env, c.req.param("profileId"), c.req.param("key"));
  const release = await subsetReleases(c.env, scope).rollback(scope, version);
  if (!release)
    throw new ApiError(
      404,
      "unknown_release",
      `subset ${scope.subset} of profile ${scope.profile} has no release ${version}`,
    );
  return c.json(release, 201);
});

async function existingSubset(env: Env, profileId: string, key: string): Promise<{ profile: string; subset: string }> {
  const profile = await existingProfile(env, profileId);
  if ((await profileSubsets(env, profile.id).tasksOf(key)) === null)
    throw new ApiError(404, "unknown_subset", `profile ${profile.id} has no subset ${key}`);
  return { profile: profile.id, subset: key };
}

profiles.post("/:profileId/releases", async (c) => {
  const { runId, rollout } = await jsonBody(c.req.raw, PublishRequest);
  const release = await publishRun(c.env, c.env.BUCKET, c.req.param("profileId"), runId, rollout);
  return c.json(release, release.unchanged ? 200 : 201);
});

profiles.get("/:profileId/releases", async (c) => {
  const profile = await existingProfile(c.env, c.req.param("profileId"));
  return c.json({ profile: profile.id, releases: await releases(c.env, profile.id).history(profile.id) });
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
