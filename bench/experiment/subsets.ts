/**
 * `npm run experiment -- --subsets [--seeds 0,1,2]` (issue 14, per-device task sets): a phone
 * runs only its own languages and applications. For each device and seed, held-out exact match
 * over the device's own tasks under the profile-wide release (pruned D2C over every task, K = 5)
 * against a release for the subset: each task its own adapter when the device holds at most K
 * tasks, else pruned D2C over the subset warm-started from the profile's clusters
 * (`restrictClusters`), with the forward passes that run adds to a warm loss cache and needs from
 * a cold one. Writes docs/subsets.{json,md}.
 */
import { clustersOf } from "../../src/clustering/assignment.ts";
import { restrictClusters } from "../../src/clustering/restrict.ts";
import { taskSimilarity } from "../../src/clustering/taskVectors.ts";
import type { MergeSettings } from "../../src/adapters/merge/index.ts";
import { seededRandom } from "../../src/prng.ts";
import { cluster } from "./methods.ts";
import { Scorer } from "./scorer.ts";
import { writeSubsets, type ProfileRun, type SubsetRow } from "./subsetsReport.ts";
import { loadWorld, type World } from "./world.ts";

/** Adapters a device stores: the profile-wide release's budget, so both releases cost the phone the same. */
const K = 5;
/** Sampled device groups are drawn once, not per seed: every clustering seed meets the same phones. */
const SAMPLE_SEED = 14;
const SAMPLED = 12;

export interface SubsetsOptions {
  readonly fixtures: string;
  readonly seeds: readonly number[];
  readonly threads: number;
  readonly maxIterations: number;
  readonly merge: MergeSettings;
  readonly out: string;
}

export interface Device {
  readonly group: string;
  readonly languages: readonly string[];
  readonly apps: readonly string[];
  /** World task indices, in world order. */
  readonly tasks: readonly number[];
}

function combinations<T>(items: readonly T[], r: number): T[][] {
  if (r === 0) return [[]];
  return items.flatMap((first, i) => combinations(items.slice(i + 1), r - 1).map((rest) => [first, ...rest]));
}

/** `count` of `items` drawn without replacement (partial Fisher-Yates), kept in their listed order. */
function sample<T>(items: readonly T[], count: number, seed: number): T[] {
  const random = seededRandom(seed);
  const order = items.map((_, i) => i);
  for (let i = 0; i < Math.min(count, order.length); i++) {
    const j = i + Math.floor(random() * (order.length - i));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order
    .slice(0, count)
    .sort((a, b) => a - b)
    .map((i) => items[i]);
}

/** The device groups of issue 14 over the world's applications and languages. */
export function devicesOf(world: World): Device[] {
  const apps = [...new Set(world.tasks.map((t) => t.application ?? ""))];
  const languages = [...new Set(world.tasks.map((t) => t.language ?? ""))];
  if (apps.includes("") || languages.includes(""))
    throw new Error("every task needs an application and a language for --subsets");
  const device =
    (group: string) =>
    ([langs, appSet]: readonly [string[], string[]]): Device => ({
      group,
      languages: langs,
      apps: appSet,
      tasks: world.tasks.flatMap((t, i) => (langs.includes(t.language!) && appSet.includes(t.application!) ? [i] : [])),
    });
  const byLanguages = (r: number) => combinations(languages, r).map((langs) => [langs, apps] as [string[], string[]]);
  const threeLanguages = byLanguages(3);
  const appPairs = combinations(apps, 2);
  const pairByPair = appPairs.flatMap((pair) =>
    combinations(languages, 2).map((langs) => [langs, pair] as [string[], string[]]),
  );
  return [
    ...byLanguages(1).map(device(`1 language x ${apps.length} apps`)),
    ...byLanguages(2).map(device(`2 languages x ${apps.length} apps`)),
    ...sample(threeLanguages, SAMPLED, SAMPLE_SEED).map(
      device(`3 languages x ${apps.length} apps (${SAMPLED} of ${threeLanguages.length})`),
    ),
    ...appPairs
      .map((pair) => [languages, pair] as [string[], string[]])
      .map(device(`2 apps x ${languages.length} languages`)),
    ...sample(pairByPair, SAMPLED, SAMPLE_SEED).map(
      device(`2 apps x 2 languages (${SAMPLED} of ${pairByPair.length})`),
    ),
  ];
}

/** Rows and columns `tasks` of an n x n similarity matrix. */
function restrictSimilarity(similarity: Float64Array, n: number, tasks: readonly number[]): Float64Array {
  const m = tasks.length;
  const out = new Float64Array(m * m);
  tasks.forEach((a, i) => tasks.forEach((b, j) => (out[i * m + j] = similarity[a * n + b])));
  return out;
}

/** Mean held-out exact match of `tasks`, each under the cluster (member world indices) `clusterOf` gives it. */
async function exactMatch(
  scorer: Scorer,
  tasks: readonly number[],
  clusterOf: (t: number) => readonly number[],
): Promise<number> {
  let exact = 0;
  for (const t of tasks) exact += (await scorer.score(Scorer.cluster(clusterOf(t)), t, "test")).exactMatch;
  return exact / tasks.length;
}

export async function runSubsets(options: SubsetsOptions): Promise<void> {
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const world = await loadWorld(options.fixtures, options.threads);
  const n = world.tasks.length;
  const similarity = taskSimilarity(
    world.tasks.map((t) => t.adapter),
    world.model.contract.loraTargets,
  );
  const devices = devicesOf(world);
  console.log(
    `${n} tasks from ${options.fixtures}, loaded in ${elapsed().toFixed(1)} s; ${devices.length} devices, ` +
      `K=${K}, seeds ${options.seeds.join(",")}`,
  );

  // Held-out scores and merges are shared by every run; each seed's profile-wide run gets its own loss cache.
  const shared = new Scorer(world, options.merge);
  const rows: SubsetRow[] = [];
  const profiles: ProfileRun[] = [];
  const total = options.seeds.length * (devices.length + 1);
  let done = 0;
  const progress = (what: string) => {
    done++;
    console.log(
      `[${done}/${total}] ${what}  elapsed ${elapsed().toFixed(0)} s, remaining ` +
        `~${((elapsed() / done) * (total - done)).toFixed(0)} s`,
    );
  };

  for (const seed of options.seeds) {
    const profile = shared.fork(false);
    const release = await cluster("d2c", profile, similarity, n, K, seed, options.maxIterations);
    const releasePasses = profile.forwardPasses;
    const clusters = clustersOf(release.assignment);
    const profileCluster = (t: number) => clusters[release.assignment[t]];
    // The profile-wide release's own scoring (as scoreAssignment) is part of the warm cache a subset run meets.
    for (let t = 0; t < n; t++) await profile.score(Scorer.cluster(profileCluster(t)), t, "fewshot");
    const profileMean = await exactMatch(
      profile,
      world.tasks.map((_, t) => t),
      profileCluster,
    );
    const profileClustersById = clusters.map((members) => members.map((t) => world.tasks[t].id));
    profiles.push({
      seed,
      exactMatch: profileMean,
      forwardPasses: releasePasses,
      iterations: release.iterations.length,
      clusters: profileClustersById,
    });
    progress(
      `seed ${seed} profile-wide d2c N=${n} K=${K}: exact match ${(100 * profileMean).toFixed(1)}%, ` +
        `${release.iterations.length} iterations, ${releasePasses} forward passes`,
    );

    for (const device of devices) {
      const profileExactMatch = await exactMatch(profile, device.tasks, profileCluster);
      const base = {
        group: device.group,
        languages: device.languages,
        apps: device.apps,
        tasks: device.tasks.map((t) => world.tasks[t].id),
        k: K,
        seed,
      };
      let row: SubsetRow;
      if (device.tasks.length <= K) {
        // Room for every task's own adapter: no merge, no D2C run, no forward pass.
        const subsetExactMatch = await exactMatch(shared, device.tasks, (t) => [t]);
        row = {
          ...base,
          method: "own",
          subsetExactMatch,
          profileExactMatch,
          forwardPassesWarm: 0,
          forwardPassesCold: 0,
          iterations: 0,
          fixedPoint: true,
        };
      } else {
        const m = device.tasks.length;
        const subsetOptions = {
          start: restrictClusters(profileClustersById, base.tasks, K),
          tasks: device.tasks,
        };
        const subsetSimilarity = restrictSimilarity(similarity, n, device.tasks);
        const warm = profile.fork(true);
        const run = await cluster("d2c", warm, subsetSimilarity, m, K, seed, options.maxIterations, subsetOptions);
        const cold = profile.fork(false);
        const coldRun = await cluster("d2c", cold, subsetSimilarity, m, K, seed, options.maxIterations, subsetOptions);
        // Losses are deterministic, so the cache must not change where the run goes, only what it costs.
        if (run.assignment.join() !== coldRun.assignment.join())
          throw new Error(`warm and cold runs differ for ${base.tasks.join(",")} seed ${seed}`);
        const subsetClusters = clustersOf(run.assignment).map((members) => members.map((i) => device.tasks[i]));
        const subsetCluster = (t: number) => subsetClusters[run.assignment[device.tasks.indexOf(t)]];
        const subsetExactMatch = await exactMatch(shared, device.tasks, subsetCluster);
        row = {
          ...base,
          method: "d2c",
          subsetExactMatch,
          profileExactMatch,
          forwardPassesWarm: warm.forwardPasses,
          forwardPassesCold: cold.forwardPasses,
          iterations: run.iterations.length,
          fixedPoint: run.fixedPoint ?? false,
        };
      }
      rows.push(row);
      const passes =
        row.method === "d2c"
          ? `, ${row.iterations} iterations, forward passes warm ${row.forwardPassesWarm} / cold ` +
            `${row.forwardPassesCold}`
          : "";
      progress(
        `seed ${seed} ${device.languages.join("+")} x ${device.apps.join("+")} (${device.tasks.length} ` +
          `tasks) ${row.method}: ` +
          `exact match ${(100 * row.subsetExactMatch).toFixed(1)}% vs profile-wide ` +
          `${(100 * row.profileExactMatch).toFixed(1)}%${passes}`,
      );
    }
  }

  const seconds = elapsed();
  console.log(`subsets: ${seconds.toFixed(0)} s, ${rows.length} device runs`);
  writeSubsets(options.out, {
    rows,
    n,
    k: K,
    seeds: options.seeds,
    fixtures: options.fixtures,
    seconds,
    merge: options.merge,
    maxIterations: options.maxIterations,
    profiles,
  });
}
