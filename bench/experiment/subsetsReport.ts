/** docs/subsets.json (one row per device and seed) and docs/subsets.md (the table per device group). */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ExperimentSetup } from "./report.ts";

export interface SubsetRow {
  readonly group: string;
  readonly languages: readonly string[];
  readonly apps: readonly string[];
  /** Task ids on the device. */
  readonly tasks: readonly string[];
  readonly k: number;
  readonly seed: number;
  /**
   * "own": at most K tasks, each ships its own adapter; "d2c": pruned D2C over the device's tasks from its profile's
   * clusters.
   */
  readonly method: "own" | "d2c";
  /** Mean held-out exact match of the device's tasks under the subset release. */
  readonly subsetExactMatch: number;
  /** The same tasks under their profile-wide clusters (pruned D2C over every task at the same K and seed). */
  readonly profileExactMatch: number;
  /**
   * Few-shot forward passes of the subset's D2C run on top of the profile-wide run's loss cache, and from an empty one.
   */
  readonly forwardPassesWarm: number;
  readonly forwardPassesCold: number;
  readonly iterations: number;
  readonly fixedPoint: boolean;
}

/** One seed's profile-wide release (pruned D2C over every task), from an empty loss cache. */
export interface ProfileRun {
  readonly seed: number;
  readonly exactMatch: number;
  readonly forwardPasses: number;
  readonly iterations: number;
  /** Its clusters, by task id. */
  readonly clusters: readonly (readonly string[])[];
}

export interface SubsetResults extends ExperimentSetup {
  readonly rows: readonly SubsetRow[];
  readonly k: number;
  readonly profiles: readonly ProfileRun[];
}

export function writeSubsets(dir: string, results: SubsetResults): void {
  writeFileSync(join(dir, "subsets.json"), `${JSON.stringify(results.rows, null, 1)}\n`);
  writeFileSync(join(dir, "subsets.md"), markdown(results));
}

const pct = (x: number) => (100 * x).toFixed(1);
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const mean = (xs: readonly number[]) => sum(xs) / xs.length;

function groupLine(rows: readonly SubsetRow[]): string {
  const devices = new Set(rows.map((r) => r.tasks.join())).size;
  const subset = rows.map((r) => r.subsetExactMatch);
  const profile = rows.map((r) => r.profileExactMatch);
  const gain = rows.map((r) => r.subsetExactMatch - r.profileExactMatch);
  const own = rows[0].method === "own";
  const passes = own
    ? "0 (own adapters, no D2C run)"
    : `${mean(rows.map((r) => r.forwardPassesWarm)).toFixed(0)} / ` +
      `${mean(rows.map((r) => r.forwardPassesCold)).toFixed(0)}`;
  return (
    `| ${rows[0].group} | ${devices} | ${rows[0].tasks.length} | ${own ? "own adapters" : "D2C"} | ` +
    `${pct(mean(subset))} | ${pct(mean(profile))} | ${pct(Math.min(...subset))} | ${pct(Math.min(...profile))} | ` +
    `${pct(mean(gain))} | ${pct(Math.min(...gain))} | ${passes} |`
  );
}

function markdown(r: SubsetResults): string {
  const groups = [...new Set(r.rows.map((x) => x.group))];
  const d2cRows = r.rows.filter((x) => x.method === "d2c");
  const profileCold = mean(r.profiles.map((p) => p.forwardPasses));
  const lines = [
    "# Per-device task sets: a subset's release against the profile-wide release",
    "",
    `A phone runs only its own languages and applications (issue 14). Held-out exact match (%) of the ` +
      `device's own tasks, at`,
    `K = ${r.k} adapters on the device, under two releases (merge ${JSON.stringify(r.merge)}, uniform ` +
      `weights; D2C at most ${r.maxIterations} iterations):`,
    "",
    `- profile-wide: pruned D2C over all ${r.n} tasks at K = ${r.k} (one run per seed), each task under its ` +
      `profile-wide cluster;`,
    `- subset: with at most K tasks, each task its own adapter; otherwise pruned D2C over the device's tasks ` +
      `at K = ${r.k},`,
    "  started from the profile-wide clusters restricted to the subset (`restrictClusters`, " +
      "src/clustering/restrict.ts).",
    "",
    `Mean and worst case (minimum) over the group's devices and seeds ${r.seeds.join(", ")}; gain is subset - ` +
      `profile-wide`,
    "per device and seed. Forward passes are the subset D2C run's few-shot passes (held-out scoring not " +
      "counted), warm: on",
    "top of the loss cache of that seed's profile-wide run and its scoring, cold: from an empty cache (the same run).",
    "",
    "| device group | devices | tasks | subset release | subset mean | profile-wide mean | subset worst | " +
      "profile-wide worst | gain mean | gain worst | D2C forward passes, warm / cold (mean) |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...groups.map((g) => groupLine(r.rows.filter((x) => x.group === g))),
    "",
    `Profile-wide release over all ${r.n} tasks: exact match ` +
      `${r.profiles.map((p) => `${pct(p.exactMatch)}% (seed ${p.seed})`).join(", ")}; ` +
      `${profileCold.toFixed(0)} forward passes per run from an empty cache (mean over seeds).`,
    `Subset D2C runs: ${d2cRows.length}, ${d2cRows.filter((x) => x.fixedPoint).length} ended at a full-sweep ` +
      `fixed point, ` +
      `${d2cRows.filter((x) => x.iterations === 1).length} of them at their start (the restricted profile ` +
      `clusters, moved nothing); ` +
      `${mean(d2cRows.map((x) => x.iterations)).toFixed(1)} iterations on average. The profile-wide run's ` +
      `loss cache saved ` +
      `${sum(d2cRows.map((x) => x.forwardPassesCold - x.forwardPassesWarm))} of ` +
      `${sum(d2cRows.map((x) => x.forwardPassesCold))} forward passes: ` +
      "a loss is cached per cluster member set (one merge), and a restricted cluster is a new member set " +
      "unless the device holds the whole profile-wide cluster.",
    `Devices where the subset release scored below the profile-wide one: ` +
      `${r.rows.filter((x) => x.subsetExactMatch < x.profileExactMatch).length} of ${r.rows.length} (device x ` +
      `seed).`,
    "",
    "Profile-wide clusters (the subsets' starting points):",
    "",
    ...r.profiles.map((p) => `- seed ${p.seed}: ${p.clusters.map((members) => `{${members.join(", ")}}`).join(" ")}`),
    "",
    `Produced by \`npm run experiment -- --subsets --fixtures ${r.fixtures} --seeds ${r.seeds.join(",")}\` ` +
      `in ${r.seconds.toFixed(0)} s ` +
      "(onnxruntime-node, one thread, this machine: 2 cores).",
    "Every number behind the table, one row per device and seed: [subsets.json](subsets.json).",
    "",
  ];
  return lines.join("\n");
}
