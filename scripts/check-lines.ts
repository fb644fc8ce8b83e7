/**
 * `npm run check:lines`: the house rule is no line over 120 characters outside generated code, and
 * Biome's formatter (lineWidth 120) does not enforce it: it leaves comments, string and template
 * literals and regexes as long as they are written. This lists the git-tracked code files, prints
 * each longer line as `file:line: length` and fails if there is any. Generated code (buf's
 * src/models/gen, wrangler's worker-configuration.d.ts) and the r2-fixtures world are not checked;
 * ALLOWED names the few lines that cannot be split, each with why.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const MAX = 120;
const CODE = /\.(ts|js|mjs|py|sh|toml|jsonc|html)$|^\.ci\/run$/;
const EXCLUDED = /^src\/models\/gen\/|worker-configuration\.d\.ts|^r2-fixtures\//;

// A line is allowed when its file matches and it starts (after indentation) with `line`.
const ALLOWED: readonly { file: string; line: string; why: string }[] = [
  {
    file: "test/cli/model.test.ts",
    line: "/^model char-lm-pushed: 16 LoRA targets,",
    why: "a regex literal matched against the CLI's whole output line",
  },
  {
    file: "test/cli/model.test.ts",
    line: "/^model qwen-external: 8 LoRA targets,",
    why: "a regex literal matched against the CLI's whole output line",
  },
  {
    file: "test/cli/runs.test.ts",
    line: "/^tablets version 2: model d2c-char-lm,",
    why: "a regex literal matched against the CLI's whole output line",
  },
  {
    file: "test/evaluator/remote.test.ts",
    line: "/^d2c-edge evaluator on http:",
    why: "a regex literal matched against the evaluator's whole start-up line",
  },
];

const files = execFileSync("git", ["ls-files"], { encoding: "utf8" })
  .split("\n")
  .filter((file) => CODE.test(file) && !EXCLUDED.test(file));
let over = 0;
for (const file of files) {
  readFileSync(file, "utf8")
    .split("\n")
    .forEach((text, i) => {
      if (text.length <= MAX) return;
      if (ALLOWED.some((a) => a.file === file && text.trimStart().startsWith(a.line))) return;
      console.log(`${file}:${i + 1}: ${text.length}`);
      over++;
    });
}
if (over > 0) {
  console.error(`check:lines: ${over} line(s) over ${MAX} characters (wrap them, or add a reason to ALLOWED)`);
  process.exit(1);
}
