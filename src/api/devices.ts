/**
 * Device routes (no token): the signed manifest for a device and adapter blobs (signing keys: ./keys.ts).
 * A device may state its languages and apps (`locales`, `apps`) or a task set its profile names
 * (`taskSet`): it is then served the release built for its own tasks once there is one
 * (src/delivery/subsetRequests.ts).
 * The manifest comes from the edge read model (src/delivery/readModel.ts) and no Durable
 * Object is called on a device's request: a fleet's syncs never queue behind one object.
 * Blobs are immutable and content-addressed, so they are cacheable forever and resumable.
 */
import { Hono } from "hono";
import { parseRange } from "../delivery/range";
import { resolveProfile, type DeviceTraits } from "../delivery/profiles";
import { rolloutBucket } from "../delivery/rollout";
import { readEdge } from "../delivery/edgeReads";
import { parseNeed, type DeviceNeed } from "../delivery/needs";
import {
  PROFILES_KEY,
  releasesKey,
  subsetReleasesKey,
  variantFor,
  type ProfileReleases,
  type ProfilesModel,
} from "../delivery/readModel";
import { networkOf } from "../delivery/reporter";
import { reportNeed, subsetOf } from "../delivery/subsetRequests";
import { blobKey } from "../storage/keys";
import { sha256Hex } from "../storage/sha256";
import { quoted } from "../errors";
import { noneMatch } from "./conditional";
import { ApiError } from "./errors";

export const devices = new Hono<{ Bindings: Env }>();

const SHA256 = /^[0-9a-f]{64}$/;
const TRAIT_HEADERS = "X-Device-Id, X-Device-Ram-Mb, X-Device-Soc, X-Device-Model, X-Device-Os";

devices.get("/manifest", async (c) => {
  const trait = (query: string, header: string) => c.req.query(query) ?? c.req.header(header);
  const ram = trait("ramMb", "x-device-ram-mb");
  if (ram !== undefined && !/^\d+$/.test(ram))
    throw new ApiError(400, "bad_trait", `ramMb must be a whole number of MB, got ${quoted(ram)}`);
  const traits: DeviceTraits = {
    ...(ram !== undefined ? { ramMb: Number(ram) } : {}),
    ...(trait("soc", "x-device-soc") ? { soc: trait("soc", "x-device-soc") } : {}),
    ...(trait("model", "x-device-model") ? { model: trait("model", "x-device-model") } : {}),
    ...(trait("os", "x-device-os") ? { os: trait("os", "x-device-os") } : {}),
  };
  const device = trait("device", "x-device-id");
  let need: DeviceNeed | null;
  try {
    need = parseNeed(
      trait("locales", "x-device-locales"),
      trait("apps", "x-device-apps"),
      trait("taskSet", "x-device-task-set"),
    );
  } catch (e) {
    if (e instanceof RangeError) throw new ApiError(400, "bad_need", e.message);
    throw e;
  }
  const all = (await readEdge<ProfilesModel>(c.env, PROFILES_KEY))?.profiles ?? [];
  const explicit = c.req.query("profile");
  const profile = explicit === undefined ? resolveProfile(all, traits) : all.find((p) => p.id === explicit);
  if (!profile) {
    throw new ApiError(
      404,
      "no_profile",
      explicit === undefined ? `no profile matches traits ${quoted(traits, 256)}` : `no profile ${quoted(explicit)}`,
    );
  }
  const bucket = await rolloutBucket(profile.id, device);
  // A stated need is served its subset's release once built; until then (and where it has none) the profile-wide one.
  const subset = need && (await subsetOf(c.env, profile, need));
  const own = subset && (await readEdge<ProfileReleases>(c.env, subsetReleasesKey(profile.id, subset.key)));
  const subsetVariant = own ? variantFor(own, bucket) : null;
  if (subset)
    reportNeed(
      c.env,
      c.executionCtx,
      profile.id,
      subset,
      need!,
      await networkOf(c.req.header("cf-connecting-ip")),
      subsetVariant !== null,
    );
  const model = subsetVariant ? null : await readEdge<ProfileReleases>(c.env, releasesKey(profile.id));
  const current = subsetVariant ?? (model && variantFor(model, bucket));
  if (!current) throw new ApiError(404, "no_release", `profile ${profile.id} has no release for this device yet`);
  const headers = {
    etag: current.etag,
    "cache-control": "private, no-cache",
    vary: `${TRAIT_HEADERS}, X-Device-Locales, X-Device-Apps, X-Device-Task-Set`,
    // Which set this is: the subset's key, "pending" while it is not built, "none" where the need
    // gets no set of its own (no task, too many).
    ...(need ? { "x-subset": subsetVariant ? subset!.key : subset ? "pending" : "none" } : {}),
  };
  if (noneMatch(c.req.header("if-none-match"), current.etag)) return c.body(null, 304, headers);
  return c.body(current.signed, 200, { ...headers, "content-type": "application/json" });
});

devices.on(["GET", "HEAD"], "/adapters/:sha256", async (c) => {
  const sha256 = c.req.param("sha256");
  if (!SHA256.test(sha256))
    throw new ApiError(400, "bad_sha256", "an adapter is named by its lowercase hex sha256 (64 characters)");
  const etag = `"${sha256}"`;
  // If-Range: the range holds only while the client's copy is this very blob (strong match).
  const ifRange = c.req.header("if-range");
  if (c.req.method === "GET" && (ifRange === undefined || ifRange === etag)) {
    // Blobs never change: the data centre's cache answers repeats (whole, ranged, revalidated)
    // before R2 is asked anything. (A stale If-Range wants the whole blob: that goes to R2.)
    const cached = await blobCache()?.match(c.req.raw);
    // An unsatisfiable range gets this route's own JSON 416 below, not the cache's.
    if (cached && cached.status !== 416) return withHeader(cached, "x-blob-cache", "hit");
  }
  const head = await c.env.BUCKET.head(blobKey(sha256));
  if (!head) throw new ApiError(404, "unknown_adapter", `no adapter blob ${sha256}`);
  const headers: Record<string, string> = {
    etag,
    "cache-control": "public, max-age=31536000, immutable",
    "accept-ranges": "bytes",
    "content-type": "application/octet-stream",
  };
  if (noneMatch(c.req.header("if-none-match"), etag)) return c.body(null, 304, headers);
  const range = ifRange === undefined || ifRange === etag ? parseRange(c.req.header("range") ?? null, head.size) : null;
  if (range === "unsatisfiable") {
    // An error about this request, not the blob: JSON, never cached, its length stated for HEAD too.
    const body = JSON.stringify({
      error: { code: "range_not_satisfiable", message: `the blob has ${head.size} bytes` },
    });
    return new Response(c.req.method === "HEAD" ? null : body, {
      status: 416,
      headers: {
        etag,
        "accept-ranges": "bytes",
        "content-range": `bytes */${head.size}`,
        "cache-control": "no-store",
        "content-type": "application/json",
        "content-length": String(new TextEncoder().encode(body).byteLength),
      },
    });
  }
  const status = range ? 206 : 200;
  const length = range ? range.length : head.size;
  if (range) headers["content-range"] = `bytes ${range.offset}-${range.offset + range.length - 1}/${head.size}`;
  headers["content-length"] = String(length);
  if (c.req.method === "HEAD") return c.body(null, status, headers);
  const object = await c.env.BUCKET.get(blobKey(sha256), range ? { range } : {});
  if (!object) throw new ApiError(404, "unknown_adapter", `no adapter blob ${sha256}`);
  const cache = blobCache();
  if (!range && cache && head.size <= CACHED_BLOB_BYTES) {
    // Cached only once its bytes hash to its name: a blob damaged in R2 is never kept at the edge.
    const bytes = new Uint8Array(await object.arrayBuffer());
    if ((await sha256Hex(bytes)) === sha256)
      c.executionCtx.waitUntil(cache.put(new Request(c.req.url), new Response(bytes, { status: 200, headers })));
    return c.body(bytes, status, { ...headers, "x-blob-cache": "miss" });
  }
  return c.body(object.body, status, headers); // streamed from R2, never buffered whole
});

/** Blobs up to this size are cached (read whole on a miss to check their digest); larger ones stream from R2. */
const CACHED_BLOB_BYTES = 32 << 20;

/** The Cache API's default cache, where the runtime has one. */
const blobCache = (): Cache | undefined =>
  (globalThis as { caches?: CacheStorage & { default?: Cache } }).caches?.default;

function withHeader(response: Response, name: string, value: string): Response {
  const copy = new Response(response.body, response);
  copy.headers.set(name, value);
  return copy;
}
