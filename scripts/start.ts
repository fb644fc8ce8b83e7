/**
 * `npm start`: wrangler dev on 127.0.0.1 (port 8787, or --port / $PORT) with persisted local R2/DO
 * state, an admin token generated into .dev.vars on first start (never committed), and the
 * fixtures seeded. Everything it prints (console, API reference, curl lines) names that port.
 */
import { spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { text } from "../cli/command.ts";
import { CliError, portOf, runScript, type Script } from "./commandLine.ts";
import { seed } from "./seed.ts";

const DEFAULT_PORT = 8787;

export const START: Script = {
  name: "npm start",
  usage: `[-- --port N]

Runs the Worker locally (wrangler dev, state under .wrangler/state), generates ADMIN_TOKEN,
MANIFEST_SIGNING_KEY and EVALUATOR_SECRET into .dev.vars on the first start, and seeds the 40
fixture tasks (npm run seed). Stop it with Ctrl-C.

Options:
  --port N         where it listens on 127.0.0.1 (default $PORT, else ${DEFAULT_PORT}); a second Worker
                   beside one on ${DEFAULT_PORT} takes another. Then export D2C_URL=http://127.0.0.1:N
                   so npx d2c-edge, npm run seed and npm run device talk to it.`,
  options: { port: { type: "string" } },
};

/** A local secret from .dev.vars, generated there on first start (never committed). */
function localSecret(name: string, generate: () => string): string {
  const vars = existsSync(".dev.vars") ? readFileSync(".dev.vars", "utf8") : "";
  const found = new RegExp(`^${name}=(.+)$`, "m").exec(vars)?.[1]?.trim();
  if (found) return found;
  const value = generate();
  writeFileSync(".dev.vars", `${vars}${vars && !vars.endsWith("\n") ? "\n" : ""}${name}=${value}\n`, { mode: 0o600 });
  console.log(`generated ${name} into .dev.vars`);
  return value;
}

/** Resolves once the Worker answers, false if wrangler exited first; a CliError past `timeoutMs`. */
async function ready(url: string, timeoutMs: number, exited: { value: boolean }): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited.value) return false;
    try {
      if ((await fetch(`${url}/v1/tasks`)).status === 401) return true; // up, and guarding the catalogue
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new CliError(`the Worker did not answer on ${url} within ${timeoutMs / 1000} s`);
}

/** What to type next, every line on the Worker's own port. */
export function nextSteps(url: string, uploaded: number, skipped: number): string[] {
  return [
    `\nd2c-edge is up on ${url}: ${uploaded} tasks seeded, ${skipped} already there.`,
    `  console: ${url}/ (paste ADMIN_TOKEN from .dev.vars); API reference: ${url}/api.html`,
    `  export D2C_URL=${url}   # npx d2c-edge, npm run seed and npm run device then talk to this Worker`,
    "  TOKEN=$(grep ADMIN_TOKEN .dev.vars | cut -d= -f2)",
    `  curl -H "Authorization: Bearer $TOKEN" ${url}/v1/tasks`,
    `  curl -H "Authorization: Bearer $TOKEN" -X POST ${url}/v1/evaluate -d ` +
      `'{"task":"gec-de","adapter":"gec-de","split":"test"}'\n`,
  ];
}

async function start(port: number): Promise<number> {
  const url = `http://127.0.0.1:${port}`;
  const token = localSecret("ADMIN_TOKEN", () => randomBytes(24).toString("base64url"));
  // The manifest signing key, an Ed25519 JWK (single-quoted: .dev.vars is dotenv syntax).
  localSecret(
    "MANIFEST_SIGNING_KEY",
    () => `'${JSON.stringify(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }))}'`,
  );
  // Shared by the Worker and `npm run evaluator` (each reads it from .dev.vars), both ways.
  localSecret("EVALUATOR_SECRET", () => randomBytes(32).toString("base64url"));
  const wrangler = spawn(
    "wrangler",
    ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", ".wrangler/state"],
    { stdio: "inherit" },
  );
  const exited = { value: false };
  const stopped = new Promise<number>((resolve) =>
    wrangler.on("exit", (code) => {
      exited.value = true;
      resolve(code ?? 0);
    }),
  );
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => wrangler.kill(signal));
  try {
    if (!(await ready(url, 120_000, exited)))
      throw new CliError(`wrangler dev exited before the Worker answered on ${url} (is port ${port} taken?)`);
    const { uploaded, skipped } = await seed(url, token, "r2-fixtures");
    for (const line of nextSteps(url, uploaded, skipped)) console.log(line);
  } catch (e) {
    wrangler.kill();
    throw e;
  }
  // wrangler runs in the foreground until it is stopped (Ctrl-C): its exit code is this one's.
  return stopped;
}

if (import.meta.main) {
  await runScript(START, ({ values }) => start(portOf(text(values, "port"), process.env.PORT, DEFAULT_PORT)));
}
