/**
 * `d2c-edge apply -f`, `cancel`, `run --tasks`/`--tasks-from` patterns and the dry runs of `profile`
 * and `publish` against the real Worker. What apply changed is counted on the server (profile
 * versions, the runs index), not read from the CLI's output.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURES, startTestWorker, type TestWorker } from "./worker";

interface Run {
  runId: string;
  state: string;
  tasks: string[];
  restarts: number;
}

let worker: TestWorker;
let dir: string;

const get = async <T>(path: string) => (await (await worker.call(path)).json()) as T;
const runsIndex = async () => (await get<{ runs: { runId: string; profile?: string }[] }>("/v1/runs")).runs;
const version = async (id: string) =>
  (await get<{ profiles: { id: string; version: number }[] }>("/v1/profiles")).profiles.find((p) => p.id === id)
    ?.version;

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

const FIRST = `# watches: two adapters over four tasks
profiles:
  watches:
    budget: { maxAdapters: 2 }
runs:
  - profile: watches
    tasks: ["gec-d?", "gec-f?", qa-de, "qa-f*"]
    restarts: 1
`;

/** FIRST with a bigger budget and sixteen tasks from four starts: long enough to be cancelled while it runs. */
const SECOND = FIRST.replace("maxAdapters: 2", "maxAdapters: 3")
  .replace('["gec-d?", "gec-f?", qa-de, "qa-f*"]', '["gec-*", "qa-*"]')
  .replace("restarts: 1", "restarts: 4");

beforeAll(async () => {
  worker = await startTestWorker();
  dir = await mkdtemp(join(tmpdir(), "d2c-cli-apply-"));
  expect((await worker.cli(["push", FIXTURES])).code).toBe(0);
});

afterAll(async () => {
  await worker?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("d2c-edge apply", () => {
  let firstRun: string;

  it("creates the profile and starts its run; applied again, changes nothing (counted on the server)", async () => {
    const path = await file("first.yaml", FIRST);
    const applied = await worker.cli(["apply", "-f", path]);
    expect(applied.code, applied.stderr).toBe(0);
    const lines = applied.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("profile watches: created, version 1");
    expect(lines[1]).toMatch(
      /^run for watches: started (run-[0-9a-f-]{36}), K=2 over 4 tasks \(no run of watches among the last 100\)$/,
    );
    expect(lines).toHaveLength(2);
    const runs = await runsIndex();
    expect(runs.map((r) => r.profile)).toEqual(["watches"]);
    firstRun = runs[0].runId;
    expect(lines[1]).toContain(firstRun);
    const run = await get<Run>(`/v1/runs/${firstRun}`);
    expect(run.tasks).toEqual(["gec-de", "gec-fr", "qa-de", "qa-fr"]);
    expect(run.restarts).toBe(1);

    // While it runs it is current too: a second apply right away starts nothing.
    const again = await worker.cli(["apply", "-f", path]);
    expect(again).toMatchObject({ code: 0, stdout: "" });
    expect((await worker.cli(["status", firstRun])).code).toBe(0);
    const done = await worker.cli(["apply", "-f", path, "--json"]);
    expect(JSON.parse(done.stdout)).toMatchObject({
      profiles: [{ id: "watches", action: "unchanged", changes: [] }],
      runs: [{ profile: "watches", action: "current", run: { runId: firstRun } }],
    });
    expect(await version("watches")).toBe(1);
    expect((await runsIndex()).map((r) => r.runId)).toEqual([firstRun]);
  });

  it("profile --dry-run and publish --dry-run say what would change and send nothing", async () => {
    const same = await worker.cli(["profile", "watches", "--max-adapters", "2", "--dry-run"]);
    expect(same.stdout).toBe("watches version 1 is already so: a PUT would only bump its version; nothing was sent\n");
    const more = await worker.cli(["profile", "watches", "--max-adapters", "4", "--formats", "peft,gguf", "--dry-run"]);
    expect(more.stdout).toBe(
      "would change watches (version 1 -> 2); nothing was sent:\n" +
        "  budget.maxAdapters: 2 -> 4\n  formats: peft -> peft,gguf\n",
    );
    expect(await version("watches")).toBe(1);

    const dry = await worker.cli(["publish", "watches", firstRun, "--dry-run", "--rollout", "10"]);
    expect(dry.stdout).toMatch(
      new RegExp(
        `^would publish ${firstRun} to watches as a new release: 2 adapters for 4 tasks, ` +
          "J = \\d\\.\\d{4}, rollout 10%; nothing was sent\\n$",
      ),
    );
    expect((await get<{ releases: unknown[] }>("/v1/profiles/watches/releases")).releases).toEqual([]);
    const published = JSON.parse((await worker.cli(["publish", "watches", firstRun, "--json"])).stdout);
    expect(published).toMatchObject({ version: 1, runId: firstRun, rollout: 100 });
    const already = await worker.cli(["publish", "watches", firstRun, "--dry-run"]);
    expect(already.stdout).toContain(`watches release 1 already ships ${firstRun} as the newest release`);
  });

  it("a changed file: --dry-run sends nothing; apply changes the profile, starts a run; cancel stops it", async () => {
    const path = await file("second.yaml", SECOND);
    const dry = await worker.cli(["apply", "-f", path, "--dry-run"]);
    expect(dry.stdout).toBe(
      "profile watches: would be changed:\n  budget.maxAdapters: 2 -> 3\n" +
        "run for watches: would start (profile watches changes)\n",
    );
    expect(await version("watches")).toBe(1);
    expect(await runsIndex()).toHaveLength(1);

    const applied = await worker.cli(["apply", "-f", path]);
    expect(applied.stdout).toMatch(
      new RegExp(
        "^profile watches: changed, version 2:\\n  budget.maxAdapters: 2 -> 3\\n" +
          "run for watches: started run-[0-9a-f-]{36}, K=3 over 16 tasks " +
          `\\(profile watches changed after ${firstRun} started\\)\\n$`,
      ),
    );
    expect(await version("watches")).toBe(2);
    const [second] = await runsIndex();
    expect((await get<Run>(`/v1/runs/${second.runId}`)).restarts).toBe(4);

    const cancelled = await worker.cli(["cancel", second.runId]);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toMatch(new RegExp(`^${second.runId}: cancelled \\(cancelled by request\\), stopped in `));
    expect((await get<Run>(`/v1/runs/${second.runId}`)).state).toBe("cancelled");
    const twice = await worker.cli(["cancel", second.runId]);
    expect(twice).toMatchObject({
      code: 1,
      stderr:
        `d2c-edge: POST /v1/runs/${second.runId}/cancel: 409 run_ended: ` +
        `run ${second.runId} already ended: cancelled\n`,
    });
    expect((await worker.cli(["cancel", firstRun])).code).toBe(1);
    expect((await get<Run>(`/v1/runs/${firstRun}`)).state).toBe("done");

    // The newest run was cancelled: apply starts the file's run again, and only that.
    const retried = await worker.cli(["apply", "-f", path]);
    expect(retried.stdout).toMatch(
      new RegExp(
        "^run for watches: started run-[0-9a-f-]{36}, K=3 over 16 tasks " +
          `\\(the newest, ${second.runId}, cancelled\\)\\n$`,
      ),
    );
    const [third] = await runsIndex();
    expect(await runsIndex()).toHaveLength(3);
    expect(JSON.parse((await worker.cli(["cancel", third.runId, "--json"])).stdout)).toMatchObject({
      runId: third.runId,
      state: "cancelled",
    });
  });

  it("refuses a bad file before any request that changes something, naming the line and the field", async () => {
    const before = await runsIndex();
    const cases: [string, string][] = [
      ["profiles:\n  watches:\n    budget: { maxAdapters: 0 }\n", ":3: profiles.watches.budget.maxAdapters: Too small"],
      [
        "profiles:\n  watches:\n    budget: { maxAdapters: 2 }\n    colour: red\n",
        ":4: profiles.watches.colour: Unrecognized key",
      ],
      ["runs:\n  - profile: watches\n    k: 3\n", ":3: runs[0].k: K comes from the profile's budget in apply"],
      ["runs:\n  - tasks: [gec-de]\n", ":2: runs[0].profile: required"],
      ["runs:\n  - profile: watches\n    seed: -1\n", ":3: runs[0].seed: Too small"],
      [
        'runs:\n  - profile: watches\n    tasks: ["zz-*"]\n',
        ': runs[0].tasks: "zz-*" matches no task of the catalogue',
      ],
      ["runs:\n  - profile: nowhere\n", "runs[0].profile: no profile nowhere in the file or on the server"],
      ["profiles: [\n", ":2: "],
    ];
    for (const [i, [text, message]] of cases.entries()) {
      const path = await file(`bad-${i}.yaml`, text);
      const refused = await worker.cli(["apply", "-f", path]);
      expect(refused.code, text).toBeGreaterThan(0);
      expect(refused.stdout).toBe("");
      expect(refused.stderr, text).toContain(message);
      expect(refused.stderr.split("\n")).toHaveLength(2); // one line, no stack
    }
    const missing = await worker.cli(["apply", "-f", join(dir, "absent.yaml")]);
    expect(missing).toMatchObject({ code: 1, stderr: `d2c-edge: -f ${join(dir, "absent.yaml")}: no such file\n` });
    expect(await runsIndex()).toEqual(before);
    expect(await version("watches")).toBe(2);
  });
});

describe("d2c-edge run --tasks patterns", () => {
  it("a pattern matching no task is a usage error naming it, and no run starts", async () => {
    const before = await runsIndex();
    const refused = await worker.cli(["run", "--k", "2", "--tasks", "gec-*,zz-*"]);
    expect(refused).toMatchObject({
      code: 2,
      stderr: 'd2c-edge: run: --tasks: "zz-*" matches no task of the catalogue (40 tasks) (see d2c-edge run --help)\n',
    });
    expect(await runsIndex()).toEqual(before);
  });

  it("--tasks globs and --tasks-from (comments, blank lines) choose the tasks; --json: the POST's answer", async () => {
    const from = await file("tasks.txt", "# the German ones\ngec-d?\n\nqa-de   # and one more\n");
    const started = await worker.cli([
      "run",
      "--k",
      "2",
      "--tasks",
      "sum-?e",
      "--tasks-from",
      from,
      "--restarts",
      "1",
      "--json",
    ]);
    expect(started.code, started.stderr).toBe(0);
    const answer = JSON.parse(started.stdout) as { runId: string; k: number; tasks: number };
    expect(answer).toMatchObject({ k: 2, tasks: 3 });
    expect((await get<Run>(`/v1/runs/${answer.runId}`)).tasks).toEqual(["gec-de", "qa-de", "sum-de"]);
    expect((await worker.cli(["status", answer.runId])).code).toBe(0);
  });
});
