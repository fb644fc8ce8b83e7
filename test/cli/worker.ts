/**
 * The CLI run against a real local Worker (test/node/worker.ts) as a child process, the way
 * `npx d2c-edge` runs it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startWorker, TOKEN, type LocalWorker } from "../node/worker.ts";
import { runNode, type ScriptResult } from "./scriptRunner.ts";

export { FIXTURES, TOKEN } from "../node/worker.ts";
const CLI = fileURLToPath(new URL("../../cli/d2c-edge.ts", import.meta.url));
export type CliResult = ScriptResult;

export interface CliOptions {
  /** Working directory (where the CLI looks for .dev.vars); default a directory without one. */
  readonly cwd?: string;
  /** Environment on top of D2C_URL and D2C_TOKEN; a value of undefined removes the variable. */
  readonly env?: Record<string, string | undefined>;
}

export interface TestWorker extends LocalWorker {
  cli(args: readonly string[], options?: CliOptions): Promise<CliResult>;
}

export async function startTestWorker(): Promise<TestWorker> {
  // Tests read the manifest right after changing it: no per-isolate memo of the read model.
  const worker = await startWorker({ vars: { READ_MODEL_ISOLATE_MS: "0" } });
  const home = await mkdtemp(join(tmpdir(), "d2c-cli-cwd-"));
  return {
    ...worker,
    cli: (args, options = {}) =>
      runCli(args, options.cwd ?? home, { D2C_URL: worker.url, D2C_TOKEN: TOKEN, ...options.env }),
    async dispose() {
      await worker.dispose();
      await rm(home, { recursive: true, force: true });
    },
  };
}

function runCli(args: readonly string[], cwd: string, extra: Record<string, string | undefined>): Promise<CliResult> {
  // process.execPath is the pinned Node 24 (vitest runs on it), as `npx d2c-edge` would use.
  return runNode([CLI, ...args], cwd, extra);
}
