/**
 * A real local Worker for Node-side tests (browser, CLI): `wrangler dev` on a free port with
 * empty, throwaway state and secrets made for this run only.
 */
import { spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface LocalWorker {
  readonly url: string;
  readonly token: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startWorker(): Promise<LocalWorker> {
  const dir = await mkdtemp(join(tmpdir(), "d2c-edge-"));
  const token = randomBytes(18).toString("base64url");
  const key = JSON.stringify(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }));
  await writeFile(join(dir, ".env"), `ADMIN_TOKEN=${token}\nMANIFEST_SIGNING_KEY='${key}'\n`);
  const port = await freePort();
  const wrangler = spawn("npx", ["wrangler", "dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", join(dir, "state"),
    "--env-file", join(dir, ".env"), "--log-level", "error", "--show-interactive-dev-session=false"], { stdio: ["ignore", "ignore", "inherit"], detached: true });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    try {
      process.kill(-wrangler.pid!, "SIGTERM");
    } catch {
      // already gone
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    const status = await fetch(`${url}/v1/tasks`).then((r) => r.status, () => 0);
    if (status === 401) return { url, token, stop };
    if (Date.now() > deadline || wrangler.exitCode !== null) {
      await stop();
      throw new Error(`wrangler dev did not come up on ${url}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
