/** Whether a verified manifest may replace the last good one: freshness, rollback, profile, base model. */
import type { Manifest, ManifestModel } from "../../src/delivery/manifest";

export interface AcceptanceContext {
  readonly now: Date;
  /** Highest version accepted so far, per release stream (`releaseStream`). */
  readonly versions: Readonly<Record<string, number>>;
  /** The profile the device asked for explicitly, if any. */
  readonly profile?: string;
  /** The base model the device holds: adapters built for another base (id or weights) are refused. */
  readonly model?: ManifestModel;
}

/** Throws with the reason when the manifest must be refused. */
export function checkAcceptable(manifest: Manifest, context: AcceptanceContext): void {
  checkShape(manifest);
  const expiresAt = Date.parse(manifest.expiresAt);
  if (Number.isNaN(expiresAt)) throw new Error(`manifest expiresAt "${manifest.expiresAt}" is not a date`);
  // Expiry bounds how long a captured manifest can be replayed (a freeze attack).
  if (expiresAt < context.now.getTime()) throw new Error(`manifest expired at ${manifest.expiresAt}`);
  if (context.profile !== undefined && manifest.profile !== context.profile) {
    throw new Error(`manifest is for profile "${manifest.profile}", asked for "${context.profile}"`);
  }
  // An adapter is a delta on one base's weights: on another base it runs, and produces garbage.
  const model = context.model;
  if (model !== undefined && (manifest.model?.id !== model.id || manifest.model.sha256 !== model.sha256)) {
    const named = manifest.model
      ? `base model "${manifest.model.id}" (${manifest.model.sha256.slice(0, 12)})`
      : "no base model";
    throw new Error(`manifest is for ${named}, this device holds "${model.id}" (${model.sha256.slice(0, 12)})`);
  }
  // Versions are monotonic per stream; a device whose traits move it to another profile, or whose
  // own task set gets a release, starts that stream's sequence (the signature covers `subset`).
  const stream = releaseStream(manifest);
  const highest = Object.hasOwn(context.versions, stream) ? context.versions[stream] : undefined;
  if (highest !== undefined && manifest.version < highest) {
    throw new Error(
      `manifest version ${manifest.version} is lower than ${highest}, already accepted for ` +
        `${manifest.subset === undefined ? "profile" : "task set"} "${stream}"`,
    );
  }
}

/** The sequence a manifest's version belongs to: its profile's releases, or one per-device task set's (issue 14). */
export const releaseStream = (manifest: Manifest): string =>
  manifest.subset === undefined ? manifest.profile : `${manifest.profile}/${manifest.subset}`;

/** The signature proves who wrote it, not that the fields the client reads have the right types. */
function checkShape(manifest: Manifest): void {
  const fail = (what: string) => {
    throw new Error(`manifest: ${what}`);
  };
  if (typeof manifest !== "object" || manifest === null) fail("not an object");
  if (typeof manifest.profile !== "string") fail("profile is not a string");
  if (manifest.subset !== undefined && typeof manifest.subset !== "string") fail("subset is not a string");
  if (
    manifest.model !== undefined &&
    (typeof manifest.model?.id !== "string" || !/^[0-9a-f]{64}$/.test(manifest.model.sha256))
  )
    fail("model is not { id, sha256 }");
  const targets = manifest.model?.loraTargets;
  if (
    targets !== undefined &&
    (!Array.isArray(targets) ||
      !targets.every((t) => typeof t?.module === "string" && Number.isSafeInteger(t.in) && Number.isSafeInteger(t.out)))
  )
    fail("model.loraTargets is not a list of { module, in, out }");
  if (!Number.isSafeInteger(manifest.version)) fail("version is not an integer");
  if (typeof manifest.expiresAt !== "string") fail("expiresAt is not a string");
  if (typeof manifest.routing !== "object" || manifest.routing === null) fail("routing is not an object");
  if (!Array.isArray(manifest.adapters)) fail("adapters is not an array");
  for (const adapter of manifest.adapters) {
    if (!/^[0-9a-f]{64}$/.test(adapter?.sha256)) fail(`adapter sha256 "${adapter?.sha256}" is not 64 hex digits`);
    if (!Number.isSafeInteger(adapter.bytes) || adapter.bytes < 0)
      fail(`adapter ${adapter.sha256}: bytes is not a size`);
    if (typeof adapter.url !== "string" || !adapter.url.startsWith("/"))
      fail(`adapter ${adapter.sha256}: url is not a path`);
    if (!Array.isArray(adapter.tasks)) fail(`adapter ${adapter.sha256}: tasks is not an array`);
  }
}
