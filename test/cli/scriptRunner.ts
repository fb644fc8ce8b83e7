/** A script of scripts/ run as `npm run <name>` runs it: the pinned Node (vitest's own), its exit and output. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface ScriptResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The flags package.json's scripts give the ones that import src/ code (device, world). */
export const TRANSFORM_FLAGS = [
  "--experimental-transform-types",
  "--disable-warning=ExperimentalWarning",
  "--import",
  fileURLToPath(new URL("../../bench/extensionless.ts", import.meta.url)),
];

/** `node <args>` in `cwd`; `env` over this process's, an undefined value removing the variable. */
export function runNode(
  args: readonly string[],
  cwd: string,
  env: Record<string, string | undefined> = {},
): Promise<ScriptResult> {
  const merged = { ...process.env, ...env };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete merged[name];
  const child = spawn(process.execPath, args, { cwd, env: merged, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
