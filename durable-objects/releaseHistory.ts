/**
 * One release history: an append-only list of signed manifests whose versions only increase (a
 * rollback is a new version pointing at old adapters), the rollout percentage of the newest, and
 * what devices are served from it, published to the edge read model (src/delivery/readModel.ts)
 * before a change returns. Two Durable Objects keep one each: a profile's `Releases` and a
 * per-device task set's `SubsetReleases`. The history writes exactly one read-model key, the one
 * its target names, so a subset's history can never overwrite what a whole profile is served.
 */
import type { Manifest, ManifestAdapter, ManifestModel } from "../src/delivery/manifest";
import type { PublishedRelease, ReleaseSummary } from "../src/delivery/release";
import { releasesKey, subsetReleasesKey, type ManifestVariant, type ProfileReleases } from "../src/delivery/readModel";
import { rolloutRefusal } from "../src/delivery/rollout";
import { currentSigner } from "../src/delivery/currentSigner";
import { sha256Hex } from "../src/storage/sha256";

/** A manifest is valid this long; the cron re-signs current ones before they lapse. */
const MANIFEST_TTL_MS = 30 * 24 * 3600 * 1000;
const REFRESH_BEFORE_MS = 7 * 24 * 3600 * 1000;

/** Whose releases these are: a profile's, or one per-device task set's of a profile. */
export interface ReleaseTarget {
  readonly profile: string;
  readonly subset?: string;
}

export interface ReleaseInput {
  readonly runId: string;
  readonly catalogueVersion: number;
  readonly profileVersion: number;
  /** The base model the adapters are for, signed into the manifest: a device holding another base refuses them. */
  readonly model: ManifestModel;
  readonly routing: Readonly<Record<string, string>>;
  readonly adapters: readonly ManifestAdapter[];
  /** A parts release's tasks served by the base model alone (Manifest.unadapted). */
  readonly unadapted?: readonly string[];
  /** Task ids per merged adapter: where a warm-started re-clustering begins. */
  readonly clusters: readonly (readonly string[])[];
  readonly objective: number;
  readonly rollout?: number;
}

/** What makes two publications of a run one release: the run, the rollout asked, the profile version, the model. */
export type ReleaseProbe = Pick<ReleaseInput, "runId" | "profileVersion" | "model" | "rollout">;

/** `setRollout`'s answer: the release re-signed, or why the change was refused. */
export type RolloutChange = { readonly release: ReleaseSummary } | { readonly refused: string };

interface ReleaseRow extends Record<string, SqlStorageValue> {
  version: number;
  created_at: string;
  expires_at: string;
  rollout: number;
  manifest: string;
  signed: string;
  etag: string;
  run_id: string;
  catalogue_version: number;
  profile_version: number;
  objective: number;
  kind: "publish" | "rollback";
  source_version: number | null;
  clusters: string;
}

export function createReleaseTables(sql: SqlStorage): void {
  sql.exec(`
    CREATE TABLE IF NOT EXISTS releases (
      version INTEGER PRIMARY KEY, created_at TEXT NOT NULL, expires_at TEXT NOT NULL, rollout REAL NOT NULL,
      manifest TEXT NOT NULL, signed TEXT NOT NULL, etag TEXT NOT NULL, run_id TEXT NOT NULL,
      catalogue_version INTEGER NOT NULL, profile_version INTEGER NOT NULL, objective REAL NOT NULL,
      kind TEXT NOT NULL, source_version INTEGER, clusters TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS retired (
      id INTEGER PRIMARY KEY CHECK (id = 1), through_version INTEGER NOT NULL, retired_at TEXT NOT NULL);`);
}

export class ReleaseHistory {
  constructor(
    private readonly sql: SqlStorage,
    private readonly env: Env,
    private readonly target: ReleaseTarget,
  ) {}

  /**
   * Signs and stores a new release; it becomes the current manifest in the same transaction. When
   * the newest release already is this one (`sameAsNewest`), it is answered instead, unchanged.
   */
  async commit(input: ReleaseInput): Promise<PublishedRelease> {
    const same = this.sameAsNewest(input);
    if (same) return { ...same, unchanged: true };
    const version = this.nextVersion();
    const manifest = this.manifestOf(
      version,
      input.model,
      input.routing,
      input.adapters,
      input.rollout ?? 100,
      input.unadapted,
    );
    const signed = await this.sign(manifest);
    this.sql.exec(
      `INSERT INTO releases (version, created_at, expires_at, rollout, manifest, signed, etag, run_id, ` +
        `catalogue_version, profile_version, objective, kind, source_version, clusters)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'publish', NULL, ?)`,
      version,
      manifest.createdAt,
      manifest.expiresAt,
      manifest.rollout,
      JSON.stringify(manifest),
      signed.text,
      signed.etag,
      input.runId,
      input.catalogueVersion,
      input.profileVersion,
      input.objective,
      JSON.stringify(input.clusters),
    );
    await this.publish();
    return { ...summary(this.row(version)!), unchanged: false };
  }

  /**
   * The newest release when publishing `probe` would make it again: the same run at the same rollout,
   * built under the same profile version for the same base model (a run's blobs are content-addressed
   * and its tasks pinned, so the manifest would name the same adapters). Else null.
   */
  sameAsNewest(probe: ReleaseProbe): ReleaseSummary | null {
    const newest = this.newest();
    if (!newest) return null;
    const model = (JSON.parse(newest.manifest) as Manifest).model;
    const same =
      newest.run_id === probe.runId &&
      newest.rollout === (probe.rollout ?? 100) &&
      newest.profile_version === probe.profileVersion &&
      model.id === probe.model.id &&
      model.sha256 === probe.model.sha256 &&
      JSON.stringify(model.loraTargets) === JSON.stringify(probe.model.loraTargets);
    return same ? summary(newest) : null;
  }

  /** What devices may be served: the newest release and the newest full one before it. */
  readModel(): ProfileReleases {
    const newest = this.newest();
    const fallback =
      newest && newest.rollout < 100
        ? (this.sql
            .exec<ReleaseRow>(
              "SELECT * FROM releases WHERE rollout >= 100 AND version < ? AND version > ? ORDER BY version " +
                "DESC LIMIT 1",
              newest.version,
              this.retiredThrough(),
            )
            .toArray()[0] ?? null)
        : null;
    const variant = (r: ReleaseRow | null): ManifestVariant | null =>
      r && { version: r.version, rollout: r.rollout, signed: r.signed, etag: r.etag };
    return {
      profile: this.target.profile,
      newest: variant(newest),
      fallback: variant(fallback),
      publishedAt: new Date().toISOString(),
    };
  }

  /**
   * Writes the read model to the edge store: after every change, and from the cron to repair a
   * write that failed after the change was stored. A subset with nothing to serve has no key at
   * all (its devices read the profile-wide one), so retired subsets leave nothing behind in KV.
   */
  async publish(): Promise<ProfileReleases> {
    const model = this.readModel();
    const { profile, subset } = this.target;
    if (subset !== undefined && !model.newest) await this.env.DELIVERY.delete(subsetReleasesKey(profile, subset));
    else
      await this.env.DELIVERY.put(
        subset === undefined ? releasesKey(profile) : subsetReleasesKey(profile, subset),
        JSON.stringify(model),
      );
    return model;
  }

  /** Raises the newest release's rollout (re-signed: the percentage is part of the manifest); never lowers it. */
  async setRollout(percent: number): Promise<RolloutChange | null> {
    const newest = this.newest();
    if (!newest) return null;
    const refused = rolloutRefusal(this.target.profile, newest.version, newest.rollout, percent);
    if (refused) return { refused };
    await this.resign(newest, { rollout: percent });
    await this.publish();
    return { release: summary(this.row(newest.version)!) };
  }

  /** A new version serving the adapters of `version` again, to every device. */
  async rollback(version: number): Promise<ReleaseSummary | null> {
    const old = this.row(version);
    if (!old || version <= this.retiredThrough()) return null;
    const next = this.nextVersion();
    const previous = JSON.parse(old.manifest) as Manifest;
    const manifest = this.manifestOf(
      next,
      previous.model,
      previous.routing,
      previous.adapters,
      100,
      previous.unadapted,
    );
    const signed = await this.sign(manifest);
    this.sql.exec(
      `INSERT INTO releases (version, created_at, expires_at, rollout, manifest, signed, etag, run_id, ` +
        `catalogue_version, profile_version, objective, kind, source_version, clusters)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'rollback', ?, ?)`,
      next,
      manifest.createdAt,
      manifest.expiresAt,
      100,
      JSON.stringify(manifest),
      signed.text,
      signed.etag,
      old.run_id,
      old.catalogue_version,
      old.profile_version,
      old.objective,
      version,
      old.clusters,
    );
    await this.publish();
    return summary(this.row(next)!);
  }

  /**
   * Re-signs what devices are served (the newest release and its full fallback) with the current
   * key, same versions: after a key switch, devices get manifests under the new key.
   */
  async resignServed(): Promise<number> {
    const served = this.servedRows();
    for (const row of served) await this.resign(row, {});
    await this.publish();
    return served.length;
  }

  /** The key ids that sign what devices are served now (a key cannot be retired while it signs one). */
  servedKeyIds(): string[] {
    return [...new Set(this.servedRows().map(signingKeyId))];
  }

  history(): ReleaseSummary[] {
    return this.sql.exec<ReleaseRow>("SELECT * FROM releases ORDER BY version DESC").toArray().map(summary);
  }

  latest(): ReleaseSummary | null {
    const newest = this.newest();
    return newest && summary(newest);
  }

  /**
   * Re-signs served manifests that would lapse within a week (same version, later expiry), and
   * those under another key than the current one (a key switch that failed part way: the cron finishes it).
   */
  async refreshExpiry(): Promise<number> {
    const served = this.servedRows();
    if (!served.length) return 0;
    const soon = new Date(Date.now() + REFRESH_BEFORE_MS).toISOString();
    const current = (await currentSigner(this.env)).keyId;
    const rows = served.filter((r) => r.expires_at < soon || signingKeyId(r) !== current);
    for (const row of rows) await this.resign(row, {});
    if (rows.length) await this.publish();
    return rows.length;
  }

  /**
   * No release so far is served or rolled back to again (versions keep counting, so a target
   * created again under this name never goes backwards). Returns the last retired version.
   */
  async retire(): Promise<number> {
    const through = this.sql.exec<{ v: number | null }>("SELECT max(version) AS v FROM releases").one().v ?? 0;
    this.sql.exec(
      "INSERT OR REPLACE INTO retired (id, through_version, retired_at) VALUES (1, ?, ?)",
      through,
      new Date().toISOString(),
    );
    await this.publish();
    return through;
  }

  private servedRows(): ReleaseRow[] {
    const model = this.readModel();
    return [model.newest, model.fallback].flatMap((v) => (v ? [this.row(v.version)!] : []));
  }

  private retiredThrough(): number {
    return (
      this.sql.exec<{ through_version: number }>("SELECT through_version FROM retired").toArray()[0]?.through_version ??
      0
    );
  }

  /** Versions count on past retired releases: a device never sees a number go down. */
  private nextVersion(): number {
    return (this.sql.exec<{ v: number | null }>("SELECT max(version) AS v FROM releases").one().v ?? 0) + 1;
  }

  private manifestOf(
    version: number,
    model: ManifestModel,
    routing: Manifest["routing"],
    adapters: Manifest["adapters"],
    rollout: number,
    unadapted?: Manifest["unadapted"],
  ): Manifest {
    const now = Date.now();
    const { profile, subset } = this.target;
    return {
      profile,
      ...(subset === undefined ? {} : { subset }),
      model,
      version,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + MANIFEST_TTL_MS).toISOString(),
      rollout,
      routing,
      adapters,
      ...(unadapted?.length ? { unadapted } : {}),
    };
  }

  private async resign(row: ReleaseRow, change: Partial<Pick<Manifest, "rollout">>): Promise<void> {
    const manifest: Manifest = {
      ...(JSON.parse(row.manifest) as Manifest),
      ...change,
      expiresAt: new Date(Date.now() + MANIFEST_TTL_MS).toISOString(),
    };
    const signed = await this.sign(manifest);
    this.sql.exec(
      "UPDATE releases SET rollout = ?, expires_at = ?, manifest = ?, signed = ?, etag = ? WHERE version = ?",
      manifest.rollout,
      manifest.expiresAt,
      JSON.stringify(manifest),
      signed.text,
      signed.etag,
      row.version,
    );
  }

  private async sign(manifest: Manifest): Promise<{ text: string; etag: string }> {
    const text = JSON.stringify(await (await currentSigner(this.env)).sign(manifest));
    return { text, etag: `"${(await sha256Hex(text)).slice(0, 32)}"` };
  }

  /** The newest release not retired. */
  private newest(): ReleaseRow | null {
    return (
      this.sql
        .exec<ReleaseRow>(
          "SELECT * FROM releases WHERE version > ? ORDER BY version DESC LIMIT 1",
          this.retiredThrough(),
        )
        .toArray()[0] ?? null
    );
  }

  private row(version: number): ReleaseRow | null {
    return this.sql.exec<ReleaseRow>("SELECT * FROM releases WHERE version = ?", version).toArray()[0] ?? null;
  }
}

const signingKeyId = (r: ReleaseRow) => (JSON.parse(r.signed) as { keyId: string }).keyId;

function summary(r: ReleaseRow): ReleaseSummary {
  const manifest = JSON.parse(r.manifest) as Manifest;
  return {
    version: r.version,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    rollout: r.rollout,
    runId: r.run_id,
    catalogueVersion: r.catalogue_version,
    profileVersion: r.profile_version,
    objective: r.objective,
    kind: r.kind,
    sourceVersion: r.source_version,
    tasks: Object.keys(manifest.routing).length,
    adapters: manifest.adapters.length,
    clusters: JSON.parse(r.clusters) as string[][],
  };
}
