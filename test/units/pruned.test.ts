/** Pruned D2C (src/clustering/pruned.ts): candidate sets, partial reassignment, and the full-sweep guarantee. */
import { describe, expect, it } from "vitest";
import { clustersOf, sameAssignment } from "../../src/clustering/assignment";
import { objective, reassign } from "../../src/clustering/d2c";
import { kmeans } from "../../src/clustering/kmeans";
import { candidateClusters, reassignPartial } from "../../src/clustering/pruned";
import { runD2C } from "../../src/clustering/runD2C";
import { seededRandom } from "../../src/prng";

/**
 * A synthetic "merged adapter" world: task t has a vector v_t, a cluster's merge is its members'
 * mean, and the task's loss under it is the squared distance of v_t to that mean plus a per-task
 * floor, so a task's loss depends on who else is in the cluster, as with real merges.
 */
function syntheticWorld(seed: number, n: number, dims: number) {
  const random = seededRandom(seed);
  const vectors = Array.from({ length: n }, () => Array.from({ length: dims }, () => random() * 2 - 1));
  const floor = vectors.map(() => random() * 0.1);
  const loss = (members: readonly number[], task: number) => {
    let d = 0;
    for (let i = 0; i < dims; i++) {
      const mean = members.reduce((s, j) => s + vectors[j][i], 0) / members.length;
      d += (vectors[task][i] - mean) ** 2;
    }
    return floor[task] + d;
  };
  const norms = vectors.map((v) => Math.hypot(...v));
  const similarity = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++)
      similarity[i * n + j] = vectors[i].reduce((s, x, d) => s + x * vectors[j][d], 0) / (norms[i] * norms[j]);
  }
  return { loss, similarity };
}

function fullLosses(
  loss: (members: readonly number[], task: number) => number,
  assignment: readonly number[],
  k: number,
): number[][] {
  const clusters = clustersOf(assignment, k);
  return assignment.map((_, t) => clusters.map((members) => loss(members, t)));
}

describe("candidateClusters", () => {
  it("takes the own cluster and the m lowest-ranked others, every cluster when full", () => {
    const ranking = (task: number, cluster: number) =>
      [
        [0, 5, 1, 3],
        [9, 0, 2, 1],
      ][task][cluster];
    expect(candidateClusters([0, 1], 4, ranking, { m: 1 }, false)).toEqual([
      [0, 2],
      [1, 3],
    ]);
    expect(candidateClusters([0, 1], 4, ranking, { m: 2 }, false)).toEqual([
      [0, 2, 3],
      [1, 2, 3],
    ]);
    expect(candidateClusters([0, 1], 4, ranking, { m: 1 }, true)).toEqual([
      [0, 1, 2, 3],
      [0, 1, 2, 3],
    ]);
    expect(() => candidateClusters([0, 4], 4, ranking, { m: 1 }, false)).toThrow(/outside 0..3/);
  });
});

describe("reassignPartial", () => {
  it("moves a task to its argmin among evaluated clusters only, and needs the own cluster", () => {
    const losses = [
      [1, NaN, 0.5],
      [NaN, 1, 0.2],
      [0.3, NaN, 0.6],
      [0.9, 0.4, 0.8],
    ];
    expect(reassignPartial(losses, [0, 1, 2, 1])).toEqual(
      reassign(
        [
          [1, 9, 0.5],
          [9, 1, 0.2],
          [0.3, 9, 0.6],
          [0.9, 0.4, 0.8],
        ],
        [0, 1, 2, 1],
      ),
    );
    expect(reassignPartial(losses, [0, 1, 2, 1])).toEqual([0, 0, 1, 2]); // argmins 2, 2, 0, 1, relabelled canonically
    expect(() => reassignPartial([[NaN, 1]], [0])).toThrow(/own cluster 0/);
  });
});

describe("runD2C, pruned", () => {
  // Property: on random instances a pruned run ends where a full evaluation moves no task.
  it.each(Array.from({ length: 24 }, (_, i) => i + 1))(
    "ends at a full-sweep fixed point (instance %i)",
    async (seed) => {
      const random = seededRandom(1000 + seed);
      const n = 8 + Math.floor(random() * 25);
      const k = 2 + Math.floor(random() * 6);
      const { loss, similarity } = syntheticWorld(seed, n, 3);
      const start = kmeans(similarity, n, k, seed);
      let evaluations = 0;
      for (const [m, fullFirst] of [
        [1, false],
        [2, false],
        [2, true],
      ] as const) {
        for (const ranking of ["stale", "loss", "similarity"] as const) {
          const run = await runD2C({
            n,
            k,
            start,
            similarity,
            maxIterations: 200,
            prune: { m, fullFirst },
            ranking,
            evaluate: (members, t) => (evaluations++, loss(members, t)),
          });
          expect(run.fixedPoint).toBe(true);
          if (fullFirst) expect(run.iterations[0]).toMatchObject({ full: true, evaluations: n * k });
          const last = run.iterations.at(-1)!;
          expect(last.full).toBe(true);
          const losses = fullLosses(loss, last.assignment, k);
          expect(sameAssignment(reassign(losses, last.assignment), last.assignment)).toBe(true);
          // No task prefers another cluster under the full evaluation.
          last.assignment.forEach((c, t) => expect(Math.min(...losses[t])).toBe(losses[t][c]));
          expect(last.objective).toBeCloseTo(objective(losses, last.assignment), 12);
          expect(objective(fullLosses(loss, run.assignment, k), run.assignment)).toBeLessThanOrEqual(
            last.objective + 1e-12,
          );
        }
      }
      expect(evaluations).toBeGreaterThan(0);
    },
  );

  it("with prune: null is the full schedule (every iteration full)", async () => {
    const { loss, similarity } = syntheticWorld(42, 20, 3);
    const run = await runD2C({
      n: 20,
      k: 4,
      start: kmeans(similarity, 20, 4, 0),
      similarity,
      maxIterations: 50,
      prune: null,
      evaluate: loss,
    });
    expect(run.iterations.every((i) => i.full && i.evaluations === 20 * 4)).toBe(true);
    expect(run.fixedPoint).toBe(true);
  });
});
