/**
 * `d2c-edge tasks`, `push --dry-run`/`--json`, `evaluate`, `keys` alone and `--version` against the
 * real Worker: what they print, and (counted on the server) that the dry runs change nothing.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURES, startTestWorker, type TestWorker } from "./worker";

interface Task {
  id: string;
  adapterSha256: string;
  bytes: number;
  examplesSha256: { fewshot: string; test: string };
}

let worker: TestWorker;
let dir: string;

const catalogue = async () =>
  (await (await worker.call("/v1/tasks")).json()) as { tasks: Task[]; catalogueVersion: number };

beforeAll(async () => {
  worker = await startTestWorker();
  dir = await mkdtemp(join(tmpdir(), "d2c-cli-tasks-"));
  expect((await worker.cli(["push", FIXTURES])).code).toBe(0);
});

afterAll(async () => {
  await worker?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("d2c-edge --version", () => {
  it("prints package.json's version, as -V too", async () => {
    const { version } = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8"));
    for (const flag of ["--version", "-V"])
      expect(await worker.cli([flag])).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it("takes --url and --json before the command too, as in d2c-edge --url U runs --json", async () => {
    const listed = await worker.cli(["--url", worker.url, "--json", "runs"], {
      env: { D2C_URL: "http://127.0.0.1:9" },
    });
    expect(listed).toMatchObject({ code: 0, stdout: '{\n  "runs": []\n}\n' });
  });
});

describe("d2c-edge tasks", () => {
  it("lists every task in aligned columns with model, rank, examples and digests", async () => {
    const { tasks, catalogueVersion } = await catalogue();
    const listed = await worker.cli(["tasks"]);
    expect(listed.code).toBe(0);
    const lines = listed.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^task +model +rank +fewshot +test +adapter sha256 +fewshot sha256 +test sha256$/);
    expect(lines).toHaveLength(tasks.length + 2);
    expect(lines.at(-1)).toBe(`${tasks.length} of ${tasks.length} tasks, catalogue version ${catalogueVersion}`);
    const gec = tasks.find((t) => t.id === "gec-de")!;
    const row = lines.find((l) => l.startsWith("gec-de "))!;
    // Each column starts where its header does.
    expect(row.indexOf(gec.adapterSha256.slice(0, 12))).toBe(lines[0].indexOf("adapter sha256"));
    expect(row.indexOf("d2c-char-lm")).toBe(lines[0].indexOf("model"));
    expect(row).toContain(gec.examplesSha256.test.slice(0, 12));
  });

  it("list with a glob keeps what it matches; a glob matching nothing is a usage error naming it", async () => {
    const qa = await worker.cli(["tasks", "list", "qa-*"]);
    const rows = qa.stdout.trimEnd().split("\n").slice(1, -1);
    expect(rows.map((r) => r.split(" ")[0])).toEqual(
      ["de", "en", "es", "fr", "it", "ja", "ko", "zh"].map((l) => `qa-${l}`),
    );
    const none = await worker.cli(["tasks", "list", "zz-*"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe(
      'd2c-edge: tasks: tasks list: "zz-*" matches no task of the catalogue (40 tasks) (see d2c-edge tasks --help)\n',
    );
    expect((await worker.cli(["tasks", "frobnicate"])).code).toBe(2);
  });

  it("show prints one task with its digests whole; --json is GET /v1/tasks/:id", async () => {
    const gec = (await catalogue()).tasks.find((t) => t.id === "gec-de")!;
    const shown = await worker.cli(["tasks", "show", "gec-de"]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`  adapter      ${gec.bytes} B, sha256 ${gec.adapterSha256}\n`);
    expect(shown.stdout).toContain(`sha256 ${gec.examplesSha256.fewshot}\n`);
    const json = await worker.cli(["tasks", "show", "gec-de", "--json"]);
    expect(JSON.parse(json.stdout)).toEqual(await (await worker.call("/v1/tasks/gec-de")).json());
  });

  it("delete --dry-run sends nothing; delete removes the task and answers the new catalogue version", async () => {
    const before = await catalogue();
    const dry = await worker.cli(["tasks", "delete", "tone-zh", "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^would delete task tone-zh \(model d2c-char-lm, rank \d+, \d+ few-shot and \d+ test/);
    expect(await catalogue()).toEqual(before);

    const deleted = await worker.cli(["tasks", "delete", "tone-zh", "--json"]);
    expect(JSON.parse(deleted.stdout)).toEqual({ deleted: "tone-zh", catalogueVersion: before.catalogueVersion + 1 });
    expect((await worker.call("/v1/tasks/tone-zh")).status).toBe(404);
    const gone = await worker.cli(["tasks", "show", "tone-zh"]);
    expect(gone).toMatchObject({
      code: 1,
      stderr: "d2c-edge: GET /v1/tasks/tone-zh: 404 unknown_task: no task tone-zh\n",
    });
  });
});

describe("d2c-edge push --dry-run and --json", () => {
  /** A flat folder: tone-zh as the fixtures have it (deleted above), gec-de with a changed test split. */
  async function flatFolder(): Promise<string> {
    const flat = join(dir, "flat");
    for (const task of ["tone-zh", "gec-de"]) {
      await mkdir(join(flat, task), { recursive: true });
      for (const file of ["adapter_config.json", "adapter_model.safetensors"])
        await copyFile(join(FIXTURES, "adapters", task, file), join(flat, task, file));
      for (const split of ["fewshot", "test"])
        await copyFile(join(FIXTURES, "examples", task, `${split}.jsonl`), join(flat, task, `${split}.jsonl`));
    }
    const test = await readFile(join(flat, "gec-de", "test.jsonl"), "utf8");
    await writeFile(join(flat, "gec-de", "test.jsonl"), test.split("\n").slice(1).join("\n"));
    return flat;
  }

  it("dry run: says which tasks are new, changed (which files) or unchanged, by sha256; sends nothing", async () => {
    const flat = await flatFolder();
    const before = await catalogue();
    const dry = await worker.cli(["push", flat, "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toBe(
      `dry run: flat layout from ${flat}, compared with ${worker.url}; nothing was sent\n` +
        "new: 1 tasks: tone-zh\nchanged: 1 tasks:\n  gec-de: test\n" +
        "unchanged: 0 tasks (every file's sha256 as the catalogue has it)\n",
    );
    const json = JSON.parse((await worker.cli(["push", flat, "--dry-run", "--json"])).stdout);
    expect(json.tasks).toEqual([
      { id: "gec-de", change: "changed", fields: ["test"] },
      { id: "tone-zh", change: "new" },
    ]);
    expect(await catalogue()).toEqual(before);
  });

  it("--json prints the server's answers to each upload and nothing else on stdout", async () => {
    const flat = await flatFolder();
    const pushed = await worker.cli(["push", flat, "--json"]);
    expect(pushed.code).toBe(0);
    const answer = JSON.parse(pushed.stdout) as {
      tasks: { id: string; answers: Record<string, { taskId: string }> }[];
    };
    const tone = answer.tasks.find((t) => t.id === "tone-zh")!;
    expect(Object.keys(tone.answers)).toEqual(["adapter", "fewshot", "test"]);
    expect(tone.answers.adapter.taskId).toBe("tone-zh");
    expect((await worker.call("/v1/tasks/tone-zh")).status).toBe(200);
    // Pushed again as it is now, nothing differs.
    const dry = await worker.cli(["push", flat, "--dry-run"]);
    expect(dry.stdout).toContain("unchanged: 2 tasks");
  });
});

describe("d2c-edge evaluate", () => {
  it("prints a task's loss under its own adapter; --json is POST /v1/evaluate's answer", async () => {
    const own = await worker.cli(["evaluate", "gec-de"]);
    expect(own.code).toBe(0);
    expect(own.stdout).toMatch(
      new RegExp(
        String.raw`^gec-de under adapter gec-de, fewshot split: loss \d+\.\d{4} over \d+ examples ` +
          String.raw`\(\d+ tokens, \d+ forward pass(es)?, \d+ ms\)\n$`,
      ),
    );
    const json = JSON.parse((await worker.cli(["evaluate", "gec-de", "--json"])).stdout);
    const direct = await (
      await worker.call("/v1/evaluate", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ task: "gec-de", adapter: "gec-de" }),
      })
    ).json();
    expect(json.loss).toBeCloseTo((direct as { loss: number }).loss, 6);
    expect(own.stdout).toContain(`loss ${json.loss.toFixed(4)} over ${json.examples} examples`);
  });

  it("on the test split under the base model reports exact match; an unknown adapter is the server's 404", async () => {
    const base = await worker.cli(["evaluate", "gec-de", "--adapter", "none", "--split", "test"]);
    expect(base.stdout).toMatch(/^gec-de under the base model, test split: exact match \d+\.\d%, loss /);
    const unknown = await worker.cli(["evaluate", "gec-de", "--adapter", "no-such-task"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^d2c-edge: POST \/v1\/evaluate: 404 unknown_adapter: no adapter no-such-task: /);
  });
});

describe("d2c-edge keys alone", () => {
  it("lists the keys, as keys list does, with exit code 0; --json is GET /v1/keys", async () => {
    const alone = await worker.cli(["keys"]);
    expect(alone.code).toBe(0);
    expect(alone.stdout).toMatch(/^[0-9a-f]+ {2}current /);
    expect(alone.stdout).toBe((await worker.cli(["keys", "list"])).stdout);
    expect(JSON.parse((await worker.cli(["keys", "--json"])).stdout)).toEqual(
      await (await fetch(`${worker.url}/v1/keys`)).json(),
    );
  });
});
