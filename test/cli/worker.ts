/**
 * The real Worker for CLI tests: wrangler's unstable_startWorker on the repo's wrangler.toml,
 * state in a fresh temporary directory (the catalogue starts empty), a free port; and the CLI
 * run against it as a child process, the way `npx d2c-edge` runs it.
 */
import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { unstable_startWorker } from "wrangler";

export const FIXTURES = fileURLToPath(new URL("../../r2-fixtures", import.meta.url));
const CLI = fileURLToPath(new URL("../../cli/d2c-edge.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../../wrangler.toml", import.meta.url));
export const TOKEN = "cli-test-admin-token";

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** Working directory (where the CLI looks for .dev.vars); default a directory without one. */
  readonly cwd?: string;
  /** Environment on top of D2C_URL and D2C_TOKEN; a value of undefined removes the variable. */
  readonly env?: Record<string, string | undefined>;
}

export interface TestWorker {
  readonly url: string;
  /** A request to the Worker with the admin token. */
  call(path: string, init?: RequestInit): Promise<Response>;
  cli(args: readonly string[], options?: CliOptions): Promise<CliResult>;
  dispose(): Promise<void>;
}

export async function startTestWorker(): Promise<TestWorker> {
  process.env.WRANGLER_LOG ??= "error"; // no per-batch QUEUE lines in the test output
  const state = await mkdtemp(join(tmpdir(), "d2c-cli-state-"));
  const home = await mkdtemp(join(tmpdir(), "d2c-cli-cwd-"));
  // A signing key made for this test run only: no key, test or real, lives in the repo.
  const signingKey = JSON.stringify(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }));
  const worker = await unstable_startWorker({
    config: CONFIG,
    bindings: {
      ADMIN_TOKEN: { type: "secret_text", value: TOKEN },
      MANIFEST_SIGNING_KEY: { type: "secret_text", value: signingKey },
    },
    dev: { persist: state, server: { hostname: "127.0.0.1", port: 0 }, inspector: false, watch: false, logLevel: "error" },
  } as never);
  await worker.ready;
  const url = (await worker.url).origin;
  return {
    url,
    call: (path, init = {}) => fetch(url + path, { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...init.headers } }),
    cli: (args, options = {}) => runCli(args, options.cwd ?? home, { D2C_URL: url, D2C_TOKEN: TOKEN, ...options.env }),
    async dispose() {
      await worker.dispose();
      await Promise.all([state, home].map((dir) => rm(dir, { recursive: true, force: true })));
    },
  };
}

function runCli(args: readonly string[], cwd: string, extra: Record<string, string | undefined>): Promise<CliResult> {
  const env = { ...process.env, ...extra };
  for (const [name, value] of Object.entries(extra)) if (value === undefined) delete env[name];
  // process.execPath is the pinned Node 24 (vitest runs on it), as `npx d2c-edge` would use.
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
