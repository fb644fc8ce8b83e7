/** `d2c-edge push` against the real Worker: the fixtures into an empty catalogue, then flat folders. */
import { createHash } from "node:crypto";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURES, startTestWorker, TOKEN, type TestWorker } from "./worker";
import { runNode } from "./scriptRunner";

const SEED = fileURLToPath(new URL("../../scripts/seed.ts", import.meta.url));
const seedScript = (args: string[], cwd: string, env: Record<string, string | undefined>) =>
  runNode([SEED, ...args], cwd, env);

interface Task {
  id: string;
  application?: string;
  language?: string;
  adapterSha256: string;
  examples: { fewshot: number; test: number };
  examplesSha256: { fewshot: string; test: string };
}

let worker: TestWorker;
let flat: string;
const sha256 = async (path: string) =>
  createHash("sha256")
    .update(await readFile(path))
    .digest("hex");
const lines = async (path: string) => (await readFile(path, "utf8")).split("\n").filter((l) => l.trim()).length;
const tasks = async () => ((await (await worker.call("/v1/tasks")).json()) as { tasks: Task[] }).tasks;

beforeAll(async () => {
  worker = await startTestWorker();
  flat = await mkdtemp(join(tmpdir(), "d2c-cli-flat-"));
});

afterAll(async () => {
  await worker?.dispose();
  await rm(flat, { recursive: true, force: true });
});

/** <flat>/<name>/ holding fixture task `from`'s adapter files, and its examples when `examples`. */
async function taskFolder(name: string, from: string, examples: boolean): Promise<string> {
  const dir = join(flat, name);
  await mkdir(dir, { recursive: true });
  await cp(join(FIXTURES, "adapters", from), dir, { recursive: true });
  if (examples)
    for (const split of ["fewshot", "test"])
      await cp(join(FIXTURES, "examples", from, `${split}.jsonl`), join(dir, `${split}.jsonl`));
  return dir;
}

describe("d2c-edge push", () => {
  it("(before it) profile cannot default --model while the catalogue has no task", async () => {
    const result = await worker.cli(["profile", "phones", "--max-adapters", "2"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "d2c-edge: profile: --model is required: the catalogue's tasks are for no model yet (see d2c-edge " +
        "profile --help)\n",
    );
  });

  it(
    "pushes r2-fixtures into an empty catalogue: the model, exactly the 40 tasks, " + "their examples and metadata",
    async () => {
      expect(await tasks()).toEqual([]);
      const result = await worker.cli(["push", FIXTURES]);
      expect(result.stderr).toContain("model d2c-char-lm: registered");
      expect(result.stdout).toContain("uploaded 40 of 40 tasks");
      expect(result.stdout).not.toContain("refused");
      expect(result.code).toBe(0);

      const catalogue = (JSON.parse(await readFile(join(FIXTURES, "catalogue.json"), "utf8")) as { tasks: Task[] })
        .tasks;
      const stored = await tasks();
      expect(stored.map((t) => t.id)).toEqual(catalogue.map((t) => t.id).sort());
      for (const task of stored) {
        const entry = catalogue.find((t) => t.id === task.id)!;
        expect([task.application, task.language]).toEqual([entry.application, entry.language]);
        expect(task.adapterSha256).toBe(await sha256(join(FIXTURES, "adapters", task.id, "adapter_model.safetensors")));
        for (const split of ["fewshot", "test"] as const) {
          const file = join(FIXTURES, "examples", task.id, `${split}.jsonl`);
          expect(task.examples[split]).toBe(await lines(file));
          expect(task.examplesSha256[split]).toBe(await sha256(file));
        }
      }
    },
  );

  it("pushes r2-fixtures again: every task unchanged, the catalogue version where the first push left it", async () => {
    const version = async () =>
      ((await (await worker.call("/v1/tasks")).json()) as { catalogueVersion: number }).catalogueVersion;
    const before = await version();
    const result = await worker.cli(["push", FIXTURES]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("model d2c-char-lm: already registered");
    expect(result.stderr).toMatch(/\] gec-de: unchanged\n/);
    expect(result.stdout).toContain("uploaded 0 of 40 tasks\n");
    expect(result.stdout).toContain("unchanged 40 of 40 tasks");
    expect(await version()).toBe(before);
  });

  it("seeds as the CLI connects: D2C_URL, the token from ./.dev.vars, one line without one", async () => {
    const cwd = await mkdtemp(join(tmpdir(), "d2c-seed-cwd-"));
    try {
      const env = { D2C_URL: worker.url, D2C_TOKEN: undefined };
      const missing = await seedScript(["--dir", FIXTURES], cwd, env);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^npm run seed: GET \/v1\/tasks: 401 \w+: .*no token: pass --token.*\n$/);
      await writeFile(join(cwd, ".dev.vars"), `ADMIN_TOKEN=${TOKEN}\n`);
      const seeded = await seedScript(["--dir", FIXTURES], cwd, env);
      expect(seeded.stderr).toBe("");
      expect(seeded.stdout).toBe(`seeded ${worker.url}: 0 tasks uploaded, 40 already there\n`);
      expect(seeded.code).toBe(0);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });

  it(
    "pushes a flat folder with one broken adapter: that one refused with the server's reason, the " +
      "rest uploaded, exit 1",
    async () => {
      await taskFolder("flat-gec-fr", "gec-fr", true);
      await writeFile(join(flat, "flat-gec-fr", "task.json"), JSON.stringify({ application: "gec", language: "fr" }));
      await taskFolder("flat-qa-de", "qa-de", true);
      await taskFolder("flat-reply-en", "reply-en", false);
      const broken = await taskFolder("flat-broken", "gec-de", true);
      const weights = await readFile(join(broken, "adapter_model.safetensors"));
      // truncated
      await writeFile(join(broken, "adapter_model.safetensors"), weights.subarray(0, weights.byteLength - 100));

      const result = await worker.cli(["push", flat, "--concurrency", "2"]);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain("uploaded 3 of 4 tasks: flat-gec-fr flat-qa-de flat-reply-en");
      expect(result.stdout).toContain("without few-shot examples (runs leave them out): flat-reply-en");
      expect(result.stdout).toContain("refused 1 task:");

      // The reason shown is the server's own: the same upload, sent directly, says the same.
      const form = new FormData();
      form.set(
        "adapter_config.json",
        new Blob([await readFile(join(broken, "adapter_config.json"))]),
        "adapter_config.json",
      );
      form.set(
        "adapter_model.safetensors",
        new Blob([await readFile(join(broken, "adapter_model.safetensors"))]),
        "adapter_model.safetensors",
      );
      const direct = await worker.call("/v1/tasks/flat-broken/adapter", { method: "PUT", body: form });
      const { error } = (await direct.json()) as { error: { code: string; message: string } };
      expect(error.message).toContain("past the data section");
      expect(result.stdout).toContain(`  flat-broken: adapter: ${error.message} (${direct.status} ${error.code})`);

      const stored = new Map((await tasks()).map((t) => [t.id, t]));
      expect(stored.size).toBe(43);
      expect(stored.has("flat-broken")).toBe(false);
      expect(stored.get("flat-gec-fr")).toMatchObject({
        application: "gec",
        language: "fr",
        examples: { fewshot: 10 },
      });
      expect(stored.get("flat-qa-de")?.examples.fewshot).toBeGreaterThan(0);
      expect(stored.get("flat-reply-en")?.examples).toEqual({ fewshot: 0, test: 0 });
    },
  );

  it("refuses without a request a folder whose name is not a task id, or that lacks a PEFT file", async () => {
    const local = await mkdtemp(join(tmpdir(), "d2c-cli-local-"));
    try {
      await cp(join(FIXTURES, "adapters", "gec-it"), join(local, "Gec_IT"), { recursive: true });
      await mkdir(join(local, "half"));
      await cp(join(FIXTURES, "adapters", "gec-it", "adapter_config.json"), join(local, "half", "adapter_config.json"));
      const result = await worker.cli(["push", local]);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain("uploaded 0 of 2 tasks");
      expect(result.stdout).toMatch(/ {2}Gec_IT: folder name is not a valid task id \(.*\) \(not sent\)/);
      expect(result.stdout).toContain("  half: missing adapter_model.safetensors (not sent)");
      expect((await tasks()).some((t) => t.id === "half" || t.id === "Gec_IT")).toBe(false);
    } finally {
      await rm(local, { recursive: true, force: true });
    }
  });

  it(
    "fails in one line, without printing the token, " + "when the token is wrong or the Worker is unreachable",
    async () => {
      const wrong = await worker.cli(["push", FIXTURES], { env: { D2C_TOKEN: "not-the-token" } });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/^d2c-edge: GET \/v1\/models\/d2c-char-lm: 401 \w+: .+\n$/);
      expect(wrong.stdout + wrong.stderr).not.toContain("not-the-token");

      const unreachable = await worker.cli(["push", FIXTURES, "--url", "http://127.0.0.1:9"]);
      expect(unreachable.code).toBe(1);
      expect(unreachable.stderr).toMatch(/^d2c-edge: cannot reach http:\/\/127\.0\.0\.1:9: .+\n$/);
    },
  );
});
