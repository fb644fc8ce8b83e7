/**
 * A subset's warm start (src/clustering/restrict.ts): the profile's clusters restricted to a device's tasks, brought to
 * K.
 */
import { describe, expect, it } from "vitest";
import { clustersOf } from "../../src/clustering/assignment";
import { restrictClusters } from "../../src/clustering/restrict";
import { seededRandom } from "../../src/prng";

/** The task indices of each non-empty cluster, as sorted strings, for comparing partitions whatever their labels. */
function partition(assignment: readonly number[]): string[] {
  return clustersOf(assignment)
    .filter((members) => members.length > 0)
    .map((members) => members.join(","))
    .sort();
}

/** Whether every cluster of `fine` lies inside one cluster of `coarse`. */
function refines(fine: readonly number[], coarse: readonly number[]): boolean {
  return clustersOf(fine).every((members) => members.length === 0 || new Set(members.map((t) => coarse[t])).size === 1);
}

describe("restrictClusters", () => {
  const profile = [["gec-de", "gec-en", "gec-fr"], ["qa-de", "qa-en"], ["sum-de"], ["tone-de"]];

  it("keeps the tasks of one profile cluster together when the subset touches exactly k clusters", () => {
    const tasks = ["gec-de", "qa-en", "gec-en", "sum-de", "qa-de"];
    expect(restrictClusters(profile, tasks, 3)).toEqual([0, 1, 0, 2, 1]);
  });

  it("halves the largest cluster, in task order, while there are fewer than k", () => {
    const tasks = ["gec-de", "gec-en", "gec-fr", "qa-de", "qa-en"];
    // gec (3) halves into gec-de, gec-en | gec-fr.
    expect(restrictClusters(profile, tasks, 3)).toEqual([0, 0, 1, 2, 2]);
    // Then the largest left, two of size 2: the one whose first task comes first (gec-de, gec-en).
    expect(restrictClusters(profile, tasks, 4)).toEqual([0, 1, 2, 3, 3]);
    expect(restrictClusters(profile, tasks, 5)).toEqual([0, 1, 2, 3, 4]);
  });

  it("joins the two smallest clusters while there are more than k", () => {
    const tasks = ["gec-de", "gec-en", "gec-fr", "qa-de", "qa-en", "sum-de", "tone-de"];
    expect(restrictClusters(profile, tasks, 3)).toEqual([0, 0, 0, 1, 1, 2, 2]);
    // Then qa (2) and sum+tone (2) are the two smallest.
    expect(restrictClusters(profile, tasks, 2)).toEqual([0, 0, 0, 1, 1, 1, 1]);
    expect(restrictClusters(profile, tasks, 1)).toEqual([0, 0, 0, 0, 0, 0, 0]);
  });

  it("starts a task in no profile cluster (new since the release) alone", () => {
    expect(restrictClusters(profile, ["gec-de", "reply-de", "qa-de", "reply-en"], 4)).toEqual([0, 1, 2, 3]);
    // Two new tasks are two clusters, not one.
    expect(restrictClusters(profile, ["gec-de", "gec-en", "reply-de", "reply-en"], 3)).toEqual([0, 0, 1, 2]);
  });

  it("returns exactly k non-empty clusters, canonical, that refine or coarsen the restriction as k asks", () => {
    const random = seededRandom(14);
    for (let trial = 0; trial < 200; trial++) {
      const ids = Array.from({ length: 12 }, (_, i) => `t${i}`);
      const groups = 1 + Math.floor(random() * 6);
      const clusters: string[][] = Array.from({ length: groups }, () => []);
      for (const id of ids) if (random() < 0.9) clusters[Math.floor(random() * groups)].push(id); // ~10% are new
      const tasks = ids.filter(() => random() < 0.6);
      if (tasks.length === 0) continue;
      const restricted = restrictClusters(clusters, tasks, tasks.length); // every task alone: the finest partition
      const touched = tasks.map((t) => clusters.findIndex((members) => members.includes(t)));
      const label = touched.map((c, i) => (c >= 0 ? c : groups + i)); // a new task is its own group
      const touchedCount = new Set(label).size;
      expect(partition(restricted)).toEqual(tasks.map((_, i) => `${i}`).sort());
      for (let k = 1; k <= tasks.length; k++) {
        const assignment = restrictClusters(clusters, tasks, k);
        expect(assignment).toHaveLength(tasks.length);
        const sizes = clustersOf(assignment).map((members) => members.length);
        expect(sizes).toHaveLength(k);
        expect(sizes.every((s) => s > 0)).toBe(true);
        // Canonical: clusters are numbered by their first task.
        expect(assignment.every((c, i) => c <= Math.max(-1, ...assignment.slice(0, i)) + 1)).toBe(true);
        if (k === touchedCount) expect(partition(assignment)).toEqual(partition(label));
        if (k > touchedCount) expect(refines(assignment, label)).toBe(true);
        if (k < touchedCount) expect(refines(label, assignment)).toBe(true);
      }
    }
  });

  it("depends on the tasks only: the same answer every call and for any order of the profile's clusters", () => {
    const tasks = ["qa-en", "gec-fr", "tone-de", "gec-de", "sum-de", "qa-de"];
    const first = restrictClusters(profile, tasks, 2);
    expect(restrictClusters(profile, tasks, 2)).toEqual(first);
    expect(
      restrictClusters(
        [...profile].reverse().map((members) => [...members].reverse()),
        tasks,
        2,
      ),
    ).toEqual(first);
  });

  it("throws RangeError for k outside 1..tasks or not an integer", () => {
    const tasks = ["gec-de", "qa-de", "sum-de"];
    for (const k of [0, -1, 4, 2.5, Number.NaN]) expect(() => restrictClusters(profile, tasks, k)).toThrow(RangeError);
    expect(() => restrictClusters(profile, [], 1)).toThrow(RangeError);
  });
});
