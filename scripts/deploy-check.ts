/**
 * `npm run deploy:check`: bundle the Worker as `wrangler deploy` would (dry run, nothing is
 * uploaded) and check the compressed size against the paid plan's 10 MB limit.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { runScript, type Script } from "./commandLine.ts";

const SCRIPT: Script = {
  name: "npm run deploy:check",
  usage: `

Bundles the Worker as wrangler deploy would (a dry run into dist/, nothing uploaded) and fails when
the gzipped bundle reaches the paid plan's 10 MiB limit.`,
  options: {},
};

const out = "dist";

function main(): number {
  rmSync(out, { recursive: true, force: true });
  execFileSync("wrangler", ["deploy", "--dry-run", "--outdir", out], { stdio: "inherit" });
  let raw = 0;
  let gzip = 0;
  for (const name of readdirSync(out)) {
    const path = join(out, name);
    if (!statSync(path).isFile() || name.endsWith(".map")) continue;
    const bytes = readFileSync(path);
    raw += bytes.byteLength;
    gzip += gzipSync(bytes, { level: 9 }).byteLength;
  }
  const limit = 10 * 1024 * 1024;
  console.log(
    `bundle: ${(raw / 1048576).toFixed(2)} MiB raw, ${(gzip / 1048576).toFixed(2)} MiB gzip (paid plan limit 10 ` +
      `MiB compressed)`,
  );
  return gzip >= limit ? 1 : 0;
}

await runScript(SCRIPT, main);
