/**
 * `npm run check:lines`: the house rule is no line over 120 characters outside generated code, and
 * Biome's formatter (lineWidth 120) does not enforce it: it leaves comments, string and template
 * literals and regexes as long as they are written. This lists the git-tracked code files, prints
 * each longer line as `file:line: length` and fails if there is any. Generated code (buf's
 * src/models/gen, wrangler's worker-configuration.d.ts) and the r2-fixtures world are not checked.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { runScript, type Script } from "./commandLine.ts";

const SCRIPT: Script = {
  name: "npm run check:lines",
  usage: `

Lists every git-tracked code line over 120 characters (generated code and r2-fixtures aside) as
file:line: length, and fails if there is one.`,
  options: {},
};

const MAX = 120;
const CODE = /\.(ts|js|mjs|py|sh|toml|jsonc|html)$|^\.ci\/run$/;
const EXCLUDED = /^src\/models\/gen\/|worker-configuration\.d\.ts|^r2-fixtures\//;

function main(): number {
  const files = execFileSync("git", ["ls-files"], { encoding: "utf8" })
    .split("\n")
    .filter((file) => CODE.test(file) && !EXCLUDED.test(file));
  let over = 0;
  for (const file of files) {
    readFileSync(file, "utf8")
      .split("\n")
      .forEach((text, i) => {
        if (text.length <= MAX) return;
        console.log(`${file}:${i + 1}: ${text.length}`);
        over++;
      });
  }
  if (over > 0) {
    console.error(`check:lines: ${over} line(s) over ${MAX} characters (wrap them)`);
    return 1;
  }
  return 0;
}

await runScript(SCRIPT, main);
