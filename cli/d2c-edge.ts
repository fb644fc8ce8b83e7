#!/usr/bin/env node
/**
 * `npx d2c-edge <command>`: the operator's CLI for a local or deployed d2c-edge Worker, over its
 * HTTP API, in TypeScript with no build step. `model push` runs src/ code (the graph surgery)
 * that needs more than Node's type stripping (enums, parameter properties) and whose imports have
 * no extension (the Workers bundler resolves them), so the CLI runs under the same flags as the
 * package's other Node scripts: when started without them, it starts itself once more with them.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const FLAGS = [
  "--experimental-transform-types",
  "--disable-warning=ExperimentalWarning",
  "--import",
  fileURLToPath(new URL("../bench/extensionless.ts", import.meta.url)),
];

if (process.execArgv.includes("--experimental-transform-types")) {
  await import("./main.ts");
} else {
  const child = spawnSync(process.execPath, [...FLAGS, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
  });
  process.exitCode = child.status ?? 1;
}
