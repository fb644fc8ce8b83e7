/** The D2C policy (src/clustering/policy.ts): starts, plans, decisions and the kept iteration. */
import { describe, expect, it } from "vitest";
import { kmeans } from "../../src/clustering/kmeans";
import {
  keptIteration,
  plan,
  restartSeed,
  startState,
  step,
  type PolicySettings,
  type PolicyState,
} from "../../src/clustering/policy";
import { runD2C } from "../../src/clustering/runD2C";
import { seededRandom } from "../../src/prng";
import { restartSeeds } from "../../src/tuning/restarts";

const PRUNED: PolicySettings = { n: 4, k: 4, prune: { m: 1, fullFirst: false }, maxIterations: 5 };
const at = (assignment: number[], full: boolean, iteration = 0): PolicyState => ({
  restart: 0,
  iteration,
  assignment,
  full,
});

describe("startState", () => {
  it("is full on the full schedule, without similarities, with unplaced tasks, or where the rule wants it", () => {
    expect(startState(PRUNED, [0, 1, 2, 3], true).full).toBe(false);
    expect(startState({ ...PRUNED, prune: null }, [0, 1, 2, 3], true).full).toBe(true);
    expect(startState(PRUNED, [0, 1, 2, 3], false).full).toBe(true);
    expect(startState(PRUNED, [0, 1, 2, -1], true).full).toBe(true);
    // N <= 4K: fullFirstByDefault.
    expect(startState({ ...PRUNED, prune: { m: 1 } }, [0, 1, 2, 3], true).full).toBe(true);
  });
});

describe("plan", () => {
  it("asks a full iteration for every pair not yet evaluated, a pruned one for the own cluster and m others", () => {
    const nan = () => [NaN, NaN, NaN, NaN];
    const evaluated = [[1, NaN, NaN, NaN], nan(), nan(), nan()];
    const full = plan(PRUNED, at([0, 1, 2, 3], true), [], null, evaluated);
    expect(full).toHaveLength(15);
    expect(full).not.toContainEqual([0, 0]);
    // Task t is most similar to task (t + 1) % 4.
    const similarity = new Float64Array(16).map((_, i) => ((Math.floor(i / 4) + 1) % 4 === i % 4 ? 0.9 : 0.1));
    expect(plan(PRUNED, at([0, 1, 2, 3], false), [], similarity)).toEqual([
      [0, 0],
      [0, 1],
      [1, 1],
      [1, 2],
      [2, 2],
      [2, 3],
      [3, 0],
      [3, 3],
    ]);
    // Without similarities a pruned plan that needs them says so.
    expect(() => plan(PRUNED, at([0, 1, 2, 3], false), [], null)).toThrow(/needs the task similarities/);
  });
});

describe("step", () => {
  const losses = [
    [0, 1, 1, 1],
    [1, 0, 1, 1],
    [1, 1, 0, 1],
    [1, 1, 1, 0],
  ];
  it("widens a pruned iteration that moves nothing, and ends a full one that moves nothing at a fixed point", () => {
    expect(step(PRUNED, at([0, 1, 2, 3], false), losses)).toEqual({ decision: "widen", state: at([0, 1, 2, 3], true) });
    expect(step(PRUNED, at([0, 1, 2, 3], true), losses)).toMatchObject({
      decision: "done",
      fixedPoint: true,
      scored: { objective: 0 },
    });
  });
  it("moves on with a pruned iteration (a full one on the full schedule), and stops at maxIterations", () => {
    const moved = [
      [0, 1, 1, 1],
      [0, 1, 1, 1],
      [1, 1, 0, 1],
      [1, 1, 1, 0],
    ];
    const next = step(
      { ...PRUNED, k: 3 },
      at([0, 1, 1, 2], true),
      moved.map((r) => r.slice(0, 3)),
    );
    expect(next).toMatchObject({ decision: "next", state: { iteration: 1, full: false } });
    const full = step(
      { ...PRUNED, k: 3, prune: null },
      at([0, 1, 1, 2], true),
      moved.map((r) => r.slice(0, 3)),
    );
    expect(full).toMatchObject({ decision: "next", state: { full: true } });
    const last = step(
      { ...PRUNED, k: 3 },
      at([0, 1, 1, 2], true, 4),
      moved.map((r) => r.slice(0, 3)),
    );
    expect(last).toMatchObject({ decision: "done", fixedPoint: false });
  });
  it("places a warm start's new tasks before scoring the iteration", () => {
    const s = step({ ...PRUNED, k: 2 }, at([0, 1, -1, -1], true), [
      [0, 1],
      [1, 0],
      [0.5, 0.2],
      [0.1, 0.3],
    ]);
    expect(s).toMatchObject({ decision: "done", scored: { assignment: [0, 1, 1, 0] } });
  });
  it("follows an ended trajectory with the next seeded k-means start while restarts remain", () => {
    const settings = { ...PRUNED, restarts: 2, seed: 7 };
    const similarity = new Float64Array(16).map((_, i) => (i % 5 === 0 ? 1 : 0.2));
    const s = step(settings, at([0, 1, 2, 3], true), losses, similarity);
    expect(s).toMatchObject({
      decision: "restart",
      fixedPoint: true,
      state: { restart: 1, iteration: 0, full: false },
    });
    expect(restartSeed(settings, 1)).toBe(restartSeeds(7, 2)[1]);
    if (s.decision === "restart") expect(s.state.assignment).toEqual(kmeans(similarity, 4, 4, restartSeeds(7, 2)[1]));
    expect(step({ ...settings, restarts: 2 }, { ...at([0, 1, 2, 3], true), restart: 1 }, losses)).toMatchObject({
      decision: "done",
    });
  });
});

describe("keptIteration", () => {
  it("keeps the lowest J (first of equals), or the criterion's trajectory (J if exact match is missing)", () => {
    const iterations = [
      { restart: 0, objective: 0.5 },
      { restart: 0, objective: 0.4 },
      { restart: 0, objective: 0.4 },
      { restart: 1, objective: 0.3 },
      { restart: 1, objective: 0.35 },
    ];
    expect(keptIteration(iterations.slice(0, 3), "exactMatch", () => null)).toBe(1);
    const match = (i: number) => (i === 1 ? 0.6 : 0.5);
    expect(keptIteration(iterations, "exactMatch", match)).toBe(1);
    expect(keptIteration(iterations, "loss", match)).toBe(3);
    expect(keptIteration(iterations, "exactMatch", (i) => (i === 1 ? null : 0.5))).toBe(3);
  });
});

describe("runD2C with restarts", () => {
  it("runs each seeded start as its own run would, one trajectory after another", async () => {
    const random = seededRandom(3);
    const n = 12;
    const k = 3;
    const vectors = Array.from({ length: n }, () => [random(), random()]);
    const loss = (members: readonly number[], t: number) =>
      members.reduce((s, j) => s + Math.hypot(vectors[t][0] - vectors[j][0], vectors[t][1] - vectors[j][1]), 0) /
      members.length;
    const similarity = new Float64Array(n * n).map((_, i) => 1 - loss([i % n], Math.floor(i / n)));
    const options = { n, k, similarity, maxIterations: 10, prune: { m: 1, fullFirst: false }, evaluate: loss };
    const together = await runD2C({ ...options, start: kmeans(similarity, n, k, 5), restarts: 3, seed: 5 });
    const seeds = restartSeeds(5, 3);
    for (const [r, seed] of seeds.entries()) {
      const alone = await runD2C({ ...options, start: kmeans(similarity, n, k, seed) });
      const own = together.iterations.filter((i) => i.restart === r).map(({ restart: _, ...it }) => it);
      expect(own).toEqual(alone.iterations.map(({ restart: _, ...it }) => it));
    }
    expect(together.bests).toHaveLength(3);
  });
});
