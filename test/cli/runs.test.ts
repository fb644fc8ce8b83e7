/** `d2c-edge run`, `status`, `runs`, the profile and release commands and `manifest` against the real Worker. */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURES, TOKEN, startTestWorker, type TestWorker } from "./worker";

const TASKS = ["gec-de", "gec-fr", "qa-de", "qa-fr"];
let worker: TestWorker;
let runId: string;
let watchedId: string;

beforeAll(async () => {
  worker = await startTestWorker();
  expect((await worker.cli(["push", FIXTURES])).code).toBe(0);
});

afterAll(() => worker?.dispose());

describe("d2c-edge run and status", () => {
  it(
    "run prints the run id alone on stdout; status follows it live to done and prints J, " + "clusters and cost",
    async () => {
      // One start: the default's four are the Worker tests' to check (test/worker/runs.test.ts).
      const started = await worker.cli([
        "run",
        "--k",
        "2",
        "--tasks",
        TASKS.join(","),
        "--seed",
        "0",
        "--restarts",
        "1",
      ]);
      expect(started.code).toBe(0);
      expect(started.stdout).toMatch(/^run-[0-9a-f-]{36}\n$/);
      runId = started.stdout.trim();

      const followed = await worker.cli(["status", runId]);
      expect(followed.code).toBe(0);
      const events = followed.stderr.split("\n");
      expect(events[0]).toBe("started: d2c, K=2, 4 tasks");
      expect(events).toContain("iteration 0: first assignment of 4 tasks");
      expect(events.some((l) => /^iteration 0: merged 2 adapters \(/.test(l))).toBe(true);
      expect(events.some((l) => /^iteration 0: J = \d\.\d{4}$/.test(l))).toBe(true);
      expect(events.at(-2)).toBe("done");

      const run = (await (await worker.call(`/v1/runs/${runId}`)).json()) as {
        iterations: { objective: number }[];
        result: { objective: number; clusters: { tasks: string[] }[] };
      };
      const summary = followed.stdout;
      expect(summary).toMatch(
        new RegExp(`^${runId}: done after \\d+\\.\\d s\\n  d2c, K=2, svd merge, seed 0, 4 tasks\\n`),
      );
      expect(summary).toContain(
        `J per iteration: ${run.iterations.map((it, i) => `${i}: ${it.objective.toFixed(4)}`).join("  ")}`,
      );
      expect(summary).toContain(`J = ${run.result.objective.toFixed(4)}`);
      for (const cluster of run.result.clusters) expect(summary).toContain(cluster.tasks.join(" "));
      expect(summary).toMatch(
        /cost: \d+ evaluations \(\d+ from the loss cache\), \d+ forward passes; the naive schedule needs \d+/,
      );
      expect(summary).toMatch(
        /s of evaluation CPU, \d+ queue messages; on Cloudflare about \$[0-9.e-]+ at list prices of \d{4}-\d{2}-\d{2}:/,
      );
      expect(summary).toMatch(/Queue operations +[\d,]+ operations/);

      const json = await worker.cli(["status", runId, "--json"]);
      expect(JSON.parse(json.stdout)).toMatchObject({ runId, state: "done", tasks: [...TASKS].sort() });
    },
  );

  it("run --watch follows the run it started", async () => {
    const watched = await worker.cli(["run", "--k", "2", "--method", "kmeans", "--tasks", TASKS.join(","), "--watch"]);
    expect(watched.code).toBe(0);
    const [id, headline] = watched.stdout.split("\n");
    expect(id).toMatch(/^run-/);
    watchedId = id;
    expect(headline).toMatch(new RegExp(`^${id}: done after`));
    expect(watched.stderr).toContain("started: kmeans, K=2, 4 tasks");
  });

  it("runs lists the runs started by run, newest first, aligned; '-' where the server reports nothing", async () => {
    const listed = await worker.cli(["runs"]);
    expect(listed.code).toBe(0);
    const { runs } = (await (await worker.call("/v1/runs")).json()) as {
      runs: { runId: string; createdAt: string; state?: string; objective?: number; durationSeconds?: number }[];
    };
    expect(runs.map((r) => r.runId)).toEqual([watchedId, runId]);
    const [header, ...rows] = listed.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^run +started +state +method +K +tasks +J +held-out +duration +cost +profile$/);
    expect(rows).toHaveLength(2);
    for (const [i, run] of runs.entries()) {
      const cells = rows[i].split(/ {2,}/);
      expect(cells.slice(0, 4)).toEqual([
        run.runId,
        run.createdAt.replace(/\.\d+Z$/, "Z"),
        run.state ?? "-",
        i ? "d2c" : "kmeans",
      ]);
      expect(cells.slice(4, 7)).toEqual(["2", "4", run.objective === undefined ? "-" : run.objective.toFixed(4)]);
      expect(cells.at(-1)).toBe("-"); // started without a profile
      // Right-aligned numbers end where their header does.
      expect(rows[i].indexOf(" 4 ") + 1).toBe(header.indexOf("tasks") + "tasks".length - 1);
    }
    expect(JSON.parse((await worker.cli(["runs", "--json"])).stdout)).toEqual({ runs });
  });

  it(
    "report starts the held-out report over the queue, " + "follows it and prints one line per task and the mean",
    async () => {
      const reported = await worker.cli(["report", runId]);
      expect(reported.code).toBe(0);
      const stored = (await (await worker.call(`/v1/runs/${runId}/report`)).json()) as {
        state: string;
        meanExactMatch: number;
        forwardPasses: number;
        tasks: { task: string; cluster: number; exactMatch: number; loss: number }[];
      };
      expect(stored.state).toBe("done");
      expect(stored.tasks.map((t) => t.task)).toEqual([...TASKS].sort());
      const lines = reported.stdout.trimEnd().split("\n");
      expect(lines[0]).toMatch(/^task +cluster +exact match +loss$/);
      for (const t of stored.tasks)
        expect(lines).toContain(
          `${t.task.padEnd(6)}  ${String(t.cluster).padStart(7)}  ` +
            `${`${(100 * t.exactMatch).toFixed(1)}%`.padStart(11)}  ${t.loss.toFixed(4)}`,
        );
      expect(lines.at(-1)).toBe(
        `mean exact match ${(100 * stored.meanExactMatch).toFixed(1)}% over 4 tasks (${stored.forwardPasses} ` +
          `forward passes)`,
      );
      // Kept with the run: asked again, the same report, no new evaluation.
      const again = await worker.cli(["report", runId, "--json"]);
      expect(JSON.parse(again.stdout)).toEqual(stored);
    },
  );

  it("a GET of the events with a request body is refused with 400 before anything reads it", async () => {
    const url = new URL(`/v1/runs/${runId}/events`, worker.url);
    const text = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        url,
        {
          method: "GET",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "text/plain", "content-length": "28" },
        },
        (res) => {
          let body = "";
          res
            .setEncoding("utf8")
            .on("data", (s: string) => (body += s))
            .on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on("error", reject);
      req.end("a body a GET should not have");
    });
    expect(text.status).toBe(400);
    expect(JSON.parse(text.body)).toEqual({
      error: { code: "unexpected_body", message: "GET /v1/runs/:runId/events takes no request body" },
    });
    // Without a body, the same request replays the run's events.
    const events = await (await worker.call(`/v1/runs/${runId}/events`)).text();
    expect(events).toContain("event: started");
    expect(events).toContain("event: done");
  });

  it("status of an unknown run shows the server's message in one line and exits 1", async () => {
    const missing = await worker.cli(["status", "run-00000000-0000-0000-0000-000000000000"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      "d2c-edge: GET /v1/runs/run-00000000-0000-0000-0000-000000000000/events: 404 unknown_run: no run " +
        "run-00000000-0000-0000-0000-000000000000\n",
    );
  });
});

describe("d2c-edge publish, manifest, rollout, rollback, releases", () => {
  it("publishes the run to a profile; manifest shows it to a device, routing grouped by adapter", async () => {
    const profile = await worker.cli(["profile", "phones", "--max-adapters", "2"]);
    expect(profile.stdout).toBe(
      "phones version 1: model d2c-char-lm, budget 2 adapters, fp16, formats peft, rank 8, match every device " +
        "(the default profile)\n",
    );
    const published = await worker.cli(["publish", "phones", runId]);
    expect(published.code).toBe(0);
    expect(published.stdout).toMatch(
      new RegExp(`^phones release 1: run ${runId}, 2 adapters for 4 tasks, J = \\d\\.\\d{4}, rollout 100%\\n$`),
    );
    // Publishing it again is the same release 1, said so (the server's 200 unchanged).
    const again = await worker.cli(["publish", "phones", runId]);
    expect(again.stdout).toMatch(
      new RegExp(`^phones release 1: run ${runId}, .* \\(already the newest release: nothing published\\)\\n$`),
    );

    // A device needs no token: none in the environment, no .dev.vars in the working directory.
    const shown = await worker.cli(["manifest", "--device", "phone-1", "--ram-mb", "8192"], {
      env: { D2C_TOKEN: undefined },
    });
    expect(shown.code).toBe(0);
    const { manifest } = (await (await fetch(`${worker.url}/v1/manifest?device=phone-1&ramMb=8192`)).json()) as {
      manifest: { routing: Record<string, string>; adapters: { sha256: string; bytes: number }[] };
    };
    const lines = shown.stdout.split("\n");
    expect(lines[0]).toMatch(/^profile phones, version 1, rollout 100%, signed by [0-9a-f]+, expires \d{4}-/);
    expect(lines[1]).toBe("routing: 4 tasks over 2 adapters (peft)");
    for (const adapter of manifest.adapters) {
      const tasks = Object.keys(manifest.routing)
        .filter((t) => manifest.routing[t] === adapter.sha256)
        .sort();
      expect(lines).toContain(
        `  ${adapter.sha256.slice(0, 12)}  ${String(adapter.bytes).padStart(8)} B  ${tasks.join(" ")}`,
      );
    }
  });

  it("rollout, rollback and releases, with the token read from ./.dev.vars", async () => {
    const cwd = await mkdtemp(join(tmpdir(), "d2c-cli-devvars-"));
    try {
      await writeFile(join(cwd, ".dev.vars"), `MANIFEST_SIGNING_KEY='{}'\nADMIN_TOKEN="${TOKEN}"\n`);
      const options = { cwd, env: { D2C_TOKEN: undefined } };
      // A staged release starts low and only grows; a decrease is refused with the server's reason.
      // --wait polls the device path, as a device inside the 10%, until it serves the new version.
      expect((await worker.cli(["publish", "phones", runId, "--rollout", "10", "--wait"], options)).stdout).toMatch(
        /^phones release 2: .*, rollout 10%\ndevices see release 2 after \d+\.\d s\n$/,
      );
      expect((await worker.cli(["rollout", "phones", "20"], options)).stdout).toMatch(
        /^phones release 2: .*, rollout 20%\n$/,
      );
      const decrease = await worker.cli(["rollout", "phones", "5"], options);
      expect(decrease.code).toBe(1);
      expect(decrease.stderr).toMatch(/^d2c-edge: POST \/v1\/profiles\/phones\/rollout: 409 rollout_decrease: /);
      expect((await worker.cli(["rollback", "phones", "1"], options)).stdout).toMatch(
        /^phones release 3: rollback to release 1, 2 adapters for 4 tasks, .*rollout 100%\n$/,
      );
      const history = await worker.cli(["releases", "phones"], options);
      expect(
        history.stdout
          .split("\n")
          .filter(Boolean)
          .map((l) => l.split(":")[0]),
      ).toEqual(["phones release 3", "phones release 2", "phones release 1"]);
      expect(history.stdout + history.stderr).not.toContain(TOKEN);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });

  it("an HTTP error is the server's message on one line: publishing to an unknown profile", async () => {
    const refused = await worker.cli(["publish", "watches", runId]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      "d2c-edge: POST /v1/profiles/watches/releases: 404 unknown_profile: no profile watches\n",
    );
  });
});

describe("d2c-edge profile and profiles", () => {
  const stored = async (id: string) =>
    ((await (await worker.call("/v1/profiles")).json()) as { profiles: { id: string }[] }).profiles.find(
      (p) => p.id === id,
    );

  it(
    "profile creates a profile (the catalogue's only model by default) that GET /v1/profiles " + "returns as given",
    async () => {
      const created = await worker.cli([
        "profile",
        "tablets",
        "--max-adapters",
        "3",
        "--formats",
        "peft,onnx_adapter",
        "--min-ram-mb",
        "4000",
        "--socs",
        "sd8g3,a18",
        "--os",
        "android",
        "--auto",
      ]);
      expect(created.code).toBe(0);
      expect(created.stdout).toBe(
        "tablets version 1: model d2c-char-lm, budget 3 adapters, fp16, formats peft,onnx_adapter, rank 8, " +
          "match ram >= 4000 MB, soc sd8g3|a18, os android, auto re-cluster\n",
      );
      expect(await stored("tablets")).toEqual({
        id: "tablets",
        version: 1,
        updatedAt: expect.any(String),
        modelId: "d2c-char-lm",
        budget: { maxAdapters: 3 },
        dtype: "fp16",
        formats: ["peft", "onnx_adapter"],
        rank: 8,
        match: { minRamMb: 4000, socs: ["sd8g3", "a18"], os: ["android"] },
        autoRecluster: true,
        maxSubsets: 32,
        subsetQuorum: 2,
        taskSets: {},
      });
    },
  );

  it("a second profile call replaces the profile and bumps its version", async () => {
    const replaced = await worker.cli([
      "profile",
      "tablets",
      "--model",
      "d2c-char-lm",
      "--max-bytes",
      "300000",
      "--dtype",
      "fp32",
      "--rank",
      "4",
      "--max-ram-mb",
      "16000",
      "--models",
      "Pixel 9",
      "--json",
    ]);
    expect(replaced.code).toBe(0);
    const profile = await stored("tablets");
    expect(JSON.parse(replaced.stdout)).toEqual(profile);
    expect(profile).toMatchObject({
      version: 2,
      budget: { maxBytes: 300000 },
      dtype: "fp32",
      formats: ["peft"],
      rank: 4,
      match: { maxRamMb: 16000, models: ["Pixel 9"] },
      autoRecluster: false,
    });
  });

  it(
    "a bad value exits 1 with the server's message and changes nothing; " + "a missing budget is a usage error",
    async () => {
      const refused = await worker.cli([
        "profile",
        "tablets",
        "--max-adapters",
        "2",
        "--max-ram-mb",
        "1",
        "--min-ram-mb",
        "9",
      ]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe(
        "d2c-edge: PUT /v1/profiles/tablets: 400 invalid_request: match: minRamMb 9 is above maxRamMb 1\n",
      );
      const model = await worker.cli(["profile", "tablets", "--max-adapters", "2", "--model", "no-such-model"]);
      expect(model.code).toBe(1);
      expect(model.stderr).toBe(
        "d2c-edge: PUT /v1/profiles/tablets: 404 unknown_model: modelId: no model no-such-model\n",
      );
      expect(await stored("tablets")).toMatchObject({ version: 2 });

      const usage = await worker.cli(["profile", "tablets", "--rank", "4"]);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toBe(
        "d2c-edge: profile: a budget is required: --max-adapters N or --max-bytes N (see d2c-edge profile --help)\n",
      );
    },
  );

  it("checks --formats against the formats the Worker ships (GET /v1/capabilities) before any PUT", async () => {
    const unknown = await worker.cli(["profile", "tablets", "--max-adapters", "2", "--formats", "peft,tflite"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(
      "d2c-edge: profile: --formats: tflite is not a format this Worker ships (peft, onnx_adapter, gguf, parts) " +
        "(see d2c-edge profile --help)\n",
    );
    expect(await stored("tablets")).toMatchObject({ version: 2 });
  });

  it("capabilities lists the merge methods with their parameters, the formats and the run methods", async () => {
    const listed = await worker.cli(["capabilities"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^merge methods \(--merge; default svd\):\n {2}linear: /);
    expect(listed.stdout).toMatch(/^ {2}ties_svd: TIES.*\n {6}merge\.density \(number in \(0, 1\], default 0\.5\): /m);
    expect(listed.stdout).toMatch(/^ {2}parts: .*; budget maxBytes; alone in a profile$/m);
    expect(listed.stdout).toMatch(
      /^run methods \(--method; default d2c\): d2c, kmeans, random, merge-all, own, alloc$/m,
    );
    const json = JSON.parse((await worker.cli(["capabilities", "--json"])).stdout) as { formats: { name: string }[] };
    expect(json.formats.map((f) => f.name)).toEqual(["peft", "onnx_adapter", "gguf", "parts"]);
  });

  it("profiles lists them one line each, by id", async () => {
    const listed = await worker.cli(["profiles"]);
    expect(listed.code).toBe(0);
    const lines = listed.stdout.split("\n").filter(Boolean);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^phones version 1: model d2c-char-lm, budget 2 adapters, .*, match every device \(the default profile\), \d{4}-/,
    );
    expect(lines[1]).toMatch(
      new RegExp(
        "^tablets version 2: model d2c-char-lm, budget 300000 B, fp32, formats peft, rank 4, " +
          String.raw`match ram <= 16000 MB, model Pixel 9, \d{4}-`,
      ),
    );
  });
});
