/**
 * The releases of one device profile: an append-only history of signed manifests whose
 * versions only increase (a rollback is a new version pointing at old adapters), the rollout
 * percentage of the newest, and the state of the profile's automatic re-clustering.
 * Blobs are written before `commit` is called, so a committed manifest never names a missing blob.
 * Retiring (the profile is deleted) hides every release so far from devices and from `latest`;
 * versions keep counting, so a profile later created under the same id never goes backwards.
 * Every change that devices see is published to the edge read model (src/delivery/readModel.ts)
 * before the method returns: devices read that, never this object.
 * A profile's object also keeps the index of its per-device task sets (./subsetIndex.ts); each
 * subset's releases are an object of this class of their own, whose scope names the subset.
 */
import { DurableObject } from "cloudflare:workers";
import type { Manifest, ManifestAdapter } from "../src/delivery/manifest";
import type { ReleaseSummary } from "../src/delivery/release";
import { releasesKey, subsetReleasesKey, type ManifestVariant, type ProfileReleases } from "../src/delivery/readModel";
import type { TaskRecord } from "./Catalogue";
import { changedTasks } from "../src/runs/pinned";
import type { SubsetView } from "../src/delivery/subsetView";
import * as subsets from "./subsetIndex";
import { rolloutRefusal } from "../src/delivery/rollout";
import { currentSigner } from "../src/delivery/currentSigner";
import { sha256Hex } from "../src/storage/sha256";

export type { ReleaseSummary };

/** A manifest is valid this long; the cron re-signs current ones before they lapse. */
export const MANIFEST_TTL_MS = 30 * 24 * 3600 * 1000;
const REFRESH_BEFORE_MS = 7 * 24 * 3600 * 1000;

export interface ReleaseInput {
  readonly runId: string;
  readonly catalogueVersion: number;
  readonly profileVersion: number;
  readonly routing: Readonly<Record<string, string>>;
  readonly adapters: readonly ManifestAdapter[];
  /** Task ids per merged adapter: where a warm-started re-clustering begins. */
  readonly clusters: readonly (readonly string[])[];
  readonly objective: number;
  readonly rollout?: number;
  /** The per-device task set these releases are for (fixed by the first commit); absent: the profile-wide releases. */
  readonly subset?: string;
}

export interface AutoState {
  readonly runId: string | null;
  readonly catalogueVersion: number;
  /** null while the run is going; then what the cron did with it. */
  readonly outcome: string | null;
  readonly updatedAt: string;
}

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

export class Releases extends DurableObject<Env> {
  private sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      this.sql.exec(`
        CREATE TABLE IF NOT EXISTS releases (
          version INTEGER PRIMARY KEY, created_at TEXT NOT NULL, expires_at TEXT NOT NULL, rollout REAL NOT NULL,
          manifest TEXT NOT NULL, signed TEXT NOT NULL, etag TEXT NOT NULL, run_id TEXT NOT NULL,
          catalogue_version INTEGER NOT NULL, profile_version INTEGER NOT NULL, objective REAL NOT NULL,
          kind TEXT NOT NULL, source_version INTEGER, clusters TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS auto (
          id INTEGER PRIMARY KEY CHECK (id = 1), run_id TEXT, catalogue_version INTEGER NOT NULL, outcome TEXT, updated_at TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS retired (
          id INTEGER PRIMARY KEY CHECK (id = 1), through_version INTEGER NOT NULL, retired_at TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS scope (id INTEGER PRIMARY KEY CHECK (id = 1), subset TEXT NOT NULL);`);
      subsets.createSubsetTables(this.sql);
    });
  }

  /** Signs and stores a new release; it becomes the current manifest in the same transaction. */
  async commit(profile: string, input: ReleaseInput): Promise<ReleaseSummary> {
    if (input.subset !== undefined) this.sql.exec("INSERT OR IGNORE INTO scope VALUES (1, ?)", input.subset);
    const version = this.nextVersion();
    const manifest = this.manifestOf(profile, version, input.routing, input.adapters, input.rollout ?? 100);
    const signed = await this.sign(manifest);
    this.sql.exec("INSERT INTO releases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'publish', NULL, ?)",
      version, manifest.createdAt, manifest.expiresAt, manifest.rollout, JSON.stringify(manifest), signed.text, signed.etag,
      input.runId, input.catalogueVersion, input.profileVersion, input.objective, JSON.stringify(input.clusters));
    await this.publish(profile);
    return summary(this.row(version)!);
  }

  /** What devices of this profile may be served: the newest release and the newest full one before it. */
  readModel(profile: string): ProfileReleases {
    const newest = this.newest();
    const fallback = newest && newest.rollout < 100
      ? this.sql.exec<ReleaseRow>("SELECT * FROM releases WHERE rollout >= 100 AND version < ? AND version > ? ORDER BY version DESC LIMIT 1",
        newest.version, this.retiredThrough()).toArray()[0] ?? null
      : null;
    const variant = (r: ReleaseRow | null): ManifestVariant | null => r && { version: r.version, rollout: r.rollout, signed: r.signed, etag: r.etag };
    return { profile, newest: variant(newest), fallback: variant(fallback), publishedAt: new Date().toISOString() };
  }

  /**
   * Writes the read model to the edge store. Called after every change, and by the cron to
   * repair a write that failed after the change was stored (the change stands; devices see it late).
   */
  async publish(profile: string): Promise<ProfileReleases> {
    const model = this.readModel(profile);
    const subset = this.subset();
    await this.env.DELIVERY.put(subset === null ? releasesKey(profile) : subsetReleasesKey(profile, subset), JSON.stringify(model));
    return model;
  }

  /** Raises the newest release's rollout (re-signed: the percentage is part of the manifest); never lowers it. */
  async setRollout(profile: string, percent: number): Promise<RolloutChange | null> {
    const newest = this.newest();
    if (!newest) return null;
    const refused = rolloutRefusal(profile, newest.version, newest.rollout, percent);
    if (refused) return { refused };
    await this.resign(newest, { rollout: percent });
    await this.publish(profile);
    return { release: summary(this.row(newest.version)!) };
  }

  /** A new version serving the adapters of `version` again, to every device. */
  async rollback(profile: string, version: number): Promise<ReleaseSummary | null> {
    const old = this.row(version);
    if (!old || version <= this.retiredThrough()) return null;
    const next = this.nextVersion();
    const previous = JSON.parse(old.manifest) as Manifest;
    const manifest = this.manifestOf(profile, next, previous.routing, previous.adapters, 100);
    const signed = await this.sign(manifest);
    this.sql.exec("INSERT INTO releases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'rollback', ?, ?)",
      next, manifest.createdAt, manifest.expiresAt, 100, JSON.stringify(manifest), signed.text, signed.etag,
      old.run_id, old.catalogue_version, old.profile_version, old.objective, version, old.clusters);
    await this.publish(profile);
    return summary(this.row(next)!);
  }

  /**
   * Re-signs what devices are served (the newest release and its full fallback) with the current
   * key, same versions: after a key switch, devices get manifests under the new key.
   */
  async resignServed(profile: string): Promise<number> {
    const model = this.readModel(profile);
    const served = [model.newest, model.fallback].flatMap((v) => (v ? [this.row(v.version)!] : []));
    for (const row of served) await this.resign(row, {});
    await this.publish(profile);
    return served.length;
  }

  history(): ReleaseSummary[] {
    return this.sql.exec<ReleaseRow>("SELECT * FROM releases ORDER BY version DESC").toArray().map(summary);
  }

  latest(): ReleaseSummary | null {
    const newest = this.newest();
    return newest && summary(newest);
  }

  /** Re-signs current manifests that would lapse within a week (same version, later expiry). */
  async refreshExpiry(profile: string): Promise<number> {
    const soon = new Date(Date.now() + REFRESH_BEFORE_MS).toISOString();
    const rows = this.sql.exec<ReleaseRow>("SELECT * FROM releases WHERE expires_at < ? AND version > ? ORDER BY version DESC LIMIT 2",
      soon, this.retiredThrough()).toArray();
    for (const row of rows) await this.resign(row, {});
    if (rows.length) await this.publish(profile);
    return rows.length;
  }

  autoState(): AutoState | null {
    const row = this.sql.exec<{ run_id: string | null; catalogue_version: number; outcome: string | null; updated_at: string }>("SELECT * FROM auto").toArray()[0];
    return row ? { runId: row.run_id, catalogueVersion: row.catalogue_version, outcome: row.outcome, updatedAt: row.updated_at } : null;
  }

  setAutoState(state: Omit<AutoState, "updatedAt">): void {
    this.sql.exec("INSERT OR REPLACE INTO auto VALUES (1, ?, ?, ?, ?)", state.runId, state.catalogueVersion, state.outcome, new Date().toISOString());
  }

  /**
   * The profile is deleted: no release so far is served or rolled back to again, and the cron's
   * state is forgotten (its run was for the old profile). Returns the last retired version.
   */
  async retire(profile: string): Promise<number> {
    const through = this.sql.exec<{ v: number | null }>("SELECT max(version) AS v FROM releases").one().v ?? 0;
    this.sql.exec("INSERT OR REPLACE INTO retired VALUES (1, ?, ?)", through, new Date().toISOString());
    this.sql.exec("DELETE FROM auto");
    // The subsets' own objects are retired by the caller; a profile created again under this id starts with none.
    this.sql.exec("DELETE FROM subsets");
    await this.publish(profile);
    return through;
  }

  // Per-device task sets (./subsetIndex.ts), on the profile's object.

  requestSubset(need: subsets.SubsetRequest, maxSubsets: number): subsets.RequestOutcome {
    return subsets.request(this.sql, need, maxSubsets);
  }

  subsetBuilding(key: string, runId: string): void {
    subsets.building(this.sql, key, runId);
  }

  claimSubsetFinish(key: string, runId: string): boolean {
    return subsets.claimFinish(this.sql, key, runId);
  }

  unclaimSubsetFinish(key: string, runId: string): void {
    subsets.unclaim(this.sql, key, runId);
  }

  subsetBuilt(key: string, result: subsets.BuildResult): boolean {
    return subsets.built(this.sql, key, result);
  }

  /** The subsets to build now (the cron's pass), given today's catalogue. */
  subsetsDue(catalogue: readonly TaskRecord[]): string[] {
    return subsets.due(this.sql, (pinned) => changedTasks(pinned, catalogue).length > 0);
  }

  subsetRunsGoing(): { key: string; runId: string }[] {
    return subsets.runsGoing(this.sql);
  }

  subsetTasks(key: string): string[] | null {
    return subsets.tasksOf(this.sql, key);
  }

  subsets(): Omit<SubsetView, "release" | "heldOutExactMatch">[] {
    return subsets.list(this.sql);
  }

  liveSubsets(): string[] {
    return subsets.liveKeys(this.sql);
  }

  /** The subset these releases are for; null on a profile's own object. */
  private subset(): string | null {
    return this.sql.exec<{ subset: string }>("SELECT subset FROM scope").toArray()[0]?.subset ?? null;
  }

  private retiredThrough(): number {
    return this.sql.exec<{ through_version: number }>("SELECT through_version FROM retired").toArray()[0]?.through_version ?? 0;
  }

  /** Versions count on past retired releases: a device never sees a number go down. */
  private nextVersion(): number {
    return (this.sql.exec<{ v: number | null }>("SELECT max(version) AS v FROM releases").one().v ?? 0) + 1;
  }

  private manifestOf(profile: string, version: number, routing: Manifest["routing"], adapters: Manifest["adapters"], rollout: number): Manifest {
    const now = Date.now();
    const subset = this.subset();
    return { profile, ...(subset === null ? {} : { subset }), version, createdAt: new Date(now).toISOString(), expiresAt: new Date(now + MANIFEST_TTL_MS).toISOString(), rollout, routing, adapters };
  }

  private async resign(row: ReleaseRow, change: Partial<Pick<Manifest, "rollout">>): Promise<void> {
    const manifest: Manifest = { ...(JSON.parse(row.manifest) as Manifest), ...change, expiresAt: new Date(Date.now() + MANIFEST_TTL_MS).toISOString() };
    const signed = await this.sign(manifest);
    this.sql.exec("UPDATE releases SET rollout = ?, expires_at = ?, manifest = ?, signed = ?, etag = ? WHERE version = ?",
      manifest.rollout, manifest.expiresAt, JSON.stringify(manifest), signed.text, signed.etag, row.version);
  }

  private async sign(manifest: Manifest): Promise<{ text: string; etag: string }> {
    const text = JSON.stringify(await (await currentSigner(this.env)).sign(manifest));
    return { text, etag: `"${(await sha256Hex(text)).slice(0, 32)}"` };
  }

  /** The newest release not retired. */
  private newest(): ReleaseRow | null {
    return this.sql.exec<ReleaseRow>("SELECT * FROM releases WHERE version > ? ORDER BY version DESC LIMIT 1", this.retiredThrough()).toArray()[0] ?? null;
  }

  private row(version: number): ReleaseRow | null {
    return this.sql.exec<ReleaseRow>("SELECT * FROM releases WHERE version = ?", version).toArray()[0] ?? null;
  }
}

function summary(r: ReleaseRow): ReleaseSummary {
  const manifest = JSON.parse(r.manifest) as Manifest;
  return {
    version: r.version, createdAt: r.created_at, expiresAt: r.expires_at, rollout: r.rollout, runId: r.run_id,
    catalogueVersion: r.catalogue_version, profileVersion: r.profile_version, objective: r.objective, kind: r.kind,
    sourceVersion: r.source_version, tasks: Object.keys(manifest.routing).length, adapters: manifest.adapters.length,
    clusters: JSON.parse(r.clusters) as string[][],
  };
}
