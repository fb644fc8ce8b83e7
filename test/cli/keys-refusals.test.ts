/**
 * Issue 20 (hostile review), finding 9: `keys add-next` wrote the private key before the server
 * refused, and an existing --out printed a raw EEXIST stack. Against the real Worker: a refusal
 * leaves no file, an existing --out is one line on stderr, and the server's key list is unchanged.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SigningKey } from "../../src/delivery/keys.ts";
import { startTestWorker, type CliResult, type TestWorker } from "./worker";

let worker: TestWorker;
let root: string;

beforeAll(async () => {
  worker = await startTestWorker();
  root = await mkdtemp(join(tmpdir(), "d2c-cli-keys-refusals-"));
});

afterAll(async () => {
  await worker?.dispose();
  await rm(root, { recursive: true, force: true });
});

const keyList = async () => ((await (await worker.call("/v1/keys")).json()) as { keys: SigningKey[] }).keys;

/** One line on stderr, exit code 1, no stack. */
function refusedInOneLine(result: CliResult): void {
  expect(result.code, result.stderr).toBe(1);
  expect(result.stderr).toMatch(/^d2c-edge: [^\n]+\n$/);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stdout).toBe("");
}

describe("d2c-edge keys add-next refusals", () => {
  it(
    "refuses an existing --out in one line before generating or registering anything, leaving the file as " + "it was",
    async () => {
      const dir = await mkdtemp(join(root, "existing-"));
      const out = join(dir, "earlier.jwk");
      await writeFile(out, "the key of an earlier rotation");
      const before = await keyList();
      expect(before.map((k) => k.status)).toEqual(["current"]);
      const result = await worker.cli(["keys", "add-next", "--out", out]);
      refusedInOneLine(result);
      expect(result.stderr).toContain(`--out ${out} already exists`);
      expect(await readFile(out, "utf8")).toBe("the key of an earlier rotation");
      expect(await readdir(dir)).toEqual(["earlier.jwk"]);
      // still no next key: the server, which would have accepted one, heard nothing
      expect(await keyList()).toEqual(before);
    },
  );

  it("writes no file when the server refuses (a wrong token, then a second next key)", async () => {
    const dir = await mkdtemp(join(root, "refused-"));
    const before = await keyList();
    const unauthorised = await worker.cli(["keys", "add-next", "--out", join(dir, "a.jwk")], {
      env: { D2C_TOKEN: "wrong" },
    });
    refusedInOneLine(unauthorised);
    expect(unauthorised.stderr).toContain("401");
    expect(await readdir(dir)).toEqual([]);
    expect(await keyList()).toEqual(before);

    const added = await worker.cli(["keys", "add-next", "--out", join(dir, "next.jwk")]);
    expect(added.code, added.stderr).toBe(0);
    expect(await readdir(dir)).toEqual(["next.jwk"]);
    const registered = await keyList();
    expect(registered.map((k) => k.status)).toEqual(["current", "next"]);

    const second = await worker.cli(["keys", "add-next", "--out", join(dir, "second.jwk")]);
    refusedInOneLine(second);
    expect(second.stderr).toContain("409 key_rotation_order");
    expect(await readdir(dir)).toEqual(["next.jwk"]); // neither second.jwk nor second.jwk.pending
    expect(await keyList()).toEqual(registered);
  });
});
