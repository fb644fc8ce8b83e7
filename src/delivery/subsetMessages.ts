/**
 * The queue message of a per-device task set (issue 14), on the evaluations queue beside units: the
 * device path reports a need (it never calls a Durable Object).
 */
/** A need as the edge reports it: the subset it covers, the need as stated, and who asked. */
export interface SubsetRequest {
  readonly key: string;
  readonly tasks: readonly string[];
  readonly locales: readonly string[];
  readonly apps: readonly string[];
  readonly taskSet?: string;
  /**
   * Pseudonyms of the networks that asked since the isolate's last report (src/delivery/reporter.ts),
   * the first the newest; at most REPORT_NETWORKS.
   */
  readonly networks: readonly string[];
}

export interface SubsetRequested extends SubsetRequest {
  readonly kind: "subset-requested";
  readonly profile: string;
}
