/**
 * Run options are strict (issue 20): an unknown key anywhere in a run request, top level or
 * nested (budget, merge, merge.tune, prune), is a 400 naming its path, and no run is created.
 * The catalogue holds a task with few-shot examples, so each request would otherwise start a run.
 */
import { describe, beforeAll, expect, it } from "vitest";
import { call, registerModel, uploadAdapter, uploadExamples } from "./api";

type ErrorBody = { error: { code: string; message: string } };

beforeAll(async () => {
  expect((await registerModel()).status).toBe(201);
  expect((await uploadAdapter("qa-en")).status).toBe(201);
  expect((await uploadExamples("qa-en", "fewshot")).status).toBe(201);
});

const runs = async () => ((await (await call("/v1/runs")).json()) as { runs: unknown[] }).runs;

const cases: { body: unknown; path: string }[] = [
  { body: { merge: { method: "svd", evil: 1 } }, path: "merge.evil: not a field of merge" },
  {
    body: { k: 1, merge: { method: "svd", tune: { budget: 4, evil: 1 } } },
    path: "merge.tune.evil: not a field of merge.tune",
  },
  { body: { budget: { maxAdapters: 1, evil: 1 } }, path: "budget.evil: not a field of budget" },
  { body: { k: 1, prune: { m: 1, evil: 1 } }, path: "prune.evil: not a field of prune" },
  { body: { k: 1, restarts: 2, evil: 1 }, path: "evil: not a field of the body" },
  {
    body: { k: 1, merge: { method: "svd", evil: 1, worse: 2 } },
    path: "merge.evil: not a field of merge (and 1 more unknown)",
  },
  // An unknown key that is itself a hostile value is named, but not echoed whole.
  {
    body: { k: 1, merge: { method: "svd", ["x".repeat(200_000)]: 1 } },
    path: `merge."${"x".repeat(64)}…" (200000 characters): not a field of merge`,
  },
];

describe("run options are strict", () => {
  for (const { body, path } of cases) {
    it(`${JSON.stringify(body).slice(0, 80)}: 400 naming ${path.slice(0, 40)}, no run created`, async () => {
      const before = await runs();
      const response = await call("/v1/runs", { method: "POST", body: JSON.stringify(body) });
      expect(response.status).toBe(400);
      const { error } = (await response.json()) as ErrorBody;
      expect(error).toEqual({ code: "invalid_request", message: path });
      expect(await runs()).toEqual(before);
    });
  }
});
