/** The pure clustering steps: task similarity, k-means, random, D2C's reassignment. */
import { describe, expect, it } from "vitest";
import type { AdapterFactors, LoraTarget } from "../../src/adapters/factors";
import { canonical, clustersOf } from "../../src/clustering/assignment";
import { bestIteration, objective, reassign } from "../../src/clustering/d2c";
import { kmeans } from "../../src/clustering/kmeans";
import { randomAssignment } from "../../src/clustering/random";
import { seededRandom } from "../../src/prng";
import { gramBlock, taskSimilarity } from "../../src/clustering/taskVectors";
import { assembleSimilarity, gramInSlices, similarityBlocks } from "../../src/runs/similarityBlocks";

const target: LoraTarget = { module: "m", in: 6, out: 5 };

function randomAdapter(random: () => number, rank: number): AdapterFactors {
  const fill = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);
  return new Map([["m", { rank, a: fill(rank * target.in), b: fill(target.out * rank) }]]);
}

/** delta W = B A formed densely: the reference for the factor-only inner products. */
function dense(adapter: AdapterFactors): number[] {
  const f = adapter.get("m")!;
  const out: number[] = [];
  for (let o = 0; o < target.out; o++) {
    for (let i = 0; i < target.in; i++) {
      let s = 0;
      for (let r = 0; r < f.rank; r++) s += f.b[o * f.rank + r] * f.a[r * target.in + i];
      out.push(s);
    }
  }
  return out;
}

describe("task similarity", () => {
  it("equals the cosine of the dense delta Ws, for adapters of different ranks", () => {
    const random = seededRandom(1);
    const adapters = [randomAdapter(random, 2), randomAdapter(random, 3), randomAdapter(random, 1)];
    const similarity = taskSimilarity(adapters, [target]);
    const vectors = adapters.map(dense);
    const dot = (x: number[], y: number[]) => x.reduce((s, v, i) => s + v * y[i], 0);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const cosine =
          dot(vectors[i], vectors[j]) / Math.sqrt(dot(vectors[i], vectors[i]) * dot(vectors[j], vectors[j]));
        expect(similarity[i * 3 + j]).toBeCloseTo(cosine, 5);
      }
    }
  });
});

describe("task similarity in blocks (a large run's k-means start on the queue)", () => {
  it("assembles from blocks bit for bit the matrix computed in one piece", () => {
    const random = seededRandom(4);
    const targets: LoraTarget[] = [target, { module: "n", in: 4, out: 7 }];
    const adapters = Array.from({ length: 8 }, (_, i) => {
      const one = randomAdapter(random, 1 + (i % 3));
      const f = Float32Array.from({ length: 2 * 4 }, () => random() - 0.5);
      const b = Float32Array.from({ length: 7 * 2 }, () => random() - 0.5);
      return new Map([...one, ["n", { rank: 2, a: f, b }]]);
    });
    const blocks = similarityBlocks(8, 3);
    // Row blocks [0,3) [3,6) [6,8): the upper triangle of a 3 x 3 grid.
    expect(blocks.map((b) => b.id)).toEqual(["gram:0:0", "gram:0:1", "gram:0:2", "gram:1:1", "gram:1:2", "gram:2:2"]);
    const assembled = assembleSimilarity(8, blocks, (b) => {
      const rows = adapters.slice(...b.rows),
        cols = adapters.slice(...b.cols);
      return gramBlock(rows, cols, targets, b.rows[0] === b.cols[0]);
    });
    expect(Array.from(assembled)).toEqual(Array.from(taskSimilarity(adapters, targets)));
    expect(similarityBlocks(3, 3)).toEqual([]);
  });

  it(
    "computes a block in slices (yielding to the isolate's requests) with the one-piece numbers, " + "bit for bit",
    async () => {
      const random = seededRandom(5);
      const adapters = Array.from({ length: 12 }, (_, i) => randomAdapter(random, 1 + (i % 3)));
      for (const [rows, cols, diagonal] of [
        [adapters, adapters, true],
        [adapters.slice(0, 7), adapters.slice(7), false],
      ] as const) {
        expect(Array.from(await gramInSlices(rows, cols, [target], diagonal))).toEqual(
          Array.from(gramBlock(rows, cols, [target], diagonal)),
        );
      }
    },
  );
});

describe("k-means on task vectors", () => {
  // Two tight groups of directions: {0, 1, 2} and {3, 4}.
  const points = [
    [0.99, 0.05, 0.02],
    [0.98, -0.04, 0.05],
    [1, 0.02, -0.03],
    [0.05, 0.99, 0.01],
    [-0.02, 1, 0.04],
  ];
  const unit = points.map((p) => p.map((v) => v / Math.hypot(...p)));
  const similarity = Float64Array.from(unit.flatMap((x) => unit.map((y) => x.reduce((s, v, i) => s + v * y[i], 0))));

  it("separates the groups for every seed, with canonical labels", () => {
    for (const seed of [0, 1, 2, 3]) expect(kmeans(similarity, 5, 2, seed)).toEqual([0, 0, 0, 1, 1]);
  });

  it("gives every task its own cluster when K = N, and refuses K outside 1..N", () => {
    expect(new Set(kmeans(similarity, 5, 5, 0)).size).toBe(5);
    expect(() => kmeans(similarity, 5, 6, 0)).toThrow("k must be an integer in 1..5");
    expect(() => kmeans(similarity, 5, 0, 0)).toThrow("k must be an integer in 1..5");
  });
});

describe("random baseline", () => {
  it("is a balanced partition, the same for a seed and different across seeds", () => {
    const a = randomAssignment(40, 3, 0);
    expect(
      clustersOf(a)
        .map((c) => c.length)
        .sort(),
    ).toEqual([13, 13, 14]);
    expect(randomAssignment(40, 3, 0)).toEqual(a);
    expect(randomAssignment(40, 3, 1)).not.toEqual(a);
  });
});

describe("D2C reassignment", () => {
  it("moves each task to the cluster with its lowest loss, keeping ties where they are", () => {
    const losses = [
      [1, 2],
      [2, 1],
      [0.5, 0.5],
      [3, 1],
    ];
    expect(reassign(losses, [0, 0, 1, 1])).toEqual([0, 1, 1, 1]);
    expect(objective(losses, [0, 0, 1, 1])).toBeCloseTo((1 + 2 + 0.5 + 1) / 4, 12);
  });

  it("gives an emptied cluster the worst-served task of a cluster that can spare one", () => {
    // Everyone prefers cluster 0; task 2 is served worst there, so it keeps cluster 1 alive.
    const losses = [
      [1, 5],
      [1.5, 5],
      [3, 4],
      [2, 6],
    ];
    expect(reassign(losses, [0, 1, 1, 0])).toEqual(canonical([0, 0, 1, 0]));
  });

  it("returns the iteration with the lowest objective, the first of equals", () => {
    expect(
      bestIteration([
        { assignment: [0], objective: 2 },
        { assignment: [0], objective: 1 },
        { assignment: [0], objective: 1 },
      ]),
    ).toBe(1);
  });
});
