/** `d2c-edge keys`: the rotation steps against the real Worker (wrangler's unstable_startWorker). */
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestWorker, type TestWorker } from "./worker";

let worker: TestWorker;
let dir: string;

beforeAll(async () => {
  worker = await startTestWorker();
  dir = await mkdtemp(join(tmpdir(), "d2c-cli-keys-"));
});

afterAll(async () => {
  await worker?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe("d2c-edge keys", () => {
  it(
    "lists the current key, adds a next one whose private half stays in a 600 file, and refuses " +
      "to switch before its secret is set",
    async () => {
      const listed = await worker.cli(["keys", "list"]);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toMatch(/^[0-9a-f]{16} {2}current {3}\S+\n$/);
      const current = listed.stdout.slice(0, 16);

      const out = join(dir, "next.jwk");
      const added = await worker.cli(["keys", "add-next", "--out", out]);
      expect(added.code, added.stderr).toBe(0);
      const jwk = JSON.parse(await readFile(out, "utf8")) as { d?: string; x?: string; crv?: string };
      expect(jwk).toMatchObject({ crv: "Ed25519" });
      expect(jwk.d).toBeTruthy();
      expect((await stat(out)).mode & 0o777).toBe(0o600);
      expect(added.stdout).toContain(
        `next      ${Buffer.from(jwk.x!, "base64url").toString("base64")}  certified by ${current}`,
      );
      expect(added.stdout).not.toContain(jwk.d!); // the private key is in the file, never on the terminal
      expect(added.stdout).toContain(`npx wrangler secret put MANIFEST_SIGNING_KEY_NEXT < ${out}`);
      // A second add-next never overwrites the file (the key of a rotation under way).
      expect((await worker.cli(["keys", "add-next", "--out", out])).code).toBe(1);

      const switched = await worker.cli(["keys", "switch"]);
      expect(switched.code).toBe(1);
      expect(switched.stderr).toContain("MANIFEST_SIGNING_KEY_NEXT");
      const retire = await worker.cli(["keys", "retire"]);
      expect(retire.code).toBe(2);
      expect(retire.stderr).toContain("--key-id");
    },
  );
});
