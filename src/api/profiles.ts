import { Hono } from "hono";
import { z } from "zod";
import { publishRun } from "../delivery/publish";
import { ProfileSchema } from "../delivery/profiles";
import { catalogue } from "../storage/catalogue";
import { releases } from "../storage/runs";
import { requireAdmin } from "./auth";
import { ApiError } from "./errors";
import { checkedId, jsonBody } from "./validate";

export const PublishRequest = z.object({ runId: z.string().min(1) }).strict();
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
  return c.json(await cat.putProfile(id, profile));
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
  return c.json({ ...profile, release: await stub.latest(), auto: await stub.autoState() });
});

profiles.post("/:profileId/releases", async (c) => {
  const { runId } = await jsonBody(c.req.raw, PublishRequest);
  return c.json(await publishRun(c.env, c.env.BUCKET, c.req.param("profileId"), runId), 201);
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
  const release = await releases(c.env, profile.id).setRollout(percent);
  if (!release) throw new ApiError(409, "no_release", `profile ${profile.id} has no release yet`);
  return c.json(release);
});
