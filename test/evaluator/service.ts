/**
 * The evaluator service (`npm run evaluator`, evaluator/main.ts) as a child process on loopback,
 * the way an operator runs it: the pinned Node, the same flags as the npm script.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A port nothing listens on right now (the Worker must know the evaluator's URL before either starts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface EvaluatorProcess {
  readonly url: string;
  /** The startup line and everything after it (stdout and stderr). */
  output(): string;
  /** SIGKILL, as a crash: units in flight get no answer. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface EvaluatorOptions {
  readonly port: number;
  readonly workerUrl: string;
  readonly secret: string;
  readonly cacheDir: string;
}

export async function startEvaluator(options: EvaluatorOptions, timeoutMs = 30_000): Promise<EvaluatorProcess> {
  const child = spawn(
    process.execPath,
    [
      "--experimental-transform-types",
      "--disable-warning=ExperimentalWarning",
      "--import",
      "./bench/extensionless.ts",
      "evaluator/main.ts",
      "--port",
      String(options.port),
      "--worker",
      options.workerUrl,
      "--cache-dir",
      options.cacheDir,
    ],
    { cwd: ROOT, env: { ...process.env, EVALUATOR_SECRET: options.secret }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => (output += s));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (output += s));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + timeoutMs;
  while (!output.includes("d2c-edge evaluator on ")) {
    if (child.exitCode !== null) throw new Error(`the evaluator exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the evaluator did not start within ${timeoutMs / 1000} s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const end = async (signal: NodeJS.Signals, target: ChildProcess) => {
    if (target.exitCode === null && target.signalCode === null) target.kill(signal);
    await exited;
  };
  return {
    url: `http://127.0.0.1:${options.port}`,
    output: () => output,
    kill: () => end("SIGKILL", child),
    stop: () => end("SIGTERM", child),
  };
}
