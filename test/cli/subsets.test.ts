/**
 * `d2c-edge subsets` and `releases --subset`: the line for one subset release (no Worker), then the commands against
 * the real Worker.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeSubset } from "../../cli/subsets.ts";
import type { SubsetView } from "../../src/delivery/subsetView.ts";
import { FIXTURES, startTestWorker, type TestWorker } from "./worker.ts";

const published: SubsetView = {
  key: "3f2a9c0d1e2b4a5c",
  tasks: ["gec-de", "qa-de", "reply-de", "sum-de", "tone-de", "gec-fr", "qa-fr"],
  locales: ["de", "fr"],
  apps: ["mail"],
  taskSet: null,
  state: "published",
  runId: "run-54353fab-3d62-43ad-a422-1d41d1fc82a1",
  outcome: "published release 2",
  release: { version: 2, createdAt: "2026-11-30T10:00:00.000Z", catalogueVersion: 4, adapters: 3, objective: 0.5777 },
  released: true,
  demand: 9,
  requests: 12,
  firstRequestedAt: "2026-11-29T09:00:00.000Z",
  lastRequestedAt: "2026-12-01T08:00:00.000Z",
  heldOutExactMatch: 0.7125,
};

describe("describeSubset", () => {
  it(
    "names key, state, release, the first task ids and how many more, the need, demand, reports and " +
      "held-out exact match",
    () => {
      expect(describeSubset(published)).toBe(
        "3f2a9c0d1e2b4a5c published, release 2, 7 tasks (gec-de qa-de reply-de sum-de tone-de +2 more), need " +
          "locales de,fr, apps mail, " +
          "9 networks, 12 reports, last 2026-12-01T08:00:00.000Z, held-out exact match 71.3%",
      );
    },
  );

  it("says why a failed or waiting subset is not served, and leaves out a held-out figure it does not have", () => {
    const failed: SubsetView = {
      ...published,
      state: "failed",
      release: null,
      heldOutExactMatch: null,
      outcome: "run failed: evaluator unreachable",
    };
    expect(describeSubset(failed)).toBe(
      "3f2a9c0d1e2b4a5c failed, no release yet, 7 tasks (gec-de qa-de reply-de sum-de tone-de +2 more), need " +
        "locales de,fr, apps mail, " +
        "9 networks, 12 reports, last 2026-12-01T08:00:00.000Z: run failed: evaluator unreachable",
    );
    const waiting: SubsetView = {
      ...published,
      state: "waiting",
      tasks: ["qa-ja"],
      locales: ["ja"],
      apps: [],
      release: null,
      released: false,
      demand: 1,
      requests: 1,
      heldOutExactMatch: null,
      runId: null,
      outcome: "waiting: 1 of 2 networks asked for it",
    };
    expect(describeSubset(waiting)).toBe(
      "3f2a9c0d1e2b4a5c waiting, no release yet, 1 task (qa-ja), need locales ja, 1 network, 1 report, last " +
        "2026-12-01T08:00:00.000Z: waiting: 1 of 2 networks asked for it",
    );
  });

  it("shows no outcome for the other states (published, building)", () => {
    expect(describeSubset({ ...published, locales: [], apps: [], taskSet: "keyboard" })).toContain(
      ", need task set keyboard, ",
    );
    const building: SubsetView = {
      ...published,
      state: "building",
      tasks: ["qa-ja", "sum-ja"],
      locales: [],
      apps: ["notes"],
      outcome: "run run-1 going",
    };
    expect(describeSubset(building)).toBe(
      "3f2a9c0d1e2b4a5c building, release 2, 2 tasks (qa-ja sum-ja), need apps notes, 9 networks, 12 " +
        "reports, last 2026-12-01T08:00:00.000Z, held-out exact match 71.3%",
    );
  });
});

describe("d2c-edge subsets against the real Worker", () => {
  let worker: TestWorker;

  beforeAll(async () => {
    worker = await startTestWorker();
    expect((await worker.cli(["push", FIXTURES])).code).toBe(0);
    // A quorum of 1: every device of this test asks from loopback, one network.
    expect((await worker.cli(["profile", "phones", "--max-adapters", "2", "--subset-quorum", "1"])).code).toBe(0);
  });

  afterAll(() => worker?.dispose());

  it("says so in one line for a profile no device has asked a task set of", async () => {
    const listed = await worker.cli(["subsets", "phones"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toBe("phones has no subset releases\n");
    const json = await worker.cli(["subsets", "phones", "--json"]);
    expect(JSON.parse(json.stdout)).toEqual({ profile: "phones", subsets: [] });
  });

  it("profile --task-set names the task sets devices may ask for, --max-subsets bounds the sets built", async () => {
    const made = await worker.cli([
      "profile",
      "kiosk",
      "--max-adapters",
      "2",
      "--max-subsets",
      "4",
      "--task-set",
      "keyboard=gec-de,qa-de",
      "--task-set",
      "mail=gec-fr",
      "--json",
    ]);
    expect(made.code).toBe(0);
    expect(JSON.parse(made.stdout)).toMatchObject({
      maxSubsets: 4,
      taskSets: { keyboard: ["gec-de", "qa-de"], mail: ["gec-fr"] },
    });
    expect((await worker.cli(["profiles"])).stdout).toContain(", task sets keyboard,mail");
    const bad = await worker.cli(["profile", "kiosk", "--max-adapters", "2", "--task-set", "keyboard"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--task-set must be name=task,task, got "keyboard"');
  });

  it("a missing profile id is a usage error; an unknown profile is the server's 404 in one line", async () => {
    const usage = await worker.cli(["subsets"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe("d2c-edge: subsets: missing <profileId> (see d2c-edge subsets --help)\n");
    const unknown = await worker.cli(["subsets", "watches"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(
      "d2c-edge: GET /v1/profiles/watches/subsets?limit=200: 404 unknown_profile: no profile watches\n",
    );
  });

  it("releases --subset asks for that subset's own history", async () => {
    expect((await worker.cli(["releases", "phones"])).stdout).toBe("phones has no release yet\n");
    const subset = await worker.cli(["releases", "phones", "--subset", "0123456789abcdef"]);
    expect(subset.code).toBe(1);
    expect(subset.stderr).toMatch(/^d2c-edge: GET \/v1\/profiles\/phones\/subsets\/0123456789abcdef\/releases: 404 /);
  });

  it(
    "lists the subset a device's stated need built, with held-out exact match once its run is " +
      "reported; releases --subset its own history",
    async () => {
      // A German device with two apps: 2 tasks, within the budget of 2 adapters. The profile has no
      // profile-wide release, so this device gets a 404 now, but its need is reported and built.
      const asked = await fetch(`${worker.url}/v1/manifest?profile=phones&device=phone-1&locales=de&apps=gec,qa`);
      expect(asked.status).toBe(404);
      const subsetsOf = async () =>
        ((await (await worker.call("/v1/profiles/phones")).json()) as { subsets: SubsetView[] }).subsets;
      await expect
        .poll(async () => (await subsetsOf()).map((v) => v.state), { timeout: 60_000, interval: 250 })
        .toEqual(["published"]);
      const [built] = await subsetsOf();
      expect(built).toMatchObject({
        tasks: ["gec-de", "qa-de"],
        locales: ["de"],
        apps: ["gec", "qa"],
        demand: 1,
        requests: 1,
        release: { version: 1 },
        heldOutExactMatch: null,
      });

      const listed = await worker.cli(["subsets", "phones"]);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toBe(
        `${built.key} published, release 1, 2 tasks (gec-de qa-de), need locales de, apps gec,qa, 1 network, ` +
          `1 report, last ${built.lastRequestedAt}\n`,
      );
      expect(JSON.parse((await worker.cli(["subsets", "phones", "--json"])).stdout)).toEqual({
        profile: "phones",
        subsets: [built],
      });

      // The held-out report of the subset's run: the line then carries its mean exact match.
      expect(built.runId).not.toBeNull();
      expect((await worker.cli(["report", built.runId!])).code).toBe(0);
      const [reported] = await subsetsOf();
      expect(reported.heldOutExactMatch).toEqual(expect.any(Number));
      expect((await worker.cli(["subsets", "phones"])).stdout).toBe(`${describeSubset(reported)}\n`);
      expect(describeSubset(reported)).toMatch(/, held-out exact match \d+\.\d%$/);

      const history = await worker.cli(["releases", "phones", "--subset", built.key]);
      expect(history.code).toBe(0);
      expect(history.stdout).toMatch(
        new RegExp(
          `^phones subset ${built.key} release 1: run ${built.runId}, 2 adapters for 2 tasks, J = \\d\\.\\d{4}, ` +
            `rollout 100%, \\d{4}-[^\\n]+\\n$`,
        ),
      );
      const json = JSON.parse((await worker.cli(["releases", "phones", "--subset", built.key, "--json"])).stdout) as {
        profile: string;
        subset: string;
        releases: { version: number }[];
      };
      expect(json).toMatchObject({ profile: "phones", subset: built.key, releases: [{ version: 1 }] });
    },
  );

  it("is listed in the CLI's help", async () => {
    const help = await worker.cli(["--help"]);
    expect(help.stdout).toMatch(/^ {2}subsets +A profile's subset releases/m);
  });
});
