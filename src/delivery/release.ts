/** A release as the admin API shows it (Releases Durable Object); plain data, shared with the CLI. */
export interface ReleaseSummary {
  readonly version: number;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly rollout: number;
  readonly runId: string;
  readonly catalogueVersion: number;
  readonly profileVersion: number;
  readonly objective: number;
  readonly kind: "publish" | "rollback";
  /** For a rollback: the version whose adapters it serves again. */
  readonly sourceVersion: number | null;
  readonly tasks: number;
  readonly adapters: number;
  readonly clusters: string[][];
}

/**
 * What publishing answers: the release, and whether the newest release already was this run as
 * asked (`unchanged`: no new version, 200) or a new version was made (201).
 */
export interface PublishedRelease extends ReleaseSummary {
  readonly unchanged: boolean;
}
